package org.nextpatch.eval;

import org.nextpatch.util.NppException;

import java.util.stream.IntStream;

/**
 * Improved precision and recall (Kynkaanniemi et al. 2019) with k = 3, as the ADM evaluator's
 * {@code ManifoldEstimator} computes them. Each point's radius is the squared L2 distance to its
 * k-th nearest neighbour within its own set (the point itself excluded); precision is the share
 * of samples that lie within the radius of some reference point, recall the share of reference
 * points that lie within the radius of some sample.
 * <p>
 * Distances are computed in tiles of {@value #TILE} x {@value #TILE} rows, spread over all cores,
 * as {@code |x|^2 + |y|^2 - 2 x.y} clamped at 0 (float32 dot products; the evaluator uses float16
 * with a float32 fallback). No distance matrix is kept: each row keeps only its k + 1 smallest
 * distances, so 50,000 x 10,000 features need only the feature matrices themselves plus a few MB.
 */
public final class PrecisionRecall {

    /** Neighbourhood size of the evaluator. */
    public static final int K = 3;
    static final int TILE = 64;

    /** Precision and recall of a sample set against a reference set. */
    public record Result(double precision, double recall) {}

    private PrecisionRecall() {}

    /** Precision and recall with k = 3. */
    public static Result compute(Features ref, Features sample) {
        return compute(ref, sample, K);
    }

    /** Precision and recall with neighbourhood size k. */
    public static Result compute(Features ref, Features sample, int k) {
        if (ref.d() != sample.d()) {
            throw new NppException("precision/recall: reference features have " + ref.d()
                    + " dimensions, sample features " + sample.d());
        }
        float[] refRadii = radii(ref, k);
        float[] sampleRadii = radii(sample, k);
        boolean[] samplesIn = covered(sample, ref, refRadii);
        boolean[] refsIn = covered(ref, sample, sampleRadii);
        return new Result(mean(samplesIn), mean(refsIn));
    }

    private static double mean(boolean[] b) {
        long c = 0;
        for (boolean v : b) {
            if (v) {
                c++;
            }
        }
        return (double) c / b.length;
    }

    /**
     * Squared distance of each row to its k-th nearest other row of the same set: the value at
     * index k of the row's sorted distances to all rows, itself (distance 0) included.
     */
    public static float[] radii(Features f, int k) {
        int n = f.n();
        if (n <= k) {
            throw new NppException("precision/recall need more than " + k + " feature rows per set, got " + n);
        }
        float[] norms = norms(f);
        float[] radii = new float[n];
        int tiles = (n + TILE - 1) / TILE;
        IntStream.range(0, tiles).parallel().forEach(t -> {
            int r0 = t * TILE;
            int rn = Math.min(TILE, n - r0);
            float[] best = new float[rn * (k + 1)];
            java.util.Arrays.fill(best, Float.POSITIVE_INFINITY);
            float[] dist = new float[TILE * TILE];
            for (int c0 = 0; c0 < n; c0 += TILE) {
                int cn = Math.min(TILE, n - c0);
                distances(f, r0, rn, norms, f, c0, cn, norms, dist);
                for (int i = 0; i < rn; i++) {
                    int bo = i * (k + 1);
                    for (int j = 0; j < cn; j++) {
                        float v = dist[i * TILE + j];
                        if (v < best[bo + k]) {
                            // insertion into the row's sorted k + 1 smallest
                            int p = k;
                            while (p > 0 && best[bo + p - 1] > v) {
                                best[bo + p] = best[bo + p - 1];
                                p--;
                            }
                            best[bo + p] = v;
                        }
                    }
                }
            }
            for (int i = 0; i < rn; i++) {
                radii[r0 + i] = best[i * (k + 1) + k];
            }
        });
        return radii;
    }

