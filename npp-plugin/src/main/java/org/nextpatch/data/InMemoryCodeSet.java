package org.nextpatch.data;

import org.nextpatch.util.NppException;

/**
 * A {@link CodeSet} over arrays: {@code codes[image][aug][t]} and one label per image. Used by the
 * Tribuo trainer (datasets built from examples) and by tests.
 */
public final class InMemoryCodeSet implements CodeSet {
    private final long[][][] codes;
    private final int[] labels;
    private final int tokens;

    /**
     * @param codes  {@code [image][augmentation][token]}; every grid has the same length
     * @param labels one class per image
     */
    public InMemoryCodeSet(long[][][] codes, int[] labels) {
        if (codes.length != labels.length) {
            throw new NppException("code set: " + codes.length + " images but " + labels.length + " labels");
        }
        if (codes.length == 0) {
            throw new NppException("code set is empty");
        }
        this.codes = codes;
        this.labels = labels;
        this.tokens = codes[0][0].length;
        for (int i = 0; i < codes.length; i++) {
            if (codes[i].length == 0) {
                throw new NppException("code set: image " + i + " has no augmentation");
            }
            for (long[] g : codes[i]) {
                if (g.length != tokens) {
                    throw new NppException("code set: image " + i + " has a grid of " + g.length + " tokens, expected " + tokens);
                }
            }
        }
    }

    /** One augmentation per image: {@code grids[image][token]}. */
    public static InMemoryCodeSet of(long[][] grids, int[] labels) {
        long[][][] c = new long[grids.length][][];
        for (int i = 0; i < grids.length; i++) {
            c[i] = new long[][]{grids[i]};
        }
        return new InMemoryCodeSet(c, labels);
    }

    @Override
    public int size() {
        return codes.length;
    }

    @Override
    public int tokens() {
        return tokens;
    }

    @Override
    public int augmentations(int image) {
        return codes[image].length;
    }

    @Override
    public int label(int image) {
        return labels[image];
    }

    @Override
    public void read(int image, int aug, boolean sibling, long[] out, int offset) {
        System.arraycopy(codes[image][aug], 0, out, offset, tokens);
    }

    @Override
    public String describe() {
        return "in-memory codes: " + size() + " images of " + tokens + " tokens";
    }
}
