package org.nextpatch.util;

import java.util.SplittableRandom;

/**
 * Every random stream of the project, derived from (run seed, purpose, index) through the SplitMix64
 * step {@code sm(x) = mix64(x + 0x9E3779B97F4A7C15)}, which is {@code new SplittableRandom(x).nextLong()}:
 * <pre>
 *   h = sm(seed);  h = sm(h ^ purpose.id);  h = sm(h ^ index);  [h = sm(h ^ subIndex);]
 *   stream = new SplittableRandom(h)
 * </pre>
 * Each step is a full-avalanche bijection of its input, so neighbouring seeds, purposes and indexes
 * give unrelated stream seeds. A plain {@code seed * 0x9E3779B97F4A7C15 + index} would not: that
 * constant is SplittableRandom's own increment, so the stream of seed S+1 would be the stream of
 * seed S shifted by one draw.
 */
public final class RandomStreams {
    /** SplittableRandom's increment (the golden ratio in 64 bits). */
    public static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;

    /** What a stream is for; the id enters the mix, so two purposes never share a stream. */
    public enum Purpose {
        /** One uniform per token of image {@code index} (sample, serve, ONNX sampler). */
        SAMPLE_TOKENS(1),
        /** Class labels of a run without given classes (index 0). */
        SAMPLE_LABELS(2),
        /** GPT initialisation, one stream per parameter tensor (index = its position). */
        GPT_INIT(3),
        /** VQ initialisation (index 0). */
        VQ_INIT(4),
        /** VQ training batches, one stream per optimizer step. */
        VQ_BATCHES(5),
        /** The held-out split of a code set (index 0). */
        DATA_SPLIT(6),
        /** The order of training images in epoch {@code index}. */
        DATA_EPOCH_ORDER(7),
        /** Sibling set and augmentation of an access: index = epoch, sub-index = position. */
        DATA_ACCESS(8),
        /**
         * Retired: the engine was seeded once before training, outside the recording lock, which let
         * another thread's training reseed torch's generator mid-step. Each step seeds it under the
         * lock ({@link #ENGINE_STEP}); the id stays taken.
         */
        @Deprecated
        ENGINE_INIT(9),
        /** The engine's seed at optimizer step {@code index} (dropout masks). */
        ENGINE_STEP(10),
        /** Shuffling and augmentation when training the evaluation feature net (index 0). */
        FEATURE_NET(11),
        /** Noise images of the feature net's FID check (index 0). */
        FEATURE_NET_NOISE(12),
        /** Random benchmark weights (index 0). */
        BENCH_WEIGHTS(13),
        /** The engine's seed at VQ optimizer step {@code index} (the tokenizer's dropout masks). */
        VQ_ENGINE_STEP(14);

        private final long id;

        Purpose(long id) {
            this.id = id;
        }

        /** The number that enters the mix (fixed, documented; never reuse one). */
        public long id() {
            return id;
        }
    }

    private RandomStreams() {}

    /** The generator for (seed, purpose, index). */
    public static SplittableRandom stream(long seed, Purpose purpose, long index) {
        return new SplittableRandom(streamSeed(seed, purpose, index));
    }

    /** The generator for (seed, purpose, index, subIndex). */
    public static SplittableRandom stream(long seed, Purpose purpose, long index, long subIndex) {
        return new SplittableRandom(step(streamSeed(seed, purpose, index), subIndex));
    }

    /** The seed given to {@code new SplittableRandom(..)} for (seed, purpose, index). */
    public static long streamSeed(long seed, Purpose purpose, long index) {
        return step(step(splitMix(seed), purpose.id), index);
    }

    private static long step(long h, long x) {
        return splitMix(h ^ x);
    }

    /** One SplitMix64 step: {@code new SplittableRandom(x).nextLong()}. */
    static long splitMix(long x) {
        return mix64(x + GOLDEN_GAMMA);
    }

    /** SplittableRandom's (and SplitMix64's) output function, Stafford's "Mix13". */
    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
