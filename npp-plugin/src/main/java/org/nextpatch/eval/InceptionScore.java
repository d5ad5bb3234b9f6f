package org.nextpatch.eval;

import org.nextpatch.util.NppException;

/**
 * Inception Score as the ADM evaluator (after improved-GAN) computes it: class probabilities
 * {@code p(y|x) = softmax(logits)}; the rows are cut into consecutive splits of 5000 (the last one
 * may be shorter); each split scores {@code exp(mean_x KL(p(y|x) || p(y)))} with {@code p(y)} the
 * split's mean prediction; the result is the mean of the split scores.
 * <p>
 * One deliberate difference: {@code 0 * log 0} counts as 0 (its limit), where NumPy would give NaN
 * for an exactly zero probability. Probabilities are computed in float64.
 */
public final class InceptionScore {

    /** The evaluator's split size. */
    public static final int SPLIT_SIZE = 5000;

    private InceptionScore() {}

    /** IS from classifier logits [N, C], 5000-sample splits. */
    public static double fromLogits(Features logits) {
        return fromProbabilities(softmax(logits), logits.d(), SPLIT_SIZE);
    }

    /** IS from class probabilities (rows summing to 1), row-major [n, classes]. */
    public static double fromProbabilities(double[] p, int classes, int splitSize) {
        int n = p.length / classes;
        if (n == 0) {
            throw new NppException("Inception Score needs at least one prediction");
        }
        double total = 0;
        int splits = 0;
        for (int start = 0; start < n; start += splitSize) {
            int end = Math.min(n, start + splitSize);
            double[] marginal = new double[classes];
            for (int i = start; i < end; i++) {
                for (int c = 0; c < classes; c++) {
                    marginal[c] += p[i * classes + c];
                }
            }
            for (int c = 0; c < classes; c++) {
                marginal[c] /= end - start;
            }
            double kl = 0;
            for (int i = start; i < end; i++) {
                for (int c = 0; c < classes; c++) {
                    double q = p[i * classes + c];
                    if (q > 0) {
                        kl += q * (Math.log(q) - Math.log(marginal[c]));
                    }
                }
            }
            total += Math.exp(kl / (end - start));
            splits++;
        }
        return total / splits;
    }

    /** Row-wise softmax in float64 (max subtracted for stability). */
    public static double[] softmax(Features logits) {
        int n = logits.n();
        int c = logits.d();
        float[] x = logits.data();
        double[] out = new double[n * c];
        for (int i = 0; i < n; i++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < c; j++) {
                max = Math.max(max, x[i * c + j]);
            }
            double sum = 0;
            for (int j = 0; j < c; j++) {
                double e = Math.exp(x[i * c + j] - max);
                out[i * c + j] = e;
                sum += e;
            }
            for (int j = 0; j < c; j++) {
                out[i * c + j] /= sum;
            }
        }
        return out;
    }
}
