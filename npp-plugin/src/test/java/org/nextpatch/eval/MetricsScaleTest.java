package org.nextpatch.eval;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.util.Locale;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Timing of the metrics at Inception scale (2048-d features); off by default (minutes), run with
 * {@code -Dnpp.bench.metrics=2000} (rows per set). Prints the figures quoted in docs/benchmarks.md.
 */
@EnabledIfSystemProperty(named = "npp.bench.metrics", matches = "\\d+")
class MetricsScaleTest {

    @Test
    void inceptionSizedFeatures() {
        int n = Integer.getInteger("npp.bench.metrics");
        int d = 2048;
        Random r = new Random(1);
        float[] a = new float[n * d];
        float[] b = new float[n * d];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) Math.max(0, r.nextGaussian());
            b[i] = (float) Math.max(0, r.nextGaussian() + 0.1);
        }
        Features fa = new Features(n, d, a);
        Features fb = new Features(n, d, b);
        long t0 = System.nanoTime();
        FeatureStats sa = FeatureStats.of(fa);
        FeatureStats sb = FeatureStats.of(fb);
        double tStats = (System.nanoTime() - t0) / 1e9;
        t0 = System.nanoTime();
        double fid = Frechet.distance(sa, sb);
        double tFid = (System.nanoTime() - t0) / 1e9;
        t0 = System.nanoTime();
        PrecisionRecall.Result pr = PrecisionRecall.compute(fa, fb);
        double tPr = (System.nanoTime() - t0) / 1e9;
        System.err.printf(Locale.ROOT, "metrics at %d x %d per set: statistics of both %.1f s, Frechet distance %.1f s (FID %.3f), "
                + "precision/recall %.1f s (%s)%n", n, d, tStats, tFid, fid, tPr, pr);
        assertTrue(Double.isFinite(fid));
    }
}
