package org.nextpatch.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.data.CodeExtractor;
import org.nextpatch.data.Resample;
import org.nextpatch.io.Images;
import org.nextpatch.io.Images.Rgb;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.model.Autograd;
import org.nextpatch.model.EngineSelfTest;
import org.nextpatch.model.EngineThreads;
import org.nextpatch.model.VqModel;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;
import org.nextpatch.util.Progress;
import org.nextpatch.util.RandomStreams;

import java.nio.file.Path;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Trains a small VQ tokenizer of the LlamaGen architecture on a dataset that has none ({@code train-vq}):
 * L2 reconstruction + codebook + commitment loss (beta 0.25 upstream), straight-through estimator,
 * Adam (betas 0.9/0.95 as upstream's VQ training; no weight decay), random horizontal flips of the
 * ADM centre crop. Checkpoints use the upstream layout {@code {"model": state_dict}} plus
 * {@code vq_config} (so the tokenizer loads without {@code --vq-config}), {@code steps} and
 * {@code optimizer} (for {@code --resume}), and {@code intra_op_threads} (a resume at another count
 * warns: it cannot replay the uninterrupted run bit for bit). Dropout draws depend only on (seed, step).
 */
public final class VqTrainer {

    /** The small demo tokenizer ({@code train-vq}'s default): 32x32 images -> 8x8 codes, quick on a CPU. */
    public static org.nextpatch.config.VqConfig demoConfig() {
        return new org.nextpatch.config.VqConfig(512, 8, 32, List.of(1, 2, 2), 64, 1, true, 0.0);
    }
    static {
        org.nextpatch.model.EngineThreads.apply(); // before this class can start the DJL engine
    }

    private static final Logger LOG = LogManager.getLogger(VqTrainer.class);

    private VqTrainer() {}

    /**
     * Training settings.
     *
     * @param steps     optimizer steps in total (including those of a resumed checkpoint)
     * @param batchSize images per step
     * @param lr        learning rate (constant)
     * @param beta      commitment weight
     * @param imageSize crop side S (a multiple of the downsampling)
     * @param seed      seeds the batch draw and the flips
     * @param saveEvery steps between checkpoints (0: only at the end)
     */
    public record Settings(int steps, int batchSize, double lr, double beta, int imageSize, long seed, int saveEvery) {
        /** Validates the settings. */
        public Settings {
            if (steps < 1 || batchSize < 1 || !(lr > 0) || !(beta >= 0) || imageSize < 1 || saveEvery < 0) {
                throw new org.nextpatch.util.BadValueException("train-vq: steps, batch size, learning rate and image size must be positive, beta >= 0");
            }
        }
    }

    /** Loss figures of a run: the mean reconstruction loss of the first and of the last logging window. */
    public record Result(int steps, double firstReconstruction, double lastReconstruction, double codebookUsage) {}

    /** Draws a batch: random images, ADM centre crop at S, random horizontal flip, NCHW in [-1, 1]. */
    static float[] batch(CodeExtractor.Source source, int batchSize, int side, SplittableRandom rng) {
        float[] x = new float[batchSize * 3 * side * side];
        for (int b = 0; b < batchSize; b++) {
            int i = rng.nextInt(source.size());
            Rgb img = Resample.admCenterCrop(source.read(i), side);
            if (rng.nextBoolean()) {
                img = Resample.flipHorizontal(img);
            }
            CodeExtractor.toChw(img, x, b * 3 * side * side);
        }
        return x;
    }

    /**
     * Trains {@code model} in place and writes checkpoints to {@code checkpoint}.
     *
     * @param resumeState the {@code optimizer} and {@code steps} of a resumed checkpoint tree, or null
     */
    public static Result train(VqModel model, CodeExtractor.Source source, Settings s, Path checkpoint, Map<?, ?> resumeState) {
        int f = model.config().downsample();
        if (s.imageSize() % f != 0) {
            throw new NppException("--image-size " + s.imageSize() + " is not a multiple of the tokenizer's downsampling " + f);
        }
        EngineSelfTest.requireCorrectGradients("train-vq");
        // grad mode off on this thread except while recording (see NppTrainingLoop)
        try (Autograd.Scope noGrad = Autograd.noGrad()) {
            return run(model, source, s, checkpoint, resumeState);
        }
    }

    private static Result run(VqModel model, CodeExtractor.Source source, Settings s, Path checkpoint, Map<?, ?> resumeState) {
        model.setTraining(true);
        Map<String, NDArray> params = model.parameters();
        int side = s.imageSize();
        int startStep = 0;
        try (AdamW opt = new AdamW(params, 0.9, 0.95, 1e-8, 0.0)) {
            if (resumeState != null) {
                if (resumeState.get("optimizer") instanceof Map<?, ?> o) {
                    opt.loadStateDict(o, checkpoint.toString());
                }
                startStep = resumeState.get("steps") instanceof Long l ? l.intValue() : (int) opt.steps();
                if (resumeState.get(NppTrainingLoop.THREADS_ARG) instanceof Number t) {
                    EngineThreads.mismatch(t.longValue(), checkpoint + " was written");
                }
                LOG.info("resuming VQ training at step {}", startStep);
            }
            // one generator per step, derived from the seed, so a resumed run draws the same batches
            DivergenceGuard guard = new DivergenceGuard("train-vq", startStep);
            double first = Double.NaN;
            double windowSum = 0;
            int windowN = 0;
            double last = Double.NaN;
            BitSet used = new BitSet(model.config().codebookSize());
            int window = Math.max(1, Math.min(50, (s.steps() - startStep) / 4));
            try (Progress p = Progress.start("train-vq", s.steps() - startStep, "step")) {
                for (int step = startStep; step < s.steps(); step++) {
                    SplittableRandom rng = RandomStreams.stream(s.seed(), RandomStreams.Purpose.VQ_BATCHES, step);
                    float[] x = batch(source, s.batchSize(), side, rng);
                    double rec;
                    double cb;
                    double commit;
                    // one recording training per process (Autograd); dropout draws depend only on (seed, step)
                    try (Autograd.Scope recording = Autograd.recording();
                         NDManager sub = model.parametersManager().newSubManager(); NDScope scope = new NDScope();
                         GradientCollector gc = newCollector(s.seed(), step)) {
                        NDArray input = sub.create(x, new Shape(s.batchSize(), 3, side, side));
                        VqModel.TrainLoss l = model.trainingLoss(input, (float) s.beta());
                        gc.backward(l.total());
                        rec = l.reconstruction().getFloat();
                        cb = l.codebook().getFloat();
                        commit = l.commitment().getFloat();
                        for (long c : l.codes().toLongArray()) {
                            used.set((int) c);
                        }
                    }
                    guard.check(step, rec + cb + commit, Gradients.globalNorm(params.values()), params);
                    opt.step(s.lr());
                    Gradients.zero(params.values());
                    windowSum += rec;
                    windowN++;
                    if (windowN == window || step == s.steps() - 1) {
                        double mean = windowSum / windowN;
                        if (Double.isNaN(first)) {
                            first = mean;
                        }
                        last = mean;
                        String status = String.format(Locale.ROOT, "rec %.4f (PSNR %.1f dB) codebook %.4f commit %.4f used %d/%d",
                                mean, 10 * Math.log10(4.0 / mean), cb, commit, used.cardinality(), model.config().codebookSize());
                        p.status(status);
                        LOG.info("step {}: {}", step + 1, status);
                        if (step < s.steps() - 1) {
                            used.clear();
                        }
                        windowSum = 0;
                        windowN = 0;
                    }
                    p.step(1);
                    if (s.saveEvery() > 0 && (step + 1) % s.saveEvery() == 0 && step + 1 < s.steps()) {
                        save(model, opt, step + 1, s.lr(), checkpoint);
                    }
                }
            }
            save(model, opt, s.steps(), s.lr(), checkpoint);
            double usage = (double) used.cardinality() / model.config().codebookSize();
            return new Result(s.steps() - startStep, first, last, usage);
        } finally {
            model.setTraining(false);
        }
    }

    /** Seeds torch's generator from (seed, step) and opens a collector; call while recording. */
    private static GradientCollector newCollector(long seed, int step) {
        Engine.getInstance().setRandomSeed((int) RandomStreams.streamSeed(seed, RandomStreams.Purpose.VQ_ENGINE_STEP, step));
        return Engine.getInstance().newGradientCollector();
    }

    /** Writes {@code {"model", "vq_config", "steps", "optimizer", "intra_op_threads"}} atomically. */
    static void save(VqModel model, AdamW opt, int steps, double lr, Path file) {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("model", new LinkedHashMap<String, Object>(model.stateDict()));
        root.put(VqModel.CONFIG_KEY, VqModel.configAsMap(model.config()));
        root.put("steps", (long) steps);
        root.put("optimizer", opt.stateDict(lr));
        root.put(NppTrainingLoop.THREADS_ARG, (long) EngineThreads.current()); // a resume at another count says so
        TorchCheckpoint.save(file, root);
        LOG.info("saved VQ checkpoint {} at step {}", file, steps);
    }

    /**
     * A picture of reconstructions: the first {@code n} images of the source (ADM crop) in the top row,
     * their encode-decode round trip below.
     */
    public static void writeReconstructions(VqModel model, CodeExtractor.Source source, int side, int n, Path png) {
        n = Math.min(n, source.size());
        float[] x = new float[n * 3 * side * side];
        for (int i = 0; i < n; i++) {
            CodeExtractor.toChw(Resample.admCenterCrop(source.read(i), side), x, i * 3 * side * side);
        }
        Tensor in = Tensor.ofFloats(new long[]{n, 3, side, side}, x);
        Tensor out = model.decode(model.encode(in));
        float[] both = new float[2 * x.length];
        System.arraycopy(x, 0, both, 0, x.length);
        System.arraycopy(out.toFloatArray(), 0, both, x.length, x.length);
        long[] rows = new long[2 * n];
        for (int i = n; i < 2 * n; i++) {
            rows[i] = 1;
        }
        Images.writeGrid(png, Images.toUint8Nhwc(Tensor.ofFloats(new long[]{2L * n, 3, side, side}, both)), rows,
                List.of("input", "reconstruction"));
    }
}
