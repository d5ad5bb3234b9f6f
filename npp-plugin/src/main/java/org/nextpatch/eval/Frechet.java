package org.nextpatch.eval;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.util.NppException;

import java.util.stream.IntStream;

/**
 * The Frechet distance between two Gaussians, as the ADM evaluator computes FID and sFID:
 * {@code |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr(sqrtm(S1 S2))}.
 * <p>
 * Why not {@code sqrtm} of the product: S1 S2 is not symmetric, and a general matrix square root
 * is fragile for the nearly singular covariances of 2048 features. Only the trace is needed, and
 * S1 S2 has the same eigenvalues as the symmetric positive semi-definite {@code sqrt(S1) S2 sqrt(S1)}
 * (similar matrices), so {@code Tr(sqrtm(S1 S2)) = sum_i sqrt(lambda_i(sqrt(S1) S2 sqrt(S1)))}: two
 * symmetric eigen-decompositions ({@link SymmetricEigen}: Householder tridiagonalisation and implicit
 * QL, checked against Apache Commons Math in the tests) and two matrix products.
 * <p>
 * Rounding can make tiny eigenvalues slightly negative, whose square roots would be imaginary;
 * like the evaluator (which drops an imaginary part when it is within 1e-3 of zero) they are
 * dropped when negligible, and an error is raised otherwise. When the result is not finite the
 * evaluator's retry is applied: 1e-6 I added to both covariances.
 */
public final class Frechet {
    private static final Logger LOG = LogManager.getLogger(Frechet.class);

    /** The evaluator's diagonal offset for the retry. */
    public static final double EPS = 1e-6;

    private Frechet() {}

    /** Frechet distance between the Gaussians of two feature sets' statistics. */
    public static double distance(FeatureStats a, FeatureStats b) {
        if (a.dim() != b.dim()) {
            throw new NppException("statistics have different dimensions: " + a.dim() + " and " + b.dim());
        }
        int d = a.dim();
        double diff2 = 0;
        for (int i = 0; i < d; i++) {
            double t = a.mu()[i] - b.mu()[i];
            diff2 += t * t;
        }
        double tr1 = trace(a.sigma());
        double tr2 = trace(b.sigma());
        double trCov = traceSqrtProduct(a.sigma(), b.sigma(), 0);
        if (!Double.isFinite(trCov)) {
            LOG.warn("fid calculation produces singular product; adding {} to diagonal of cov estimates", EPS);
            trCov = traceSqrtProduct(a.sigma(), b.sigma(), EPS);
        }
        return diff2 + tr1 + tr2 - 2 * trCov;
    }

    /**
     * {@code Tr(sqrtm((S1 + eps I)(S2 + eps I)))} for symmetric positive semi-definite S1, S2; NaN
     * when the inputs are not finite or a decomposition fails.
     */
    public static double traceSqrtProduct(double[][] s1, double[][] s2, double eps) {
        int d = s1.length;
        double[][] a = symmetrized(s1, eps);
        double[][] b = symmetrized(s2, eps);
        if (!allFinite(a) || !allFinite(b)) {
            return Double.NaN;
        }
        double[][] r;
        try {
            r = sqrtPsd(a);
        } catch (ArithmeticException e) {
            return Double.NaN;
        }
        if (!allFinite(r)) {
            return Double.NaN;
        }
        double[][] m = multiply(multiply(r, b), r);
        // m is symmetric in exact arithmetic; symmetrize away the rounding before decomposing
        for (int i = 0; i < d; i++) {
            for (int j = i + 1; j < d; j++) {
                double v = 0.5 * (m[i][j] + m[j][i]);
                m[i][j] = v;
                m[j][i] = v;
            }
        }
        double[] lambda;
        try {
            lambda = eigen(m, false).values;
        } catch (ArithmeticException e) {
            return Double.NaN;
        }
        double max = 0;
        for (double l : lambda) {
            max = Math.max(max, Math.abs(l));
        }
        // eigenvalues below the rounding level of the largest one are zero eigenvalues blurred by
        // rounding; their square roots (~1e-8 each) would add up to a bias on rank-deficient products
        double noise = d * Math.ulp(1.0) * max;
        double sum = 0;
        for (double l : lambda) {
            if (l >= 0) {
                sum += l > noise ? Math.sqrt(l) : 0;
            } else if (Math.sqrt(-l) > 1e-3 && -l > 1e-9 * max) {
                throw new NppException("Frechet distance: imaginary component " + Math.sqrt(-l)
                        + " in the square root of the covariance product (covariances not positive semi-definite?)");
            }
            // else: a rounding-level negative eigenvalue, i.e. a negligible imaginary part: dropped
        }
        return sum;
    }

