package org.nextpatch.train;

import ai.djl.pytorch.jni.JniUtils;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.Logger;
import org.apache.logging.log4j.core.appender.WriterAppender;
import org.apache.logging.log4j.core.layout.PatternLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.Fixtures;
import org.nextpatch.data.InMemoryCodeSet;
import org.nextpatch.io.StateDicts;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.model.EngineThreads;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The training loop on the fixture's tiny GPT config (d 64, 2 layers, 4x4 token grid) with
 * synthetic class-dependent codes: resume equivalence, a held-out loss that goes down, the
 * checkpoint layout and the metrics files.
 */
class NppTrainingLoopTest {

    /**
     * Codes where the class decides most tokens: token t of an image of class c is (c * 16 + t) % 256
     * with probability 0.8, otherwise uniform. A model that learns the class/position structure gets
     * far below the uniform loss ln 256 = 5.55.
     */
    static InMemoryCodeSet synthetic(int images, int augs, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        long[][][] codes = new long[images][augs][16];
        int[] labels = new int[images];
        for (int i = 0; i < images; i++) {
            labels[i] = i % 10;
            for (int a = 0; a < augs; a++) {
                for (int t = 0; t < 16; t++) {
                    codes[i][a][t] = r.nextDouble() < 0.8 ? (labels[i] * 16L + t) % 256 : r.nextInt(256);
                }
            }
        }
        return new InMemoryCodeSet(codes, labels);
    }

    static TrainConfig.Builder tiny(Path dir) {
        return TrainConfig.builder().gptConfigFile(Fixtures.file("gpt-config.json")).imageSize(64)
                .epochs(4).patchLevel(2).epochRate(0.5).scheduler(true).warmupEpochs(1).lr(3e-3).endLr(1e-5)
                .globalBatchSize(4).seed(11).resultsDir(dir).ckptEvery(0)
                .tokenDropoutP(0.1).residDropoutP(0.1).ffnDropoutP(0.1).classDropoutProb(0.1);
    }

    /** Spec: "--resume continues exactly": on CPU the resumed run's losses equal the uninterrupted run's. */
    @Test
    void resumedRunMatchesUninterruptedRun(@TempDir Path dir) {
        InMemoryCodeSet data = synthetic(24, 3, 5);
        TrainConfig full = tiny(dir.resolve("full")).ema(true).emaDecay(0.9).build();
        TrainingResult a = NppTrainingLoop.train(full, data, null);
        assertEquals(24, a.stepsDone()); // 24 images / batch 4 = 6 steps per epoch, 4 epochs

        TrainingResult b = NppTrainingLoop.train(full.toBuilder().resultsDir(dir.resolve("split")).maxSteps(10).build(), data, null);
        assertEquals(10, b.stepsDone());
        Path ckpt = b.lastCheckpoint();
        assertEquals("0000010.pt", ckpt.getFileName().toString());
        TrainingResult c = NppTrainingLoop.train(full.toBuilder().resultsDir(dir.resolve("split")).resume(ckpt).build(), data, null);
        assertEquals(24, c.stepsDone());

        List<TrainingListener.StepMetrics> sa = a.steps();
        List<TrainingListener.StepMetrics> sc = c.steps();
        assertEquals(24, sc.size()); // the earlier 10 rows are read back from metrics.csv
        for (int s = 10; s < 24; s++) {
            assertEquals(sa.get(s).loss(), sc.get(s).loss(), 0.0, "loss of step " + s);
            assertEquals(sa.get(s).gradNorm(), sc.get(s).gradNorm(), 0.0, "grad norm of step " + s);
            assertEquals(sa.get(s).lr(), sc.get(s).lr(), 0.0, "lr of step " + s);
            assertEquals(sa.get(s).patchSide(), sc.get(s).patchSide());
        }
        for (String k : a.weights().keySet()) {
            assertArrayEquals(a.weights().get(k).toFloatArray(), c.weights().get(k).toFloatArray(), 0f, k);
            assertArrayEquals(a.emaWeights().get(k).toFloatArray(), c.emaWeights().get(k).toFloatArray(), 0f, "ema " + k);
        }
        // stage 1 (p = 2) for epochs 0-1, p = 1 after: the metrics know it
        assertEquals(2, sa.get(0).patchSide());
        assertEquals(1, sa.get(12).patchSide());
    }

