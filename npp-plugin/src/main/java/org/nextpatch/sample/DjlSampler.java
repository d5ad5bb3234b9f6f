package org.nextpatch.sample;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.config.GptConfig;
import org.nextpatch.model.Autograd;
import org.nextpatch.model.Gpt;
import org.nextpatch.model.KvCache;
import org.nextpatch.util.NppException;
import org.nextpatch.util.Progress;

import java.util.Locale;

/**
 * Class-conditional generation with the DJL model (spec 6.5): prefill with the class embedding, then
 * {@code T - 1} decode steps over a key/value cache. With guidance the batch is doubled (conditional
 * rows, then null-class rows), the same sampled token is fed to both halves, and the guided logits
 * {@code u + s (c - u)} are formed on the device; with a cfg interval, decode step {@code i > interval}
 * uses the conditional logits alone (the prefill is always guided).
 * <p>
 * Each token is then chosen on the host by {@link TokenChooser} with the image's own uniforms
 * ({@link Uniforms}): the draw depends only on (seed, image index), so the batch size, the engine and
 * the device do not change which image a seed gives (up to float rounding of the logits).
 */
public final class DjlSampler {
    private static final Logger LOG = LogManager.getLogger(DjlSampler.class);

    private final Gpt gpt;
    private final SamplingSettings settings;
    private final TokenChooser chooser;

    public DjlSampler(Gpt gpt, SamplingSettings settings) {
        this.gpt = gpt;
        this.settings = settings;
        this.chooser = new TokenChooser(settings);
    }

    /** The settings. */
    public SamplingSettings settings() {
        return settings;
    }

    /**
     * Generates the tokens of many images in batches.
     *
     * @param labels    class of every image (0 .. numClasses-1)
     * @param seed      run seed (image {@code i} draws with {@link Uniforms#forImage}{@code (seed, i, T)})
     * @param batchSize images per batch (doubled under guidance)
     * @return {@code [N * T]} tokens, row-major
     */
    public long[] sample(long[] labels, long seed, int batchSize) {
        if (batchSize <= 0) {
            throw new org.nextpatch.util.BadValueException("--batch-size must be positive, got " + batchSize);
        }
        checkLabels(labels);
        int t = gpt.config().blockSize();
        long[] out = new long[labels.length * t];
        try (Progress progress = Progress.start("sample", labels.length, "img")) {
            for (int start = 0; start < labels.length; start += batchSize) {
                int b = Math.min(batchSize, labels.length - start);
                long[] batchLabels = java.util.Arrays.copyOfRange(labels, start, start + b);
                long[] tokens = generate(batchLabels, seed, start);
                System.arraycopy(tokens, 0, out, start * t, b * t);
                progress.step(b);
            }
            LOG.info(String.format(Locale.ROOT, "sampled %d images in %.1f s (%.2f images/s)",
                    labels.length, progress.elapsedSeconds(), progress.rate()));
        }
        return out;
    }

    /** Checks that every label is a real class (the null class is not a valid request). */
    public void checkLabels(long[] labels) {
        int c = gpt.config().numClasses();
        for (long l : labels) {
            if (l < 0 || l >= c) {
                throw new NppException("class " + l + " is out of range: the model has classes 0.." + (c - 1));
            }
        }
    }

    /**
     * Generates one batch.
     *
     * @param labels     {@code [b]} classes
     * @param seed       run seed
     * @param firstImage index of the batch's first image in the run (selects its uniforms)
     * @return {@code [b * T]} tokens, row-major
     */
    public long[] generate(long[] labels, long seed, long firstImage) {
        GptConfig c = gpt.config();
        int b = labels.length;
        int t = c.blockSize();
        int v = c.vocabSize();
        boolean doubled = settings.guided();
        int rows = doubled ? 2 * b : b;
        float[][] uniforms = new float[b][];
        for (int i = 0; i < b; i++) {
            uniforms[i] = Uniforms.forImage(seed, firstImage + i, t);
        }
        long[] tokens = new long[b * t];
        long[] cond = new long[rows];
        for (int i = 0; i < rows; i++) {
            cond[i] = i < b ? labels[i] : c.nullClass();
        }
        // grad mode is per thread and on in every thread but the engine's first: turn it off here
        try (Autograd.Scope noGrad = Autograd.noGrad(); NDManager run = gpt.manager().newSubManager();
             KvCache cache = gpt.newCache(rows)) {
            try (NDManager step = run.newSubManager()) {
                NDArray logits = gpt.prefill(step.create(cond), cache);
                choose(guide(logits, b, doubled), b, v, uniforms, 0, tokens, t);
            }
            long[] feed = new long[rows];
            for (int i = 0; i < t - 1; i++) {
                for (int r = 0; r < rows; r++) {
                    feed[r] = tokens[(r % b) * t + i];
                }
                try (NDManager step = run.newSubManager()) {
                    NDArray logits = gpt.decode(step.create(feed), c.clsTokenNum() + i, cache);
                    choose(guide(logits, b, settings.guidedAtDecodeStep(i)), b, v, uniforms, i + 1, tokens, t);
                }
            }
        }
        return tokens;
    }

    /**
     * The logits the draw uses, copied to the host {@code [b * V]}: the guided combination
     * {@code u + s (c - u)} when {@code guideThisStep}, else the conditional rows.
     */
    float[] guide(NDArray logits, int b, boolean guideThisStep) {
        NDArray used = guidedLogits(logits, b, settings.guided(), guideThisStep, (float) settings.cfgScale());
        return (used.getDataType() == DataType.FLOAT32 ? used : used.toType(DataType.FLOAT32, false)).toFloatArray();
    }

    /**
     * Classifier-free guidance on {@code [rows, V]} logits: with doubled rows, the first {@code b}
     * are conditional and the last {@code b} unconditional; returns {@code u + s (c - u)} (float32, in
     * upstream's operation order) or, when not guiding this step, the conditional rows.
     */
    public static NDArray guidedLogits(NDArray logits, int b, boolean doubled, boolean guideThisStep, float scale) {
        if (!doubled) {
            return logits;
        }
        NDArray cond = logits.get("0:{}", b);
        if (!guideThisStep) {
            return cond;
        }
        NDArray uncond = logits.get("{}:", b);
        return uncond.add(cond.sub(uncond).mul(scale));
    }

    private void choose(float[] logits, int b, int v, float[][] uniforms, int position, long[] tokens, int t) {
        for (int i = 0; i < b; i++) {
            tokens[i * t + position] = chooser.choose(logits, i * v, v, uniforms[i][position]);
        }
    }
}
