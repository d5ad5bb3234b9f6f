package org.nextpatch.data;

import org.nextpatch.util.RandomStreams;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Deterministic data order for training (spec section 8, training reads): a held-out split, a
 * shuffle per epoch, and one random augmentation per access, half of the accesses from the sibling
 * ({@code _ten_crop_105}) set when there is one.
 * <p>
 * Every random choice is a pure function of (seed, epoch, position), not of how many draws came
 * before, so a run resumed at any optimizer step reads exactly the batches the uninterrupted run
 * would have read.
 */
public final class CodeSampler {
    private final CodeSet data;
    private final long seed;
    private final int[] train;
    private final int[] heldOut;

    /**
     * @param data            the code set
     * @param seed            the run's seed
     * @param heldOutFraction fraction of images kept out of training (0: none); at least one image
     *                        is held out when the fraction is positive
     */
    public CodeSampler(CodeSet data, long seed, double heldOutFraction) {
        this.data = data;
        this.seed = seed;
        int n = data.size();
        int[] all = permutation(n, RandomStreams.stream(seed, RandomStreams.Purpose.DATA_SPLIT, 0));
        int h = heldOutFraction > 0 ? Math.max(1, (int) Math.round(n * heldOutFraction)) : 0;
        if (h >= n) {
            throw new org.nextpatch.util.NppException("--held-out " + heldOutFraction + " leaves no training images out of " + n);
        }
        heldOut = Arrays.copyOfRange(all, 0, h);
        Arrays.sort(heldOut);
        train = Arrays.copyOfRange(all, h, n);
        Arrays.sort(train);
    }

    /** Images used for training (sorted). */
    public int[] trainImages() {
        return train.clone();
    }

    /** Images held out (sorted). */
    public int[] heldOutImages() {
        return heldOut.clone();
    }

    /** Number of training images. */
    public int trainSize() {
        return train.length;
    }

    /** The order of training images in epoch {@code epoch}. */
    public int[] epochOrder(int epoch) {
        int[] p = permutation(train.length, RandomStreams.stream(seed, RandomStreams.Purpose.DATA_EPOCH_ORDER, epoch));
        int[] out = new int[p.length];
        for (int i = 0; i < p.length; i++) {
            out[i] = train[p[i]];
        }
        return out;
    }

    /**
     * Reads access {@code position} of epoch {@code epoch} (image {@code image}): picks the sibling set
     * with probability 1/2 when present, then a uniform augmentation, and writes the tokens.
     *
     * @return the image's label
     */
    public int draw(int epoch, int position, int image, long[] out, int offset) {
        SplittableRandom rng = RandomStreams.stream(seed, RandomStreams.Purpose.DATA_ACCESS, epoch, position);
        boolean sibling = data.hasSibling() && rng.nextDouble() < 0.5;
        int n = sibling ? data.siblingAugmentations(image) : data.augmentations(image);
        data.read(image, rng.nextInt(n), sibling, out, offset);
        return data.label(image);
    }

    /** A uniformly random permutation of 0..n-1 (Fisher-Yates), a pure function of the generator's state. */
    public static int[] permutation(int n, SplittableRandom rng) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}