    /** The upstream container layout, readable by the project's own reader (and torch.load). */
    @Test
    void checkpointLayoutAndMetricsFiles(@TempDir Path dir) throws Exception {
        InMemoryCodeSet data = synthetic(12, 1, 3);
        TrainingResult r = NppTrainingLoop.train(tiny(dir).epochs(2).ckptEvery(2).build(), data, null);
        assertTrue(Files.isRegularFile(dir.resolve("checkpoints/0000002.pt")));
        assertTrue(Files.isRegularFile(dir.resolve("checkpoints/0000006.pt")));
        Object root = TorchCheckpoint.load(r.lastCheckpoint());
        Map<?, ?> m = (Map<?, ?>) root;
        assertEquals(List.of("model", "optimizer", "steps", "args"), List.copyOf(m.keySet().stream().map(String::valueOf).toList()));
        assertEquals(6L, m.get("steps"));
        Map<String, Tensor> sd = StateDicts.select(root, false);
        assertEquals(r.weights().keySet(), sd.keySet());
        Map<?, ?> opt = (Map<?, ?>) m.get("optimizer");
        assertEquals(18, ((Map<?, ?>) opt.get("state")).size()); // 2 + 2*7 + 2 parameters
        Map<?, ?> args = (Map<?, ?>) m.get("args");
        assertEquals(2L, args.get("patch_level"));
        assertEquals((long) EngineThreads.current(), args.get(NppTrainingLoop.THREADS_ARG));
        List<String> csv = Files.readAllLines(dir.resolve("metrics.csv"));
        assertEquals(TrainingReport.HEADER, csv.get(0));
        assertEquals(7, csv.size());
        byte[] png = Files.readAllBytes(dir.resolve("loss.png"));
        assertEquals((byte) 0x89, png[0]);
        assertEquals('P', png[1]);
    }

    /** A short run on a small code set lowers the held-out next-token loss. */
    @Test
    void shortRunLowersHeldOutLoss(@TempDir Path dir) {
        InMemoryCodeSet data = synthetic(60, 2, 9);
        TrainConfig cfg = tiny(dir).epochs(8).globalBatchSize(8).heldOutFraction(0.2).lr(3e-3).build();
        TrainingResult r = NppTrainingLoop.train(cfg, data, null);
        List<TrainingListener.EpochMetrics> ep = r.epochs();
        assertEquals(8, ep.size());
        double first = ep.get(0).heldOutLoss();
        double last = r.finalHeldOutLoss();
        System.out.println("held-out loss per epoch: " + ep.stream().map(e -> String.format("%.3f", e.heldOutLoss())).toList());
        assertTrue(last < first - 0.5, "held-out loss " + first + " -> " + last);
    }

    /** Gradient accumulation: two micro-batches of 2 give the step one batch of 4 gives (dropouts off). */
    @Test
    void gradientAccumulationMatchesOneBatch(@TempDir Path dir) {
        InMemoryCodeSet data = synthetic(8, 1, 4);
        TrainConfig one = tiny(dir.resolve("one")).epochs(1).allDropouts(0.0).build();
        TrainingResult a = NppTrainingLoop.train(one, data, null);
        TrainingResult b = NppTrainingLoop.train(one.toBuilder().resultsDir(dir.resolve("two")).gradientAccumulationSteps(2).build(), data, null);
        for (int s = 0; s < 2; s++) {
            // float32 sums in another order: 1e-5 relative
            assertEquals(a.steps().get(s).loss(), b.steps().get(s).loss(), 1e-5 * a.steps().get(s).loss());
            assertEquals(a.steps().get(s).gradNorm(), b.steps().get(s).gradNorm(), 1e-5 * a.steps().get(s).gradNorm());
        }
        for (String k : a.weights().keySet()) {
            float[] wa = a.weights().get(k).toFloatArray();
            float[] wb = b.weights().get(k).toFloatArray();
            for (int i = 0; i < wa.length; i++) {
                assertEquals(wa[i], wb[i], 1e-5 + 1e-4 * Math.abs(wa[i]), k + "[" + i + "]");
            }
        }
    }

