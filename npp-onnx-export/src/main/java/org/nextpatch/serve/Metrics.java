package org.nextpatch.serve;

import java.util.ArrayDeque;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.IntSupplier;

/**
 * The server's counters in the Prometheus text format (version 0.0.4): requests by path and status,
 * queue length, batch sizes and request latency as histograms, images generated, images per
 * second over the last minute, and the connections: open, refused at the limit, closed by a
 * timeout, and answers the client did not take. Thread-safe.
 */
final class Metrics {
    private static final double[] LATENCY_BUCKETS = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
    private static final double[] BATCH_BUCKETS = {1, 2, 4, 8, 16, 32, 64, 128, 256};
    private static final long WINDOW_NANOS = 60_000_000_000L;

    private final Map<String, AtomicLong> requests = new TreeMap<>();
    private final Histogram latency = new Histogram(LATENCY_BUCKETS);
    private final Histogram batches = new Histogram(BATCH_BUCKETS);
    private final AtomicLong images = new AtomicLong();
    private final ArrayDeque<long[]> recent = new ArrayDeque<>();   // (nanoTime, images)
    private final IntSupplier queueLength;
    private final IntSupplier inFlight;
    private final IntSupplier openConnections;
    private final AtomicLong refused = new AtomicLong();
    private final Map<String, AtomicLong> timedOut = new TreeMap<>();
    private final Map<String, AtomicLong> disconnects = new TreeMap<>();
    private final long started = System.nanoTime();

    Metrics(IntSupplier queueLength, IntSupplier inFlight, IntSupplier openConnections) {
        this.queueLength = queueLength;
        this.inFlight = inFlight;
        this.openConnections = openConnections;
    }

    /** Counts a request answered in full. */
    void request(String path, int status) {
        count(requests, path + "\u0000" + status);
    }

    /** Counts a request whose answer the client did not take (it closed, or stopped reading). */
    void clientDisconnected(String path) {
        count(disconnects, path);
    }

    /** Counts a connection closed by a timeout ({@code header}, {@code body}, {@code idle} or {@code send}). */
    void connectionTimedOut(String phase) {
        count(timedOut, phase);
    }

    /** Counts a connection refused at the connection limit. */
    void connectionRefused() {
        refused.incrementAndGet();
    }

    private static void count(Map<String, AtomicLong> m, String key) {
        AtomicLong c;
        synchronized (m) {
            c = m.computeIfAbsent(key, k -> new AtomicLong());
        }
        c.incrementAndGet();
    }

    /** Records a successful generation: its latency and images. */
    void generated(double seconds, int n) {
        latency.observe(seconds);
        images.addAndGet(n);
        long now = System.nanoTime();
        synchronized (recent) {
            recent.addLast(new long[]{now, n});
            trim(now);
        }
    }

    /** Records the size of one engine run. */
    void batch(int rows) {
        batches.observe(rows);
    }

    private void trim(long now) {
        while (!recent.isEmpty() && now - recent.peekFirst()[0] > WINDOW_NANOS) {
            recent.removeFirst();
        }
    }

    private double imagesPerSecond() {
        long now = System.nanoTime();
        long n = 0;
        synchronized (recent) {
            trim(now);
            for (long[] e : recent) {
                n += e[1];
            }
        }
        double span = Math.min(WINDOW_NANOS, now - started) / 1e9;
        return span <= 0 ? 0 : n / span;
    }

    /** The exposition text. */
    String render() {
        StringBuilder b = new StringBuilder();
        b.append("# HELP npp_requests_total HTTP requests answered, by path and status.\n# TYPE npp_requests_total counter\n");
        synchronized (requests) {
            for (var e : requests.entrySet()) {
                String[] k = e.getKey().split("\u0000");
                b.append("npp_requests_total{path=\"").append(k[0]).append("\",status=\"").append(k[1]).append("\"} ")
                        .append(e.getValue().get()).append('\n');
            }
        }
        b.append("# HELP npp_client_disconnects_total Requests whose answer the client did not take, by path.\n"
                + "# TYPE npp_client_disconnects_total counter\n");
        render(b, disconnects, "npp_client_disconnects_total{path=\"", "\"} ");
        b.append("# HELP npp_connections_open Client connections open.\n# TYPE npp_connections_open gauge\n");
        b.append("npp_connections_open ").append(openConnections.getAsInt()).append('\n');
        b.append("# HELP npp_connections_refused_total Connections answered 503 at the connection limit.\n"
                + "# TYPE npp_connections_refused_total counter\n");
        b.append("npp_connections_refused_total ").append(refused.get()).append('\n');
        b.append("# HELP npp_connections_timed_out_total Connections closed by a timeout, by phase.\n"
                + "# TYPE npp_connections_timed_out_total counter\n");
        render(b, timedOut, "npp_connections_timed_out_total{phase=\"", "\"} ");
        b.append("# HELP npp_queue_length Generation requests waiting for a batch.\n# TYPE npp_queue_length gauge\n");
        b.append("npp_queue_length ").append(queueLength.getAsInt()).append('\n');
        b.append("# HELP npp_requests_in_flight Generation requests taken and not yet answered.\n# TYPE npp_requests_in_flight gauge\n");
        b.append("npp_requests_in_flight ").append(inFlight.getAsInt()).append('\n');
        batches.render(b, "npp_batch_size", "Images per ONNX Runtime run.");
        latency.render(b, "npp_request_seconds", "Latency of successful generation requests, queueing included.");
        b.append("# HELP npp_images_total Images (token grids) generated.\n# TYPE npp_images_total counter\n");
        b.append("npp_images_total ").append(images.get()).append('\n');
        b.append("# HELP npp_images_per_second Images generated per second over the last minute.\n# TYPE npp_images_per_second gauge\n");
        b.append(String.format(Locale.ROOT, "npp_images_per_second %.4f%n", imagesPerSecond()));
        return b.toString();
    }

    private static void render(StringBuilder b, Map<String, AtomicLong> m, String prefix, String infix) {
        synchronized (m) {
            for (var e : m.entrySet()) {
                b.append(prefix).append(e.getKey()).append(infix).append(e.getValue().get()).append('\n');
            }
        }
    }

    /** A cumulative histogram with fixed upper bounds. */
    private static final class Histogram {
        private final double[] bounds;
        private final AtomicLongArray counts;
        private final AtomicLong count = new AtomicLong();
        private double sum;

        Histogram(double[] bounds) {
            this.bounds = bounds;
            this.counts = new AtomicLongArray(bounds.length);
        }

        void observe(double v) {
            for (int i = 0; i < bounds.length; i++) {
                if (v <= bounds[i]) {
                    counts.incrementAndGet(i);
                }
            }
            count.incrementAndGet();
            synchronized (this) {
                sum += v;
            }
        }

        void render(StringBuilder b, String name, String help) {
            b.append("# HELP ").append(name).append(' ').append(help).append("\n# TYPE ").append(name).append(" histogram\n");
            for (int i = 0; i < bounds.length; i++) {
                b.append(name).append("_bucket{le=\"").append(fmt(bounds[i])).append("\"} ").append(counts.get(i)).append('\n');
            }
            b.append(name).append("_bucket{le=\"+Inf\"} ").append(count.get()).append('\n');
            synchronized (this) {
                b.append(name).append("_sum ").append(fmt(sum)).append('\n');
            }
            b.append(name).append("_count ").append(count.get()).append('\n');
        }

        private static String fmt(double v) {
            return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) + ".0" : Double.toString(v);
        }
    }
}