    /** For each point: is its squared distance to some centre at most that centre's radius. */
    public static boolean[] covered(Features points, Features centres, float[] radii) {
        int n = points.n();
        int m = centres.n();
        float[] pn = norms(points);
        float[] cnorm = norms(centres);
        boolean[] in = new boolean[n];
        int tiles = (n + TILE - 1) / TILE;
        IntStream.range(0, tiles).parallel().forEach(t -> {
            int r0 = t * TILE;
            int rn = Math.min(TILE, n - r0);
            float[] dist = new float[TILE * TILE];
            int open = rn;
            for (int c0 = 0; c0 < m && open > 0; c0 += TILE) {
                int cn = Math.min(TILE, m - c0);
                distances(points, r0, rn, pn, centres, c0, cn, cnorm, dist);
                for (int i = 0; i < rn; i++) {
                    if (in[r0 + i]) {
                        continue;
                    }
                    for (int j = 0; j < cn; j++) {
                        if (dist[i * TILE + j] <= radii[c0 + j]) {
                            in[r0 + i] = true;
                            open--;
                            break;
                        }
                    }
                }
            }
        });
        return in;
    }

    static float[] norms(Features f) {
        float[] x = f.data();
        int d = f.d();
        float[] out = new float[f.n()];
        for (int i = 0; i < f.n(); i++) {
            double s = 0;
            for (int p = i * d, e = p + d; p < e; p++) {
                s += (double) x[p] * x[p];
            }
            out[i] = (float) s;
        }
        return out;
    }

    /**
     * Squared distances of rows {@code [r0, r0 + rn)} of a to rows {@code [c0, c0 + cn)} of b into
     * {@code out[i * TILE + j]}. The dot products run four rows by four columns at a time so that
     * sixteen independent sums keep the floating-point units busy (plain Java cannot vectorise a
     * single float reduction).
     */
    static void distances(Features a, int r0, int rn, float[] an, Features b, int c0, int cn, float[] bn, float[] out) {
        float[] x = a.data();
        float[] y = b.data();
        int d = a.d();
        int i = 0;
        for (; i + 4 <= rn; i += 4) {
            int a0 = (r0 + i) * d, a1 = a0 + d, a2 = a1 + d, a3 = a2 + d;
            int j = 0;
            for (; j + 4 <= cn; j += 4) {
                int b0 = (c0 + j) * d, b1 = b0 + d, b2 = b1 + d, b3 = b2 + d;
                float s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
                float s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
                for (int p = 0; p < d; p++) {
                    float x0 = x[a0 + p], x1 = x[a1 + p], x2 = x[a2 + p], x3 = x[a3 + p];
                    float y0 = y[b0 + p], y1 = y[b1 + p], y2 = y[b2 + p], y3 = y[b3 + p];
                    s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
                    s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
                    s20 += x2 * y0; s21 += x2 * y1; s22 += x2 * y2; s23 += x2 * y3;
                    s30 += x3 * y0; s31 += x3 * y1; s32 += x3 * y2; s33 += x3 * y3;
                }
                put(out, i, j, an, bn, r0, c0, s00, s01, s02, s03);
                put(out, i + 1, j, an, bn, r0, c0, s10, s11, s12, s13);
                put(out, i + 2, j, an, bn, r0, c0, s20, s21, s22, s23);
                put(out, i + 3, j, an, bn, r0, c0, s30, s31, s32, s33);
            }
            for (; j < cn; j++) {
                for (int q = 0; q < 4; q++) {
                    out[(i + q) * TILE + j] = one(x, (r0 + i + q) * d, y, (c0 + j) * d, d, an[r0 + i + q], bn[c0 + j]);
                }
            }
        }
        for (; i < rn; i++) {
            for (int j = 0; j < cn; j++) {
                out[i * TILE + j] = one(x, (r0 + i) * d, y, (c0 + j) * d, d, an[r0 + i], bn[c0 + j]);
            }
        }
    }

    private static void put(float[] out, int i, int j, float[] an, float[] bn, int r0, int c0,
                            float s0, float s1, float s2, float s3) {
        float na = an[r0 + i];
        int o = i * TILE + j;
        out[o] = Math.max(na + bn[c0 + j] - 2 * s0, 0f);
        out[o + 1] = Math.max(na + bn[c0 + j + 1] - 2 * s1, 0f);
        out[o + 2] = Math.max(na + bn[c0 + j + 2] - 2 * s2, 0f);
        out[o + 3] = Math.max(na + bn[c0 + j + 3] - 2 * s3, 0f);
    }

    private static float one(float[] x, int xo, float[] y, int yo, int d, float nx, float ny) {
        float s = 0;
        for (int p = 0; p < d; p++) {
            s += x[xo + p] * y[yo + p];
        }
        return Math.max(nx + ny - 2 * s, 0f);
    }
}
