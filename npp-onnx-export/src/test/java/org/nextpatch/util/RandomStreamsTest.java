package org.nextpatch.util;

import org.junit.jupiter.api.Test;
import org.nextpatch.sample.Uniforms;
import org.nextpatch.util.RandomStreams.Purpose;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The streams of neighbouring seeds, purposes and indexes neither overlap nor correlate, and the
 * documented algorithm (docs/onnx-deployment.md, "Reproducible sampling") reproduces them bit for bit.
 */
class RandomStreamsTest {
    private static final long GAMMA = RandomStreams.GOLDEN_GAMMA;

    /**
     * SplittableRandom(x) walks x + k * GAMMA, so two generators draw the same numbers shifted by k
     * exactly when their seeds differ by k * GAMMA (mod 2^64). Multiplying every seed by GAMMA's inverse
     * puts all streams on one circle of 2^64 positions; the smallest gap between neighbours on it is
     * the fewest draws after which one stream runs into another.
     */
    static long fewestDrawsBeforeOverlap(long[] streamSeeds) {
        long inverse = GAMMA;
        for (int i = 0; i < 6; i++) {
            inverse *= 2 - GAMMA * inverse;  // Newton: inverse of an odd number mod 2^64
        }
        long[] pos = new long[streamSeeds.length];
        for (int i = 0; i < pos.length; i++) {
            pos[i] = (streamSeeds[i] * inverse) ^ Long.MIN_VALUE;  // flip the sign bit: signed sort = unsigned order
        }
        Arrays.sort(pos);
        long min = Long.MAX_VALUE;
        for (int i = 0; i < pos.length; i++) {
            long gap = (i + 1 < pos.length ? pos[i + 1] : pos[0]) - pos[i];  // the last wraps round the circle
            if (Long.compareUnsigned(gap, min) < 0) {
                min = gap;
            }
        }
        return min;
    }

    @Test
    void noTwoStreamsOfNeighbouringSeedsPurposesAndIndexesOverlap() {
        List<Long> seeds = new ArrayList<>();
        for (long seed = -4; seed < 28; seed++) {
            for (Purpose p : Purpose.values()) {
                for (long index = 0; index < 32; index++) {
                    seeds.add(RandomStreams.streamSeed(seed, p, index));
                }
            }
            for (long sub = 0; sub < 32; sub++) {
                seeds.add(RandomStreams.stream(seed, Purpose.DATA_ACCESS, 3, sub).nextLong());
            }
        }
        long[] all = seeds.stream().mapToLong(Long::longValue).toArray();
        // 14,336 streams: none runs into another within its first 2^30 draws (random seeds: expected ~2^36)
        assertTrue(Long.compareUnsigned(fewestDrawsBeforeOverlap(all), 1L << 30) > 0);

        // the old construction seed * GAMMA + index fails this check: seed S+1 is seed S shifted by one
        long[] old = new long[64];
        for (int i = 0; i < old.length; i++) {
            old[i] = (i / 8) * GAMMA + (i % 8);
        }
        assertEquals(1, fewestDrawsBeforeOverlap(old));
    }

    @Test
    void neighbouringStreamsDoNotCorrelateAtAnyShortShift() {
        int n = 4096;
        int maxLag = 4;
        double bound = 5 / Math.sqrt(n);  // 5 standard deviations of a Pearson r between independent streams
        for (long s = 0; s < 4; s++) {
            for (long i = 0; i < 4; i++) {
                float[] u = Uniforms.forImage(s, i, n);
                assertTrue(maxLaggedCorrelation(u, Uniforms.forImage(s + 1, i, n), maxLag) < bound, "seed " + s + " vs " + (s + 1));
                assertTrue(maxLaggedCorrelation(u, Uniforms.forImage(s, i + 1, n), maxLag) < bound, "image " + i + " vs " + (i + 1));
                assertTrue(maxLaggedCorrelation(u, Uniforms.forImage(s + 1, i + 1, n), maxLag) < bound, "diagonal");
            }
        }
        // the check sees the old construction's shift: seed 1 image 0 was seed 0 image 0 one draw later
        float[] old0 = draws(new SplittableRandom(0), n);
        float[] old1 = draws(new SplittableRandom(GAMMA), n);
        assertTrue(maxLaggedCorrelation(old0, old1, maxLag) > 0.99);
    }

