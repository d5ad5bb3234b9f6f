package org.nextpatch.serve;

import org.junit.jupiter.api.Test;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.sample.Uniforms;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The batcher on a recording engine (no ONNX): which requests share a run, which random numbers
 * each row gets (those of {@code npp sample}'s image i for the request's seed), slicing above the
 * batch limit, the bounded queue. The engine is held by a latch so batches form deterministically.
 */
class BatcherTest {
    static final int T = 4;

    /** Records each run; returns tokens that encode (class, first uniform) so rows can be traced. */
    static final class Recording implements GenerationEngine {
        final List<long[]> classes = new CopyOnWriteArrayList<>();
        final List<float[]> uniforms = new CopyOnWriteArrayList<>();
        final List<SamplingSettings> settings = new CopyOnWriteArrayList<>();
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch hold = new CountDownLatch(1);

        @Override
        public long[][] tokens(long[] c, float[] u, SamplingSettings s) {
            classes.add(c);
            uniforms.add(u);
            settings.add(s);
            entered.countDown();
            try {
                hold.await();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
            long[][] out = new long[c.length][T];
            for (int i = 0; i < c.length; i++) {
                out[i][0] = c[i];
                out[i][1] = Float.floatToIntBits(u[i * T]);
            }
            return out;
        }

        @Override
        public List<byte[]> pngs(long[][] tokens) {
            return java.util.Collections.nCopies(tokens.length, new byte[]{1});
        }

        @Override
        public void close() {
        }
    }

    static GenerateRequest req(long seed, double cfg, long... classes) {
        return new GenerateRequest(classes, new SamplingSettings(cfg, -1, 1.0, 0, 1.0, false), seed, true, false);
    }

    @Test
    void coalescesSameSettingsKeepsPerRowUniformsAndSlices() throws Exception {
        Recording e = new Recording();
        Metrics m = new Metrics(() -> 0, () -> 0, () -> 0);
        try (Batcher b = new Batcher(e, T, 5, 0, 16, m)) {
            Batcher.Job first = b.submit(req(1, 4.0, 0));
            assertTrue(e.entered.await(1, TimeUnit.MINUTES));
            // while the engine is held: two requests with cfg 4, one with cfg 2, one of 7 rows (above the limit of 5)
            Batcher.Job a = b.submit(req(10, 4.0, 1, 2));
            Batcher.Job other = b.submit(req(11, 2.0, 3));
            Batcher.Job c = b.submit(req(12, 4.0, 4, 5));
            Batcher.Job big = b.submit(req(13, 2.0, 0, 1, 2, 3, 4, 5, 6));
            assertEquals(4, b.waiting());
            e.hold.countDown();
            for (Batcher.Job j : List.of(first, a, other, c, big)) {
                Batcher.Output o = j.result.get(1, TimeUnit.MINUTES);
                long[] cls = j.request.classes();
                for (int i = 0; i < cls.length; i++) {
                    assertEquals(cls[i], o.tokens()[i][0], "row order kept");
                    float u0 = Uniforms.forImage(j.request.seed(), i, T)[0];
                    assertEquals(Float.floatToIntBits(u0), o.tokens()[i][1], "row " + i + " draws image " + i + " of its seed");
                }
            }
            // runs: [first], [a + c] (cfg 4), [other] (cfg 2; the 7-row request would exceed 5), [big in slices of 5 and 2]
            assertArrayEquals(new long[]{0}, e.classes.get(0));
            assertArrayEquals(new long[]{1, 2, 4, 5}, e.classes.get(1));
            assertEquals(4.0, e.settings.get(1).cfgScale());
            assertArrayEquals(new long[]{3}, e.classes.get(2));
            assertArrayEquals(new long[]{0, 1, 2, 3, 4}, e.classes.get(3));
            assertArrayEquals(new long[]{5, 6}, e.classes.get(4));
            assertEquals(5, e.classes.size());
            assertArrayEquals(Uniforms.forBatch(10, 0, 2, T), java.util.Arrays.copyOf(e.uniforms.get(1), 2 * T));
            assertTrue(m.render().contains("npp_batch_size_count 5"), m.render());
        }
    }

    @Test
    void fullQueueRefusesAtOnce() throws Exception {
        Recording e = new Recording();
        try (Batcher b = new Batcher(e, T, 1, 0, 2, new Metrics(() -> 0, () -> 0, () -> 0))) {
            b.submit(req(1, 4.0, 0));
            assertTrue(e.entered.await(1, TimeUnit.MINUTES));
            b.submit(req(2, 4.0, 0));
            b.submit(req(3, 4.0, 0));
            assertThrows(Batcher.Overloaded.class, () -> b.submit(req(4, 4.0, 0)));
            e.hold.countDown();
        }
    }
}
