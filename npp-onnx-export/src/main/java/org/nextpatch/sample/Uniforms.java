package org.nextpatch.sample;

import org.nextpatch.util.RandomStreams;

import java.util.SplittableRandom;

import static org.nextpatch.util.RandomStreams.Purpose.SAMPLE_LABELS;
import static org.nextpatch.util.RandomStreams.Purpose.SAMPLE_TOKENS;

/**
 * The engine-independent random numbers of sampling: image {@code i} of a run with seed {@code S}
 * gets its own generator {@code RandomStreams.stream(S, SAMPLE_TOKENS, i)} and draws
 * one uniform per token, {@code (float) nextDouble()} for t = 0..T-1 in order. One number is consumed per
 * token even for greedy decoding, so an image's draws depend only on (seed, image index), not on the
 * batch size, the engine or the device.
 */
public final class Uniforms {
    private Uniforms() {}

    /** The T uniforms of image {@code imageIndex} of a run seeded with {@code seed}. */
    public static float[] forImage(long seed, long imageIndex, int tokens) {
        SplittableRandom rng = RandomStreams.stream(seed, SAMPLE_TOKENS, imageIndex);
        float[] u = new float[tokens];
        for (int t = 0; t < tokens; t++) {
            u[t] = (float) rng.nextDouble();
        }
        return u;
    }

    /**
     * Uniforms for images {@code first .. first+count-1}, row-major {@code [count, tokens]}: the
     * layout the ONNX sampler feeds as a graph input.
     */
    public static float[] forBatch(long seed, long first, int count, int tokens) {
        float[] out = new float[count * tokens];
        for (int b = 0; b < count; b++) {
            System.arraycopy(forImage(seed, first + b, tokens), 0, out, b * tokens, tokens);
        }
        return out;
    }

    /**
     * Labels for a run without given classes (FID sample sets): image {@code i}'s label is the
     * {@code i}-th {@code nextInt(numClasses)} of {@code RandomStreams.stream(seed, SAMPLE_LABELS, 0)},
     * uniform over the classes and independent of the token uniforms.
     */
    public static long[] labels(long seed, int count, int numClasses) {
        SplittableRandom rng = RandomStreams.stream(seed, SAMPLE_LABELS, 0);
        long[] out = new long[count];
        for (int i = 0; i < count; i++) {
            out[i] = rng.nextInt(numClasses);
        }
        return out;
    }

    /**
     * The labels of {@link #labels} in blocks: {@code next(a)} then {@code next(b)} give the first
     * {@code a + b} labels of {@code labels(seed, a + b, numClasses)}, so a run of any length draws
     * its labels without holding them all.
     */
    public static final class LabelStream {
        private final SplittableRandom rng;
        private final int numClasses;

        public LabelStream(long seed, int numClasses) {
            this.rng = RandomStreams.stream(seed, SAMPLE_LABELS, 0);
            this.numClasses = numClasses;
        }

        /** The next {@code count} labels. */
        public long[] next(int count) {
            long[] out = new long[count];
            for (int i = 0; i < count; i++) {
                out[i] = rng.nextInt(numClasses);
            }
            return out;
        }
    }
}
