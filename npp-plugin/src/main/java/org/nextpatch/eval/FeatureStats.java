package org.nextpatch.eval;

import org.nextpatch.util.NppException;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;

/**
 * Mean and unbiased covariance of a feature matrix, the Gaussian the Frechet distance compares
 * (the ADM evaluator's {@code mu} and {@code sigma}: {@code np.mean(acts, 0)} and
 * {@code np.cov(acts, rowvar=False)}, both in float64).
 *
 * @param mu    mean, length D
 * @param sigma covariance D x D, divided by N - 1
 */
public record FeatureStats(double[] mu, double[][] sigma) {

    public FeatureStats {
        if (sigma.length != mu.length) {
            throw new NppException("statistics: mu has " + mu.length + " entries but sigma has " + sigma.length + " rows");
        }
        for (double[] row : sigma) {
            if (row.length != mu.length) {
                throw new NppException("statistics: sigma is not square (" + sigma.length + " x " + row.length + ")");
            }
        }
    }

    /** Dimension D. */
    public int dim() {
        return mu.length;
    }

    /**
     * Mean and unbiased covariance of the rows. Computed in float64 on centred values, in row
     * blocks (the block is transposed so the inner products run over contiguous memory) and over
     * all cores; N = 50,000 and D = 2048 take a few minutes on two cores.
     */
    public static FeatureStats of(Features f) {
        int n = f.n();
        int d = f.d();
        if (n < 2) {
            throw new NppException("statistics need at least 2 feature rows, got " + n);
        }
        float[] x = f.data();
        double[] mu = new double[d];
        for (int i = 0; i < n; i++) {
            int off = i * d;
            for (int j = 0; j < d; j++) {
                mu[j] += x[off + j];
            }
        }
        for (int j = 0; j < d; j++) {
            mu[j] /= n;
        }
        double[][] cov = new double[d][d];
        final int block = 128;
        double[][] cols = new double[d][block];
        for (int start = 0; start < n; start += block) {
            int b = Math.min(block, n - start);
            for (int r = 0; r < b; r++) {
                int off = (start + r) * d;
                for (int j = 0; j < d; j++) {
                    cols[j][r] = x[off + j] - mu[j];
                }
            }
            final int bb = b;
            // upper triangle rows, handed out dynamically (row i has d - i entries)
            AtomicInteger next = new AtomicInteger();
            IntStream.range(0, Math.max(1, Math.min(d, Runtime.getRuntime().availableProcessors()))).parallel().forEach(t -> {
                for (int i = next.getAndIncrement(); i < d; i = next.getAndIncrement()) {
                    double[] ci = cols[i];
                    double[] row = cov[i];
                    for (int j = i; j < d; j++) {
                        double[] cj = cols[j];
                        double s = 0;
                        for (int r = 0; r < bb; r++) {
                            s += ci[r] * cj[r];
                        }
                        row[j] += s;
                    }
                }
            });
        }
        for (int i = 0; i < d; i++) {
            for (int j = i; j < d; j++) {
                double v = cov[i][j] / (n - 1);
                cov[i][j] = v;
                cov[j][i] = v;
            }
        }
        return new FeatureStats(mu, cov);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof FeatureStats s && Arrays.equals(mu, s.mu) && Arrays.deepEquals(sigma, s.sigma);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(mu) * 31 + Arrays.deepHashCode(sigma);
    }

    @Override
    public String toString() {
        return "FeatureStats(D=" + mu.length + ")";
    }
}
