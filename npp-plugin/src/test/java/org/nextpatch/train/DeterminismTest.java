package org.nextpatch.train;

import ai.djl.Device;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.Fixtures;
import org.nextpatch.cli.NppCommand;
import org.nextpatch.io.StateDicts;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.model.VqModel;
import org.nextpatch.tensor.Tensor;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Same seed, same thread count: two {@code train-vq} runs and two {@code train} runs write
 * bit-identical weights (every tensor compared as raw float bits).
 */
class DeterminismTest {

    @Test
    void twoVqTrainingRunsWriteIdenticalWeights(@TempDir Path dir) {
        VqTrainer.Settings s = new VqTrainer.Settings(6, 4, 3e-3, 0.25, 8, 11, 0);
        for (String run : new String[]{"a", "b"}) {
            try (VqModel m = VqModel.initialise(VqTrainerTest.TINY, 2, Device.cpu())) {
                VqTrainer.train(m, VqTrainerTest.tinySource(), s, dir.resolve(run + ".pt"), null);
            }
        }
        assertSameWeights(dir.resolve("a.pt"), dir.resolve("b.pt"));
    }

    @Test
    void twoGptTrainingRunsWriteIdenticalWeights(@TempDir Path dir) {
        for (String run : new String[]{"a", "b"}) {
            assertEquals(0, NppCommand.execute("train", "--code-path", Fixtures.file("codes").toString(), "--image-size", "64",
                    "--gpt-config", Fixtures.file("gpt-config.json").toString(), "--epochs", "2", "--patch-level", "2",
                    "--epoch-rate", "0.5", "--global-batch-size", "2", "--lr", "1e-3", "--seed", "5",
                    "--results-dir", dir.resolve(run).toString(), "--ckpt-every", "0"));
        }
        assertSameWeights(dir.resolve("a/checkpoints/0000006.pt"), dir.resolve("b/checkpoints/0000006.pt"));
    }

    private static void assertSameWeights(Path a, Path b) {
        Map<String, Tensor> x = StateDicts.select(TorchCheckpoint.load(a), false);
        Map<String, Tensor> y = StateDicts.select(TorchCheckpoint.load(b), false);
        assertEquals(x.keySet(), y.keySet());
        for (String k : x.keySet()) {
            float[] p = x.get(k).toFloatArray();
            float[] q = y.get(k).toFloatArray();
            int[] pb = new int[p.length];
            int[] qb = new int[q.length];
            for (int i = 0; i < p.length; i++) {
                pb[i] = Float.floatToRawIntBits(p[i]);
                qb[i] = Float.floatToRawIntBits(q[i]);
            }
            assertArrayEquals(pb, qb, k + " differs between two runs with the same seed");
        }
    }
}