    private static float[] draws(SplittableRandom r, int n) {
        float[] u = new float[n];
        for (int t = 0; t < n; t++) {
            u[t] = (float) r.nextDouble();
        }
        return u;
    }

    /** max over lags -L..L of |Pearson r| between a[t] and b[t + lag]. */
    static double maxLaggedCorrelation(float[] a, float[] b, int maxLag) {
        double max = 0;
        for (int lag = -maxLag; lag <= maxLag; lag++) {
            int from = Math.max(0, -lag);
            int to = Math.min(a.length, b.length - lag);
            double ma = 0;
            double mb = 0;
            int m = to - from;
            for (int t = from; t < to; t++) {
                ma += a[t];
                mb += b[t + lag];
            }
            ma /= m;
            mb /= m;
            double sab = 0;
            double saa = 0;
            double sbb = 0;
            for (int t = from; t < to; t++) {
                double x = a[t] - ma;
                double y = b[t + lag] - mb;
                sab += x * y;
                saa += x * x;
                sbb += y * y;
            }
            max = Math.max(max, Math.abs(sab / Math.sqrt(saa * sbb)));
        }
        return max;
    }

    // ---- the documented algorithm, written out as a caller outside Java would ------------------------

    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private static int mix32(long z) {
        z = (z ^ (z >>> 33)) * 0x62A9D9ED799705F5L;
        return (int) (((z ^ (z >>> 28)) * 0xCB24D0A5C88C35B3L) >>> 32);
    }

    /** SplittableRandom(seed) written out: nextLong, nextDouble, nextInt(bound). */
    private static final class Reference {
        long state;

        Reference(long seed, long purpose, long index) {
            long h = mix64(seed + GAMMA);
            h = mix64((h ^ purpose) + GAMMA);
            state = mix64((h ^ index) + GAMMA);
        }

        double nextDouble() {
            state += GAMMA;
            return (mix64(state) >>> 11) * 0x1.0p-53;
        }

        int nextInt(int bound) {
            state += GAMMA;
            int r = mix32(state);
            int m = bound - 1;
            if ((bound & m) == 0) {
                return r & m;
            }
            int u = r >>> 1;
            while (u + m - (r = u % bound) < 0) {
                state += GAMMA;
                u = mix32(state) >>> 1;
            }
            return r;
        }
    }

    @Test
    void theDocumentedAlgorithmReproducesTokenUniformsAndLabels() {
        for (long seed : new long[] {0, 1, -7, Long.MAX_VALUE}) {
            for (long image : new long[] {0, 1, 999}) {
                Reference r = new Reference(seed, 1, image);
                float[] u = Uniforms.forImage(seed, image, 300);
                for (int t = 0; t < u.length; t++) {
                    assertEquals((float) r.nextDouble(), u[t], "seed " + seed + " image " + image + " token " + t);
                }
            }
            for (int classes : new int[] {10, 1000, 1 << 20, Integer.MAX_VALUE - 1}) {
                Reference r = new Reference(seed, 2, 0);
                long[] labels = Uniforms.labels(seed, 200, classes);
                for (long label : labels) {
                    assertEquals(r.nextInt(classes), label);
                }
            }
        }
    }

    @Test
    void theDocumentedTestVector() {
        // docs/onnx-deployment.md gives these first uniforms of seed 0, images 0 and 1, for callers to check against
        assertArrayEquals(new float[] {0.8193383f, 0.2532764f, 0.8549990f}, Uniforms.forImage(0, 0, 3), 1e-7f);
        assertArrayEquals(new float[] {0.9790978f, 0.2749079f, 0.9528292f}, Uniforms.forImage(0, 1, 3), 1e-7f);
        assertArrayEquals(new long[] {242, 535, 211, 195, 797}, Uniforms.labels(0, 5, 1000));
    }
}
