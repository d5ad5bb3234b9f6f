package org.nextpatch.serve;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.sample.Uniforms;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Coalesces concurrent requests into generation batches on one worker thread. The first waiting
 * request opens a batch; requests with the same sampling settings (graph scalars, so one set per
 * run) that arrive within the collection window join it until {@code maxBatch} images. Each row
 * keeps its own random numbers ({@link Uniforms#forImage} of its request's seed and its index in the
 * request), so its tokens do not depend on its batch mates. At most {@code capacity} requests wait;
 * {@link #submit} refuses more ({@link Overloaded}) rather than building a backlog.
 */
final class Batcher implements AutoCloseable {
    private static final Logger LOG = LogManager.getLogger(Batcher.class);

    /** The queue is full. */
    static final class Overloaded extends RuntimeException {
        Overloaded(String m) {
            super(m, null, false, false);
        }
    }

    /** One request's images: tokens [n][T] and, when asked, PNG files. */
    record Output(long[][] tokens, List<byte[]> pngs) {}

    /** A queued request. */
    static final class Job {
        final GenerateRequest request;
        final CompletableFuture<Output> result = new CompletableFuture<>();
        volatile boolean abandoned;

        Job(GenerateRequest request) {
            this.request = request;
        }
    }

    private final GenerationEngine engine;
    private final int tokensPerImage;
    private final int maxBatch;
    private final long windowNanos;
    private final int capacity;
    private final Metrics metrics;
    private final LinkedBlockingQueue<Job> queue = new LinkedBlockingQueue<>();
    private final Deque<Job> pending = new ArrayDeque<>();   // worker-owned: taken from the queue, not yet run
    private final AtomicInteger waiting = new AtomicInteger();
    private final Thread worker;
    private volatile boolean closing;

    Batcher(GenerationEngine engine, int tokensPerImage, int maxBatch, int windowMs, int capacity, Metrics metrics) {
        this.engine = engine;
        this.tokensPerImage = tokensPerImage;
        this.maxBatch = maxBatch;
        this.windowNanos = TimeUnit.MILLISECONDS.toNanos(windowMs);
        this.capacity = capacity;
        this.metrics = metrics;
        this.worker = new Thread(this::loop, "npp-serve-batcher");
        this.worker.setDaemon(true);
        this.worker.start();
    }

    /** Requests waiting (not yet in a running batch). */
    int waiting() {
        return waiting.get();
    }

    /** Queues a request; throws {@link Overloaded} when {@code capacity} requests already wait. */
    Job submit(GenerateRequest r) {
        if (closing) {
            throw new Overloaded("the server is shutting down");
        }
        if (waiting.incrementAndGet() > capacity) {
            waiting.decrementAndGet();
            throw new Overloaded("the queue is full (" + capacity + " requests waiting); retry shortly");
        }
        Job j = new Job(r);
        queue.add(j);
        return j;
    }

    private void loop() {
        while (true) {
            try {
                if (pending.isEmpty()) {
                    Job first = queue.poll(100, TimeUnit.MILLISECONDS);
                    if (first == null) {
                        if (closing && queue.isEmpty()) {
                            return;
                        }
                        continue;
                    }
                    pending.add(first);
                }
                runOne(collect());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (RuntimeException | Error e) {
                LOG.error("batch worker: {}", e.toString(), e);
            }
        }
    }

    /** The next batch: the oldest pending request and same-settings requests up to maxBatch images. */
    private List<Job> collect() throws InterruptedException {
        SamplingSettings key = pending.peekFirst().request.settings();
        long deadline = System.nanoTime() + windowNanos;
        while (true) {
            queue.drainTo(pending);
            int rows = 0;
            for (Job j : pending) {
                if (j.request.settings().equals(key)) {
                    rows += j.request.rows();
                }
            }
            long left = deadline - System.nanoTime();
            if (rows >= maxBatch || left <= 0 || closing) {
                break;
            }
            Job next = queue.poll(left, TimeUnit.NANOSECONDS);
            if (next != null) {
                pending.add(next);
            }
        }
        List<Job> batch = new ArrayList<>();
        int rows = 0;
        for (var it = pending.iterator(); it.hasNext(); ) {
            Job j = it.next();
            if (!j.request.settings().equals(key)) {
                continue;
            }
            if (!batch.isEmpty() && rows + j.request.rows() > maxBatch) {
                break;
            }
            batch.add(j);
            rows += j.request.rows();
            it.remove();
        }
        waiting.addAndGet(-batch.size());
        return batch;
    }

    private void runOne(List<Job> jobs) {
        List<Job> live = new ArrayList<>();
        for (Job j : jobs) {
            if (!j.abandoned) {
                live.add(j);
            }
        }
        if (live.isEmpty()) {
            return;
        }
        try {
            int t = tokensPerImage;
            int total = live.stream().mapToInt(j -> j.request.rows()).sum();
            long[] classes = new long[total];
            float[] u = new float[total * t];
            int r = 0;
            for (Job j : live) {
                for (int i = 0; i < j.request.rows(); i++, r++) {
                    classes[r] = j.request.classes()[i];
                    System.arraycopy(Uniforms.forImage(j.request.seed(), i, t), 0, u, r * t, t);
                }
            }
            // one request may exceed maxBatch on its own: run it in maxBatch slices
            long[][] tokens = new long[total][];
            SamplingSettings s = live.get(0).request.settings();
            for (int start = 0; start < total; start += maxBatch) {
                int n = Math.min(maxBatch, total - start);
                long[][] got = engine.tokens(java.util.Arrays.copyOfRange(classes, start, start + n),
                        java.util.Arrays.copyOfRange(u, start * t, (start + n) * t), s);
                System.arraycopy(got, 0, tokens, start, n);
                metrics.batch(n);
            }
            List<long[]> toDecode = new ArrayList<>();
            r = 0;
            for (Job j : live) {
                for (int i = 0; i < j.request.rows(); i++, r++) {
                    if (j.request.png()) {
                        toDecode.add(tokens[r]);
                    }
                }
            }
            List<byte[]> pngs = toDecode.isEmpty() ? List.of() : engine.pngs(toDecode.toArray(new long[0][]));
            r = 0;
            int p = 0;
            for (Job j : live) {
                int n = j.request.rows();
                long[][] mine = java.util.Arrays.copyOfRange(tokens, r, r + n);
                List<byte[]> myPngs = j.request.png() ? pngs.subList(p, p + n) : null;
                if (j.request.png()) {
                    p += n;
                }
                r += n;
                j.result.complete(new Output(mine, myPngs));
            }
        } catch (RuntimeException | Error e) {
            for (Job j : live) {
                j.result.completeExceptionally(e);
            }
        }
    }

    /** Stops taking requests; returns when every queued request has been answered or after {@code graceMs}. */
    @Override
    public void close() {
        close(Long.MAX_VALUE / 2_000_000);
    }

    void close(long graceMs) {
        closing = true;
        try {
            worker.join(graceMs);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (worker.isAlive()) {
            worker.interrupt();
        }
    }
}