    /**
     * The data-parallel path (replicas, split micro-batches, gradients summed onto the first copy,
     * weights copied back), run with two CPU replicas: the same steps as one model (dropouts off).
     */
    @Test
    void twoReplicasMatchOneModel(@TempDir Path dir) {
        InMemoryCodeSet data = synthetic(12, 1, 6);
        TrainConfig one = tiny(dir.resolve("one")).epochs(2).allDropouts(0.0).build();
        TrainingResult a = NppTrainingLoop.train(one, data, null);
        TrainingResult b = NppTrainingLoop.train(one.toBuilder().resultsDir(dir.resolve("two")).device("cpu:2").build(), data, null);
        assertEquals(a.steps().size(), b.steps().size());
        for (int s = 0; s < a.steps().size(); s++) {
            assertEquals(a.steps().get(s).loss(), b.steps().get(s).loss(), 1e-5 * a.steps().get(s).loss(), "loss of step " + s);
        }
        for (String k : a.weights().keySet()) {
            float[] wa = a.weights().get(k).toFloatArray();
            float[] wb = b.weights().get(k).toFloatArray();
            for (int i = 0; i < wa.length; i++) {
                assertEquals(wa[i], wb[i], 5e-5 + 1e-4 * Math.abs(wa[i]), k + "[" + i + "]");
            }
        }
    }

    /** A resume at another libtorch thread count than the checkpoint's runs, with a warning. */
    @Test
    void resumeAtAnotherThreadCountWarns(@TempDir Path dir) {
        InMemoryCodeSet data = synthetic(8, 1, 2);
        TrainingResult r = NppTrainingLoop.train(tiny(dir.resolve("a")).epochs(2).maxSteps(2).build(), data, null);
        int before = EngineThreads.current();
        StringWriter log = new StringWriter();
        WriterAppender capture = WriterAppender.newBuilder().setName("capture").setTarget(log)
                .setLayout(PatternLayout.newBuilder().withPattern("%level %msg%n").build()).build();
        capture.start();
        Logger root = (Logger) LogManager.getRootLogger();
        root.addAppender(capture);
        JniUtils.setNumThreads(before + 1);
        try {
            NppTrainingLoop.train(tiny(dir.resolve("a")).epochs(2).resume(r.lastCheckpoint()).build(), data, null);
        } finally {
            JniUtils.setNumThreads(before);
            root.removeAppender(capture);
        }
        assertTrue(log.toString().contains("WARN " + r.lastCheckpoint() + " was written with " + before
                + " intra-op thread(s), this process uses " + (before + 1)), log.toString());
    }

    /** A resumed run must keep the schedule-defining settings of the checkpoint. */
    @Test
    void resumeWithOtherScheduleIsRefused(@TempDir Path dir) {
        InMemoryCodeSet data = synthetic(8, 1, 2);
        TrainingResult r = NppTrainingLoop.train(tiny(dir).epochs(1).build(), data, null);
        NppException e = assertThrows(NppException.class, () -> NppTrainingLoop.train(
                tiny(dir).epochs(1).patchLevel(3).resume(r.lastCheckpoint()).build(), data, null));
        assertTrue(e.getMessage().contains("patch_level"), e.getMessage());
    }

    @Test
    void clearErrors(@TempDir Path dir) {
        InMemoryCodeSet data = synthetic(6, 1, 1);
        NppException e = assertThrows(NppException.class, () -> NppTrainingLoop.train(tiny(dir).globalBatchSize(8).build(), data, null));
        assertTrue(e.getMessage().contains("--global-batch-size"), e.getMessage());
        InMemoryCodeSet bad = InMemoryCodeSet.of(new long[][]{new long[9]}, new int[]{0});
        e = assertThrows(NppException.class, () -> NppTrainingLoop.train(tiny(dir).globalBatchSize(1).build(), bad, null));
        assertTrue(e.getMessage().contains("block_size"), e.getMessage());
    }
}
