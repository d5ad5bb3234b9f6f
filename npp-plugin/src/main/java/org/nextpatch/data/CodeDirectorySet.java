package org.nextpatch.data;

import java.util.Arrays;

/**
 * A {@link CodeSet} over a code directory in the upstream extraction layout (spec section 8), with
 * its {@code _ten_crop_105} sibling when {@link CodeDirectory#tenCrop105()} finds one. Code files are
 * read on access (ImageNet's do not fit in memory); labels are cached after their first read.
 */
public final class CodeDirectorySet implements CodeSet {
    private final CodeDirectory main;
    private final CodeDirectory sibling;
    private final int[] labels;
    private int lastImage = -1;
    private boolean lastSibling;
    private long[] lastCodes;

    /** Wraps an opened directory (and finds its sibling). */
    public CodeDirectorySet(CodeDirectory main) {
        this.main = main;
        this.sibling = main.tenCrop105().orElse(null);
        this.labels = new int[main.images()];
        Arrays.fill(labels, Integer.MIN_VALUE);
    }

    /**
     * Checks every code and label file (and the sibling's) against a model's vocabulary and class
     * count, before any work (see {@link CodeDirectory#checkValues}).
     */
    public void checkValues(long vocabSize, long numClasses) {
        main.checkValues(vocabSize, numClasses);
        if (sibling != null) {
            sibling.checkValues(vocabSize, numClasses);
        }
    }

    /** Opens {@code codePath} for {@code --image-size imageSize}. */
    public static CodeDirectorySet open(java.nio.file.Path codePath, int imageSize) {
        return new CodeDirectorySet(CodeDirectory.open(codePath, imageSize));
    }

    @Override
    public int size() {
        return main.images();
    }

    @Override
    public int tokens() {
        return main.tokens();
    }

    @Override
    public int augmentations(int image) {
        return main.augmentations();
    }

    @Override
    public boolean hasSibling() {
        return sibling != null;
    }

    @Override
    public int siblingAugmentations(int image) {
        return sibling == null ? 0 : sibling.augmentations();
    }

    @Override
    public synchronized int label(int image) {
        int l = labels[image];
        if (l == Integer.MIN_VALUE) {
            l = Math.toIntExact(main.label(image));
            labels[image] = l;
        }
        return l;
    }

    @Override
    public synchronized void read(int image, int aug, boolean fromSibling, long[] out, int offset) {
        // One file holds every augmentation of an image: keep the last one read, since held-out
        // scoring reads all augmentations of an image in a row.
        if (image != lastImage || fromSibling != lastSibling) {
            lastCodes = (fromSibling ? sibling : main).codes(image);
            lastImage = image;
            lastSibling = fromSibling;
        }
        int t = main.tokens();
        int n = fromSibling ? sibling.augmentations() : main.augmentations();
        if (aug < 0 || aug >= n) {
            throw new IllegalArgumentException("augmentation " + aug + " out of range 0.." + (n - 1));
        }
        System.arraycopy(lastCodes, aug * t, out, offset, t);
    }

    @Override
    public String describe() {
        return main.root() + " (" + main.images() + " images x " + main.augmentations() + " augmentations of "
                + main.tokens() + " tokens" + (sibling != null ? ", with its _ten_crop_105 sibling" : "") + ")";
    }
}
