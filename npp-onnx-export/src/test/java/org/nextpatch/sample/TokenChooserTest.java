package org.nextpatch.sample;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Spec 6.5 sampling steps and the team's draw contract, checked against independent computations. */
class TokenChooserTest {

    private static SamplingSettings draw(double t, int k, double p) {
        return new SamplingSettings(1.0, -1, t, k, p, false);
    }

    @Test
    void greedyIsArgmaxLowestIndexOnTies() {
        TokenChooser c = new TokenChooser(SamplingSettings.greedy(1.0));
        assertEquals(2, c.choose(new float[]{1, 3, 5, 5, -1}, 0.99f));
        assertEquals(0, c.choose(new float[]{Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY}, 0.5f));
        // offset into a batch row
        assertEquals(1, c.choose(new float[]{9, 9, 0, 4, 1}, 2, 3, 0f));
    }

    @Test
    void inverseCdfInIndexOrder() {
        TokenChooser c = new TokenChooser(draw(1, 0, 1));
        float[] logits = {0, 0, 0, 0}; // p = 0.25 each
        assertEquals(0, c.choose(logits, 0.0f));
        assertEquals(0, c.choose(logits, 0.24f));
        assertEquals(1, c.choose(logits, 0.25f)); // cum must be > u
        assertEquals(3, c.choose(logits, 0.9999f));
        // no cumulative sum exceeds u (rounding): the largest index with p > 0
        assertEquals(2, TokenChooser.inverseCdf(new float[]{0.3f, 0.3f, 0.3f, 0f}, 4, 0.95f));
    }

    @Test
    void topKKeepsTies() {
        TokenChooser c = new TokenChooser(draw(1, 2, 1));
        float[] p = c.probabilities(new float[]{1, 3, 2, 3, 0}, 0, 5);
        // k-th largest value is 3 (tied): only the two 3s survive
        assertEquals(0f, p[0]);
        assertEquals(0f, p[2]);
        assertEquals(0.5f, p[1], 1e-7);
        assertEquals(0.5f, p[3], 1e-7);
        TokenChooser c3 = new TokenChooser(draw(1, 3, 1));
        float[] p3 = c3.probabilities(new float[]{1, 3, 2, 3, 2}, 0, 5);
        // 3rd largest is 2 (tied): four entries kept
        assertEquals(0f, p3[0]);
        assertTrue(p3[2] > 0 && p3[4] > 0);
    }

    @Test
    void topPKeepsTheFirstCrossingEntry() {
        // probabilities 0.5, 0.3, 0.15, 0.05 (given in shuffled index order)
        float[] logits = {(float) Math.log(0.15), (float) Math.log(0.5), (float) Math.log(0.05), (float) Math.log(0.3)};
        float[] p = new TokenChooser(draw(1, 0, 0.6)).probabilities(logits, 0, 4);
        // sorted cum: 0.5, 0.8 (crosses 0.6, kept), 0.95 (removed), 1.0 (removed)
        assertEquals(0.5f / 0.8f, p[1], 1e-6);
        assertEquals(0.3f / 0.8f, p[3], 1e-6);
        assertEquals(0f, p[0]);
        assertEquals(0f, p[2]);
        // p smaller than the first probability: entry 0 always kept
        float[] q = new TokenChooser(draw(1, 0, 0.1)).probabilities(logits, 0, 4);
        assertEquals(1f, q[1], 1e-7);
    }

    /** Ties at the crossing point: the stable descending order keeps the lower index. */
    @Test
    void topPTiesKeepIndexOrder() {
        float[] logits = {0f, 1f, 1f, 1f, -2f, -0f};
        float[] p = new TokenChooser(draw(1, 0, 0.5)).probabilities(logits, 0, logits.length);
        // three equal top entries (each about 0.31): cum 0.31, 0.62 (crosses, kept), then removed
        assertTrue(p[1] > 0 && p[2] > 0);
        assertEquals(0f, p[3]);
        assertEquals(0f, p[0]);
        assertEquals(0.5f, p[1], 1e-6);
        // -0 and 0 are equal logits (IEEE): a tie, so the lower index comes first and alone survives p = 0.4
        float[] q = new TokenChooser(draw(1, 0, 0.4)).probabilities(new float[]{-0f, 0f}, 0, 2);
        assertEquals(1f, q[0], 1e-7);
        assertEquals(0f, q[1]);
    }

