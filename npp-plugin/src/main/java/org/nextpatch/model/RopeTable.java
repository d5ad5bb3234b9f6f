package org.nextpatch.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import org.nextpatch.rope.Rope2d;

/**
 * A {@link Rope2d} table on the device, laid out for a cheap interleaved rotation:
 * {@code y = x * C + swap(x) * S} where {@code C[2j] = C[2j+1] = cos_j}, {@code S[2j] = -sin_j},
 * {@code S[2j+1] = +sin_j} and {@code swap} exchanges the two channels of every pair. This gives
 * exactly upstream's {@code y[2j] = x[2j] cos - x[2j+1] sin}, {@code y[2j+1] = x[2j+1] cos + x[2j] sin}
 * (a + (-b) rounds like a - b), with no strided gathers.
 */
public final class RopeTable {
    private final Rope2d rope;
    private final NDArray cos;
    private final NDArray sin;
    /** Row slices already shaped {@code [1, n, 1, hd]}, by (start, n): decode steps reuse them. */
    private final java.util.Map<Long, NDArray[]> slices = new java.util.HashMap<>();

    /** Copies the table for a grid side onto the manager's device. */
    RopeTable(NDManager manager, Rope2d rope) {
        this.rope = rope;
        int rows = rope.rows();
        int half = rope.pairs();
        float[] c = rope.cos();
        float[] s = rope.sin();
        float[] ce = new float[rows * half * 2];
        float[] se = new float[rows * half * 2];
        for (int i = 0; i < rows * half; i++) {
            ce[2 * i] = c[i];
            ce[2 * i + 1] = c[i];
            se[2 * i] = -s[i];
            se[2 * i + 1] = s[i];
        }
        this.cos = manager.create(ce, new Shape(rows, 2L * half));
        this.sin = manager.create(se, new Shape(rows, 2L * half));
    }

    /** The engine-free table this was built from. */
    public Rope2d rope() {
        return rope;
    }

    private synchronized NDArray[] rows(int start, long n) {
        return slices.computeIfAbsent(start * 1_000_003L + n, key -> {
            NDIndex rows = new NDIndex().addSliceDim(start, start + n);
            long hd = cos.getShape().get(1);
            return new NDArray[]{cos.get(rows).reshape(1, n, 1, hd), sin.get(rows).reshape(1, n, 1, hd)};
        });
    }

    /**
     * Rotates {@code x [B, S, H, hd]} whose sequence positions are {@code start .. start+S-1}.
     */
    public NDArray apply(NDArray x, int start) {
        Shape s = x.getShape();
        long n = s.get(1);
        long hd = s.get(3);
        if (start + n > rope.rows()) {
            throw new IllegalArgumentException("sequence positions " + start + ".." + (start + n - 1)
                    + " exceed the rotary table of " + rope.rows() + " rows");
        }
        NDArray[] cs = rows(start, n);
        NDArray swapped = x.reshape(s.get(0), n, s.get(2), hd / 2, 2).flip(4).reshape(s);
        return x.mul(cs[0]).add(swapped.mul(cs[1]));
    }
}
