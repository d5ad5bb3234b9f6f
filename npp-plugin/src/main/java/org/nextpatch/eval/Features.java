package org.nextpatch.eval;

import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.util.Arrays;

/**
 * A feature matrix: {@code n} rows (images) of {@code d} float32 features, row-major in one array.
 * One array holds up to 2^31 - 1 floats, e.g. 50,000 x 2048 Inception pool features (400 MB).
 *
 * @param n    number of rows
 * @param d    features per row
 * @param data {@code n * d} values, row {@code i} at {@code [i * d, (i + 1) * d)}
 */
public record Features(int n, int d, float[] data) {

    public Features {
        if (n < 0 || d <= 0 || (long) n * d != data.length) {
            throw new IllegalArgumentException("features of " + n + " x " + d + " need " + (long) n * d
                    + " values, got " + data.length);
        }
    }

    /**
     * Features from a tensor of shape [N, D] (any floating type; converted to float32).
     *
     * @param what names the source in error messages, e.g. a file name
     */
    public static Features of(Tensor t, String what) {
        if (t.rank() != 2) {
            throw new NppException(what + ": expected a feature matrix of shape [N, D], got shape "
                    + Arrays.toString(t.shape()));
        }
        if (!t.dtype().isFloating()) {
            throw new NppException(what + ": expected floating-point features, got " + t.dtype());
        }
        int[] s = t.intShape();
        if (s[1] == 0) {
            throw new NppException(what + ": feature matrix has no columns");
        }
        return new Features(s[0], s[1], t.toFloatArray()).requireFinite(what);
    }

    /**
     * This matrix, if every value is finite; statistics of NaN features would print {@code FID: nan}
     * as if it were a result.
     *
     * @throws NppException naming the source and the first bad row
     */
    public Features requireFinite(String what) {
        long bad = 0;
        int first = -1;
        for (int i = 0; i < data.length; i++) {
            if (!Float.isFinite(data[i])) {
                if (bad++ == 0) {
                    first = i;
                }
            }
        }
        if (bad > 0) {
            throw new NppException(what + ": " + bad + " of " + data.length + " feature values are NaN or infinite"
                    + " (first in row " + first / d + ")");
        }
        return this;
    }

    /** Rows {@code [from, to)} as a new matrix (copy). */
    public Features rows(int from, int to) {
        return new Features(to - from, d, Arrays.copyOfRange(data, from * d, to * d));
    }

    /** The matrix as a float32 tensor [n, d] (shares nothing). */
    public Tensor toTensor() {
        return Tensor.ofFloats(new long[]{n, d}, data);
    }

    /** Concatenates matrices with the same width row-wise. */
    public static Features concat(java.util.List<Features> parts) {
        if (parts.isEmpty()) {
            throw new IllegalArgumentException("no feature blocks");
        }
        int d = parts.get(0).d();
        long total = 0;
        for (Features f : parts) {
            if (f.d() != d) {
                throw new IllegalArgumentException("feature widths differ: " + d + " and " + f.d());
            }
            total += f.n();
        }
        float[] out = new float[Math.toIntExact(total * d)];
        int pos = 0;
        for (Features f : parts) {
            System.arraycopy(f.data(), 0, out, pos, f.data().length);
            pos += f.data().length;
        }
        return new Features((int) total, d, out);
    }

    /**
     * The first {@code keep} channels of a feature map {@code x} of shape {@code [N, H, W, C]}
     * (or {@code [N, C, H, W]} when {@code nchw}), flattened per image in H, W, C order: numpy's
     * {@code x[..., :keep].reshape(n, -1)} on the NHWC map, as the ADM evaluator takes 7 channels
     * of {@code mixed_6/conv}. {@code keep} of 0 or less keeps every channel.
     */
    public static Features firstChannels(float[] x, long[] shape, int keep, boolean nchw) {
        int n = (int) shape[0];
        int h, w, c;
        if (nchw) {
            c = (int) shape[1];
            h = (int) shape[2];
            w = (int) shape[3];
        } else {
            h = (int) shape[1];
            w = (int) shape[2];
            c = (int) shape[3];
        }
        int k = keep > 0 ? Math.min(keep, c) : c;
        int d = h * w * k;
        float[] out = new float[n * d];
        for (int i = 0; i < n; i++) {
            for (int y = 0; y < h; y++) {
                for (int xx = 0; xx < w; xx++) {
                    for (int j = 0; j < k; j++) {
                        int src = nchw ? ((i * c + j) * h + y) * w + xx : ((i * h + y) * w + xx) * c + j;
                        out[i * d + (y * w + xx) * k + j] = x[src];
                    }
                }
            }
        }
        return new Features(n, d, out);
    }
}