    @Test
    void temperatureDividesLogits() {
        float[] logits = {0, 1, 2};
        float[] p = new TokenChooser(draw(0.5, 0, 1)).probabilities(logits, 0, 3);
        double z = 1 + Math.exp(2) + Math.exp(4);
        assertEquals(1 / z, p[0], 1e-6);
        assertEquals(Math.exp(4) / z, p[2], 1e-6);
        // temperature 0 is clamped to 1e-5: effectively greedy
        assertEquals(2, new TokenChooser(draw(0, 0, 1)).choose(logits, 0.999f));
    }

    /**
     * Statistical test: draws with the contract's uniforms follow the intended filtered distribution.
     * The expected distribution is computed independently in double precision from the spec's
     * definition; Pearson chi-square over N = 40,000 draws (fixed seed) must stay below the 0.001
     * critical value for its degrees of freedom, and filtered tokens must never be drawn.
     */
    @Test
    void drawsFollowTheFilteredDistribution() {
        float[] logits = new float[12];
        java.util.Random r = new java.util.Random(5);
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) (r.nextGaussian() * 1.5);
        }
        double[][] cases = {{1.0, 0, 1.0}, {0.7, 0, 1.0}, {1.3, 6, 1.0}, {1.0, 0, 0.8}, {0.8, 8, 0.9}};
        for (double[] cs : cases) {
            SamplingSettings s = draw(cs[0], (int) cs[1], cs[2]);
            double[] expected = expected(logits, cs[0], (int) cs[1], cs[2]);
            TokenChooser c = new TokenChooser(s);
            int n = 40_000;
            long[] counts = new long[logits.length];
            for (int i = 0; i < n; i++) {
                float u = Uniforms.forImage(11, i, 1)[0];
                counts[c.choose(logits, u)]++;
            }
            double chi2 = 0;
            int kept = 0;
            for (int v = 0; v < logits.length; v++) {
                if (expected[v] == 0) {
                    assertEquals(0, counts[v], "filtered token " + v + " drawn for " + Arrays.toString(cs));
                    continue;
                }
                kept++;
                double e = expected[v] * n;
                chi2 += (counts[v] - e) * (counts[v] - e) / e;
            }
            double critical = CHI2_0_001[kept - 1];
            assertTrue(chi2 < critical, "chi2 " + chi2 + " >= " + critical + " (df " + (kept - 1) + ") for " + Arrays.toString(cs));
        }
    }

    /** Chi-square critical values at alpha 0.001 for df = 0..11 (df 0: no test possible). */
    private static final double[] CHI2_0_001 = {Double.POSITIVE_INFINITY, 10.828, 13.816, 16.266, 18.467, 20.515,
            22.458, 24.322, 26.124, 27.877, 29.588, 31.264};

    /** Independent double-precision reference of spec 6.5's filtered distribution. */
    private static double[] expected(float[] logits, double t, int k, double topP) {
        int n = logits.length;
        double[] x = new double[n];
        for (int i = 0; i < n; i++) x[i] = logits[i] / Math.max(t, 1e-5);
        boolean[] keep = new boolean[n];
        Arrays.fill(keep, true);
        List<Integer> idx = new ArrayList<>();
        for (int i = 0; i < n; i++) idx.add(i);
        idx.sort(Comparator.comparingDouble(i -> -x[i]));
        if (k > 0) {
            for (int j = k; j < n; j++) keep[idx.get(j)] = false;
        }
        if (topP < 1) {
            double z = 0;
            for (int i = 0; i < n; i++) if (keep[i]) z += Math.exp(x[i]);
            double cum = 0;
            boolean crossed = false;
            for (int j = 0; j < n; j++) {
                int i = idx.get(j);
                if (!keep[i]) continue;
                if (crossed) { keep[i] = false; continue; }
                cum += Math.exp(x[i]) / z;
                if (cum > topP) crossed = true;
            }
        }
        double z = 0;
        for (int i = 0; i < n; i++) if (keep[i]) z += Math.exp(x[i]);
        double[] p = new double[n];
        for (int i = 0; i < n; i++) p[i] = keep[i] ? Math.exp(x[i]) / z : 0;
        return p;
    }

    @Test
    void settingsValidateWithFlagNames() {
        var e = assertThrows(org.nextpatch.util.NppException.class, () -> new SamplingSettings(2, -1, 1, -1, 1, false));
        assertTrue(e.getMessage().contains("--top-k"));
        assertThrows(org.nextpatch.util.NppException.class, () -> new SamplingSettings(2, -1, 1, 0, 0, false));
        SamplingSettings s = new SamplingSettings(2, 3, 1, 0, 1, false);
        assertTrue(s.guidedAtDecodeStep(3));
        assertTrue(!s.guidedAtDecodeStep(4));
        assertTrue(!SamplingSettings.of(1.0).guidedAtDecodeStep(0));
    }
}
