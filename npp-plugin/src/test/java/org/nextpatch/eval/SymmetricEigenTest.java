package org.nextpatch.eval;

import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The fallback symmetric eigensolver against Commons Math and against A v = lambda v. */
class SymmetricEigenTest {

    private static double[][] randomSymmetric(Random r, int n) {
        double[][] a = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = i; j < n; j++) {
                a[i][j] = r.nextGaussian();
                a[j][i] = a[i][j];
            }
        }
        return a;
    }

    /** Covariance of n ReLU-like samples in d > n dimensions: rank n - 1, many zero eigenvalues. */
    static double[][] rankDeficientCovariance(int n, int d, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n * d];
        for (int i = 0; i < x.length; i++) {
            x[i] = (i % d) < d / 4 ? 0f : (float) Math.max(0, r.nextGaussian());
        }
        return FeatureStats.of(new Features(n, d, x)).sigma();
    }

    private static void checkDecomposition(double[][] a, SymmetricEigen e, double tol) {
        int n = a.length;
        double scale = 0;
        for (double v : e.values) {
            scale = Math.max(scale, Math.abs(v));
        }
        for (int k = 0; k < n; k++) {
            double[] v = e.vectors[k];
            double norm = 0;
            for (double t : v) norm += t * t;
            assertEquals(1, norm, 1e-10, "unit eigenvector " + k);
            for (int i = 0; i < n; i++) {
                double av = 0;
                for (int j = 0; j < n; j++) av += a[i][j] * v[j];
                assertEquals(e.values[k] * v[i], av, tol * Math.max(scale, 1), "A v = lambda v, vector " + k);
            }
        }
        for (int k = 0; k < Math.min(n, 10); k++) {
            for (int l = k + 1; l < n; l++) {
                double dot = 0;
                for (int i = 0; i < n; i++) dot += e.vectors[k][i] * e.vectors[l][i];
                assertEquals(0, dot, 1e-9, "orthogonal " + k + ", " + l);
            }
        }
    }

    @Test
    void matchesCommonsMathOnAFullRankMatrix() {
        double[][] a = randomSymmetric(new Random(1), 40);
        SymmetricEigen e = SymmetricEigen.of(a, true);
        double[] mine = e.values.clone();
        double[] ref = new EigenDecomposition(new Array2DRowRealMatrix(a)).getRealEigenvalues().clone();
        Arrays.sort(mine);
        Arrays.sort(ref);
        assertArrayEquals(ref, mine, 1e-11);
        checkDecomposition(a, e, 1e-11);
        double[] valuesOnly = SymmetricEigen.of(a, false).values.clone();
        Arrays.sort(valuesOnly);
        assertArrayEquals(mine, valuesOnly, 1e-12);
    }

    @Test
    void convergesWhereCommonsMathGivesUp() {
        double[][] a = rankDeficientCovariance(30, 200, 2);
        assertThrows(org.apache.commons.math3.exception.MaxCountExceededException.class,
                () -> new EigenDecomposition(new Array2DRowRealMatrix(a)), "the case the fallback exists for");
        SymmetricEigen e = SymmetricEigen.of(a, true);
        checkDecomposition(a, e, 1e-10);
        long positive = Arrays.stream(e.values).filter(v -> v > 1e-9).count();
        assertEquals(29, positive, "rank n - 1");
        // and the Frechet distance of the set to itself is 0 through that path
        FeatureStats s = new FeatureStats(new double[200], a);
        assertEquals(0, Frechet.distance(s, s), 1e-6);
    }

    @Test
    void smallAndDiagonalMatrices() {
        assertArrayEquals(new double[]{3}, SymmetricEigen.of(new double[][]{{3}}, true).values, 0);
        double[] v = SymmetricEigen.of(new double[][]{{2, 1}, {1, 2}}, false).values.clone();
        Arrays.sort(v);
        assertArrayEquals(new double[]{1, 3}, v, 1e-14);
        double[][] diag = new double[5][5];
        for (int i = 0; i < 5; i++) diag[i][i] = i == 2 ? 0 : i + 1;
        double[] dv = SymmetricEigen.of(diag, true).values.clone();
        Arrays.sort(dv);
        assertArrayEquals(new double[]{0, 1, 2, 4, 5}, dv, 1e-14);
        assertTrue(SymmetricEigen.of(new double[0][0], true).values.length == 0);
    }
}
