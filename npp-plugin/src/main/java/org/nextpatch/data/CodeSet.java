package org.nextpatch.data;

/**
 * Training data for the GPT: images already turned into token grids, each with one or more
 * augmentations (upstream: ten crops or a flip) and a class label. Implemented over a code
 * directory in the upstream extraction layout (spec section 8), or over arrays in memory (Tribuo
 * datasets, tests).
 * <p>
 * Random choice of augmentation is not done here but by {@link CodeSampler}, so that it is
 * deterministic for a seed.
 */
public interface CodeSet {

    /** Number of images. */
    int size();

    /** Tokens per grid, {@code T = G * G}. */
    int tokens();

    /** Number of augmentations stored for image {@code i} in the main set. */
    int augmentations(int image);

    /**
     * Whether a second set of crops exists (upstream: the {@code _ten_crop_105} sibling directory,
     * crop range 1.05), from which half of the training accesses read.
     */
    default boolean hasSibling() {
        return false;
    }

    /** Number of augmentations of image {@code i} in the sibling set. */
    default int siblingAugmentations(int image) {
        return 0;
    }

    /** The class label of image {@code i}. */
    int label(int image);

    /**
     * Copies the tokens of one augmentation into {@code out[offset .. offset + T)}.
     *
     * @param image   the image index
     * @param aug     the augmentation index (in the chosen set)
     * @param sibling read from the sibling set instead of the main one
     */
    void read(int image, int aug, boolean sibling, long[] out, int offset);

    /** A short description for logs and provenance (path, counts). */
    default String describe() {
        return size() + " images of " + tokens() + " tokens";
    }
}
