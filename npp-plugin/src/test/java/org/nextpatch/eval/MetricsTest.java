package org.nextpatch.eval;

import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.LUDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The metrics against closed forms and naive independent computations. */
class MetricsTest {

    private static double[][] randomSpd(Random r, int d) {
        double[][] a = new double[d][d];
        for (double[] row : a) {
            for (int j = 0; j < d; j++) {
                row[j] = r.nextGaussian();
            }
        }
        double[][] s = new double[d][d];
        for (int i = 0; i < d; i++) {
            for (int j = 0; j < d; j++) {
                double v = 0;
                for (int k = 0; k < d; k++) {
                    v += a[i][k] * a[j][k];
                }
                s[i][j] = v + (i == j ? 0.1 : 0);
            }
        }
        return s;
    }

    @Test
    void frechetOfDiagonalGaussiansMatchesClosedForm() {
        double[] mu1 = {0, 1, 2, -1};
        double[] mu2 = {1, 1, 0, 3};
        double[] a = {1, 4, 0.25, 9};
        double[] b = {4, 1, 1, 0.01};
        double[][] s1 = new double[4][4];
        double[][] s2 = new double[4][4];
        double expected = 0;
        for (int i = 0; i < 4; i++) {
            s1[i][i] = a[i];
            s2[i][i] = b[i];
            expected += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]) + a[i] + b[i] - 2 * Math.sqrt(a[i] * b[i]);
        }
        double fid = Frechet.distance(new FeatureStats(mu1, s1), new FeatureStats(mu2, s2));
        assertEquals(expected, fid, 1e-10); // closed form: sum (sqrt(a) - sqrt(b))^2 + |dmu|^2
    }

    @Test
    void frechetOf2x2FullCovariancesMatchesClosedForm() {
        // for a 2x2 matrix M with positive eigenvalues, Tr sqrt(M) = sqrt(Tr M + 2 sqrt(det M))
        double[][] s1 = {{2.0, 0.7}, {0.7, 1.0}};
        double[][] s2 = {{0.5, -0.3}, {-0.3, 3.0}};
        double[] mu1 = {0.3, -0.2};
        double[] mu2 = {-1.0, 0.5};
        double trProd = s1[0][0] * s2[0][0] + s1[0][1] * s2[1][0] + s1[1][0] * s2[0][1] + s1[1][1] * s2[1][1];
        double det = (s1[0][0] * s1[1][1] - s1[0][1] * s1[1][0]) * (s2[0][0] * s2[1][1] - s2[0][1] * s2[1][0]);
        double trSqrt = Math.sqrt(trProd + 2 * Math.sqrt(det));
        double expected = 1.3 * 1.3 + 0.7 * 0.7 + 3.0 + 3.5 - 2 * trSqrt;
        assertEquals(expected, Frechet.distance(new FeatureStats(mu1, s1), new FeatureStats(mu2, s2)), 1e-10);
    }

    @Test
    void frechetOfFullCovariancesMatchesDenmanBeaversSqrtm() {
        Random r = new Random(7);
        int d = 6;
        double[][] s1 = randomSpd(r, d);
        double[][] s2 = randomSpd(r, d);
        double[] mu1 = new double[d];
        double[] mu2 = new double[d];
        double diff = 0;
        for (int i = 0; i < d; i++) {
            mu1[i] = r.nextGaussian();
            mu2[i] = r.nextGaussian();
            diff += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]);
        }
        // independent: the principal square root of the (non-symmetric) product by Denman-Beavers
        RealMatrix prod = new Array2DRowRealMatrix(s1).multiply(new Array2DRowRealMatrix(s2));
        RealMatrix y = prod;
        RealMatrix z = org.apache.commons.math3.linear.MatrixUtils.createRealIdentityMatrix(d);
        for (int it = 0; it < 60; it++) {
            RealMatrix yi = new LUDecomposition(y).getSolver().getInverse();
            RealMatrix zi = new LUDecomposition(z).getSolver().getInverse();
            y = y.add(zi).scalarMultiply(0.5);
            z = z.add(yi).scalarMultiply(0.5);
        }
        assertTrue(y.multiply(y).subtract(prod).getNorm() < 1e-8 * prod.getNorm(), "Denman-Beavers converged");
        double expected = diff + Frechet.trace(s1) + Frechet.trace(s2) - 2 * y.getTrace();
        double fid = Frechet.distance(new FeatureStats(mu1, s1), new FeatureStats(mu2, s2));
        assertEquals(expected, fid, 1e-8 * Math.abs(expected));
    }

    private static Features gaussian(Random r, int n, int d, double shift) {
        float[] x = new float[n * d];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (r.nextGaussian() + shift + 0.3 * (i % d));
        }
        return new Features(n, d, x);
    }

    @Test
    void covarianceIsUnbiasedAndMatchesNaive() {
        Random r = new Random(1);
        Features f = gaussian(r, 300, 5, 0);
        FeatureStats s = FeatureStats.of(f);
        for (int a = 0; a < 5; a++) {
            double ma = 0;
            for (int i = 0; i < 300; i++) ma += f.data()[i * 5 + a];
            ma /= 300;
            assertEquals(ma, s.mu()[a], 1e-12);
            for (int b = 0; b < 5; b++) {
                double mb = 0;
                for (int i = 0; i < 300; i++) mb += f.data()[i * 5 + b];
                mb /= 300;
                double c = 0;
                for (int i = 0; i < 300; i++) c += (f.data()[i * 5 + a] - ma) * (f.data()[i * 5 + b] - mb);
                assertEquals(c / 299, s.sigma()[a][b], 1e-10); // np.cov divides by N - 1
            }
        }
    }

    @Test
    void identicalSetsGiveZeroFidAndFullPrecisionRecall() {
        Random r = new Random(2);
        Features f = gaussian(r, 400, 16, 0);
        FeatureStats s = FeatureStats.of(f);
        assertEquals(0, Frechet.distance(s, s), 1e-8);
        PrecisionRecall.Result pr = PrecisionRecall.compute(f, f);
        assertEquals(1.0, pr.precision(), 0);
        assertEquals(1.0, pr.recall(), 0);
    }

    @Test
    void singularCovariancesStillGiveZeroForIdenticalSets() {
        // fewer samples than dimensions: rank-deficient covariance, as with small sample sets
        Random r = new Random(3);
        Features f = gaussian(r, 20, 64, 0);
        FeatureStats s = FeatureStats.of(f);
        double fid = Frechet.distance(s, s);
        assertTrue(Double.isFinite(fid));
        assertEquals(0, fid, 1e-6);
    }

    @Test
    void disjointFarSetsGiveZeroPrecisionRecall() {
        Random r = new Random(4);
        Features a = gaussian(r, 200, 8, 0);
        Features b = gaussian(r, 150, 8, 1000);
        PrecisionRecall.Result pr = PrecisionRecall.compute(a, b);
        assertEquals(0.0, pr.precision(), 0);
        assertEquals(0.0, pr.recall(), 0);
        double fid = Frechet.distance(FeatureStats.of(a), FeatureStats.of(b));
        assertEquals(8 * 1000.0 * 1000.0, fid, 8 * 1000.0 * 1000.0 * 0.01); // |dmu|^2 dominates
    }

    @Test
    void precisionRecallMatchNaiveSortedDistances() {
        Random r = new Random(5);
        int d = 37; // not a multiple of the 4x4 kernel, tiles with remainders
        Features ref = gaussian(r, 150, d, 0);
        Features sam = gaussian(r, 131, d, 0.4);
        PrecisionRecall.Result pr = PrecisionRecall.compute(ref, sam);
        double[] refR = naiveRadii(ref, 3);
        double[] samR = naiveRadii(sam, 3);
        int p = 0;
        for (int i = 0; i < sam.n(); i++) {
            for (int j = 0; j < ref.n(); j++) {
                if (dist(sam, i, ref, j) <= refR[j]) { p++; break; }
            }
        }
        int rc = 0;
        for (int j = 0; j < ref.n(); j++) {
            for (int i = 0; i < sam.n(); i++) {
                if (dist(ref, j, sam, i) <= samR[i]) { rc++; break; }
            }
        }
        float[] radii = PrecisionRecall.radii(ref, 3);
        for (int i = 0; i < ref.n(); i++) {
            assertEquals(refR[i], radii[i], 1e-4 * refR[i]); // float32 dot products vs float64
        }
        assertEquals((double) p / sam.n(), pr.precision(), 1e-12);
        assertEquals((double) rc / ref.n(), pr.recall(), 1e-12);
        assertTrue(pr.precision() > 0 && pr.precision() < 1, "a non-trivial case: " + pr);
    }

    private static double dist(Features a, int i, Features b, int j) {
        double s = 0;
        for (int k = 0; k < a.d(); k++) {
            double t = a.data()[i * a.d() + k] - b.data()[j * b.d() + k];
            s += t * t;
        }
        return s;
    }

    private static double[] naiveRadii(Features f, int k) {
        double[] out = new double[f.n()];
        for (int i = 0; i < f.n(); i++) {
            double[] row = new double[f.n() - 1];
            int c = 0;
            for (int j = 0; j < f.n(); j++) {
                if (j != i) row[c++] = dist(f, i, f, j);
            }
            Arrays.sort(row);
            out[i] = row[k - 1]; // k-th nearest other point
        }
        return out;
    }

    @Test
    void inceptionScoreOfUniformAndOneHotPredictions() {
        int classes = 10;
        int n = 12000; // splits of 5000, 5000 and 2000
        float[] uniform = new float[n * classes];
        assertEquals(1.0, InceptionScore.fromLogits(new Features(n, classes, uniform)), 1e-12);
        float[] oneHot = new float[n * classes];
        for (int i = 0; i < n; i++) {
            oneHot[i * classes + i % classes] = 80f; // softmax: other classes get e^-80
        }
        // confident and balanced over all classes: KL = log(classes) in every split
        assertEquals(classes, InceptionScore.fromLogits(new Features(n, classes, oneHot)), 1e-9);
    }

    @Test
    void inceptionScoreOfATwoClassExampleByHand() {
        double[] p = {0.9, 0.1, 0.1, 0.9, 0.5, 0.5, 0.5, 0.5};
        // marginal (0.5, 0.5); KL rows: 0.9 ln 1.8 + 0.1 ln 0.2 (twice), 0 (twice)
        double kl = (2 * (0.9 * Math.log(1.8) + 0.1 * Math.log(0.2))) / 4;
        assertEquals(Math.exp(kl), InceptionScore.fromProbabilities(p, 2, 5000), 1e-12);
        // splits of 2: first split rows 0-1 (KL each 0.9 ln 1.8 + 0.1 ln 0.2), second split 1.0
        double first = Math.exp(0.9 * Math.log(1.8) + 0.1 * Math.log(0.2));
        assertEquals((first + 1.0) / 2, InceptionScore.fromProbabilities(p, 2, 2), 1e-12);
    }

    @Test
    void pythonFloatFormatting() {
        assertEquals("1.0", PyFloat.repr(1.0));
        assertEquals("0.1", PyFloat.repr(0.1));
        assertEquals("1e-05", PyFloat.repr(1e-5));
        assertEquals("0.0001", PyFloat.repr(1e-4));
        assertEquals("0.00025", PyFloat.repr(2.5e-4));
        assertEquals("123456.789", PyFloat.repr(123456.789));
        assertEquals("1e+16", PyFloat.repr(1e16));
        assertEquals("1234567890123456.0", PyFloat.repr(1234567890123456.0));
        assertEquals("0.30000000000000004", PyFloat.repr(0.1 + 0.2));
        assertEquals("-2.5", PyFloat.repr(-2.5));
        assertEquals("nan", PyFloat.repr(Double.NaN));
    }
}
