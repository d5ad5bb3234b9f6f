package org.nextpatch.spark;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * Models loaded once per executor JVM, not per record or per task: keyed by path, content hash and
 * settings, and kept between tasks. A DJL model is not shared by tasks running at the same time, so
 * the cache holds one instance per concurrently running task of the executor (its cores), handed out
 * and returned by {@link #borrow}.
 */
final class ExecutorCache {
    private static final Logger LOG = LogManager.getLogger(ExecutorCache.class);
    private static final Map<String, Deque<AutoCloseable>> IDLE = new HashMap<>();
    private static final AtomicInteger LOADS = new AtomicInteger();

    private ExecutorCache() {}

    /** A model borrowed for one task; {@link #close()} returns it to the cache. */
    static final class Lease<T extends AutoCloseable> implements AutoCloseable {
        private final String key;
        private final T value;

        Lease(String key, T value) {
            this.key = key;
            this.value = value;
        }

        T get() {
            return value;
        }

        @Override
        public void close() {
            synchronized (IDLE) {
                IDLE.computeIfAbsent(key, k -> new ArrayDeque<>()).push(value);
            }
        }
    }

    /** An idle instance for the key, or a new one from {@code loader}. */
    @SuppressWarnings("unchecked")
    static <T extends AutoCloseable> Lease<T> borrow(String key, Supplier<T> loader) {
        synchronized (IDLE) {
            Deque<AutoCloseable> q = IDLE.get(key);
            if (q != null && !q.isEmpty()) {
                return new Lease<>(key, (T) q.pop());
            }
        }
        T v = loader.get();
        LOADS.incrementAndGet();
        LOG.debug("executor cache: loaded {}", key);
        return new Lease<>(key, v);
    }

    /** Models loaded by this JVM so far (tests check that a job loads once per task slot). */
    static int loads() {
        return LOADS.get();
    }

    /** Closes every idle model (the driver calls it after a local-mode job, whose executors are its own JVM). */
    static void clear() {
        List<AutoCloseable> all = new ArrayList<>();
        synchronized (IDLE) {
            IDLE.values().forEach(all::addAll);
            IDLE.clear();
        }
        for (AutoCloseable c : all) {
            try {
                c.close();
            } catch (Exception e) {
                LOG.debug("closing a cached model: {}", e.getMessage());
            }
        }
    }
}