    /** Symmetric PSD square root via eigen-decomposition; negative rounding eigenvalues clamp to 0. */
    static double[][] sqrtPsd(double[][] s) {
        int d = s.length;
        SymmetricEigen eig = eigen(s, true);
        double[][] vt = eig.vectors;
        double[][] scaled = new double[d][];
        double max = 0;
        for (double l : eig.values) {
            max = Math.max(max, Math.abs(l));
        }
        double noise = d * Math.ulp(1.0) * max; // rounding-level eigenvalues are zeros (see above)
        for (int k = 0; k < d; k++) {
            double f = eig.values[k] > noise ? Math.sqrt(eig.values[k]) : 0;
            scaled[k] = new double[d];
            for (int j = 0; j < d; j++) {
                scaled[k][j] = vt[k][j] * f;
            }
        }
        // sqrt(S) = V diag(sqrt(lambda)) V^T = (scaled)^T vt, i.e. sum_k scaled[k] (x) vt[k]
        return transposedTimes(scaled, vt);
    }

    /**
     * Eigen-decomposition of a symmetric matrix with the project's {@link SymmetricEigen}. Apache
     * Commons Math's {@code EigenDecomposition} was the first choice, but it gives up on
     * rank-deficient covariances (fewer samples than features) and took 96 s for one 2048 x 2048
     * covariance where this takes 38 s (7 s without vectors); Commons Math remains the independent
     * reference in the tests.
     */
    static SymmetricEigen eigen(double[][] m, boolean wantVectors) {
        return SymmetricEigen.of(m, wantVectors);
    }

    /** a^T b for square matrices, rows of the result in parallel. */
    static double[][] transposedTimes(double[][] a, double[][] b) {
        int n = a.length;
        double[][] c = new double[n][n];
        IntStream.range(0, n).parallel().forEach(i -> {
            double[] ci = c[i];
            for (int k = 0; k < n; k++) {
                double aki = a[k][i];
                if (aki == 0) {
                    continue;
                }
                double[] bk = b[k];
                for (int j = 0; j < n; j++) {
                    ci[j] += aki * bk[j];
                }
            }
        });
        return c;
    }

    private static double[][] symmetrized(double[][] s, double eps) {
        int d = s.length;
        double[][] out = new double[d][d];
        for (int i = 0; i < d; i++) {
            for (int j = 0; j < d; j++) {
                out[i][j] = 0.5 * (s[i][j] + s[j][i]);
            }
            out[i][i] += eps;
        }
        return out;
    }

    private static boolean allFinite(double[][] m) {
        for (double[] r : m) {
            for (double v : r) {
                if (!Double.isFinite(v)) {
                    return false;
                }
            }
        }
        return true;
    }

    static double trace(double[][] m) {
        double t = 0;
        for (int i = 0; i < m.length; i++) {
            t += m[i][i];
        }
        return t;
    }

    /** a b, rows in parallel (i-k-j order so the inner loop streams over contiguous rows). */
    static double[][] multiply(double[][] a, double[][] b) {
        int n = a.length;
        int k = b.length;
        int m = b[0].length;
        double[][] c = new double[n][m];
        IntStream.range(0, n).parallel().forEach(i -> {
            double[] ci = c[i];
            double[] ai = a[i];
            for (int p = 0; p < k; p++) {
                double aip = ai[p];
                if (aip == 0) {
                    continue;
                }
                double[] bp = b[p];
                for (int j = 0; j < m; j++) {
                    ci[j] += aip * bp[j];
                }
            }
        });
        return c;
    }
}
