package org.nextpatch.serve;

import org.nextpatch.util.NppException;

import java.util.List;

/**
 * Settings of {@link NppServer}; messages name the {@code npp serve} flag.
 *
 * @param host           address to bind (loopback unless told otherwise)
 * @param port           TCP port (0: any free port)
 * @param maxBatch       most images per ONNX Runtime run; requests are coalesced up to this
 * @param batchWindowMs  how long the batcher waits for more requests after the first one arrives
 * @param queueCapacity  requests waiting at most; one more is answered 503 with {@code Retry-After}
 * @param timeoutMs      a request not answered after this long gets 504 (and is dropped if not started)
 * @param maxClasses     classes (images) per request at most
 * @param maxBodyBytes   request body size at most (413 above it)
 * @param classNames     class names when the export does not record them, or null
 * @param connections    connection timeouts and limit
 */
public record ServeOptions(String host, int port, int maxBatch, int batchWindowMs, int queueCapacity, int timeoutMs,
                           int maxClasses, int maxBodyBytes, List<String> classNames, Connections connections) {

    /**
     * How long a client may take, and how many may be connected: slow clients are closed by these, so
     * they cannot hold the server (see docs/onnx-deployment.md, "Slow clients").
     *
     * @param headerTimeoutMs a request head (request line and headers) must arrive within this, counted
     *                        from the connection's start or from the first byte of a later request
     * @param bodyTimeoutMs   a request body must arrive, and a response be taken by the client, within this
     * @param idleTimeoutMs   a kept-alive connection with no request in progress is closed after this
     * @param maxConnections  connections open at most; one more is answered 503 with {@code Retry-After} at once
     */
    public record Connections(int headerTimeoutMs, int bodyTimeoutMs, int idleTimeoutMs, int maxConnections) {
        public Connections {
            positive("--header-timeout-ms", headerTimeoutMs);
            positive("--body-timeout-ms", bodyTimeoutMs);
            positive("--idle-timeout-ms", idleTimeoutMs);
            positive("--max-connections", maxConnections);
        }

        private static void positive(String flag, int v) {
            if (v < 1) {
                throw new NppException(flag + " must be positive, got " + v);
            }
        }

        /** The defaults: head and body within 10 s each, idle connections closed after 15 s, 256 connections. */
        public static Connections defaults() {
            return new Connections(10_000, 10_000, 15_000, 256);
        }
    }

    /** Options with the default {@link Connections}. */
    public ServeOptions(String host, int port, int maxBatch, int batchWindowMs, int queueCapacity, int timeoutMs,
                        int maxClasses, int maxBodyBytes, List<String> classNames) {
        this(host, port, maxBatch, batchWindowMs, queueCapacity, timeoutMs, maxClasses, maxBodyBytes, classNames, Connections.defaults());
    }

    public ServeOptions {
        if (host == null || host.isBlank()) {
            throw new NppException("--host must name an address");
        }
        if (port < 0 || port > 65535) {
            throw new NppException("--port must be in 0..65535, got " + port);
        }
        if (maxBatch < 1) {
            throw new NppException("--max-batch must be positive, got " + maxBatch);
        }
        if (batchWindowMs < 0) {
            throw new NppException("--batch-window-ms must be >= 0, got " + batchWindowMs);
        }
        if (queueCapacity < 1) {
            throw new NppException("--queue must be positive, got " + queueCapacity);
        }
        if (timeoutMs < 1) {
            throw new NppException("--timeout-ms must be positive, got " + timeoutMs);
        }
        if (maxClasses < 1) {
            throw new NppException("--max-classes must be positive, got " + maxClasses);
        }
        if (maxBodyBytes < 64) {
            throw new NppException("--max-body-bytes must be at least 64, got " + maxBodyBytes);
        }
        classNames = classNames == null ? null : List.copyOf(classNames);
        if (connections == null) {
            throw new NppException("connection limits must be given");
        }
    }

    /**
     * The defaults of {@code npp serve}: loopback, port 8080, batches of 32 collected for 5 ms, 64 queued,
     * 60 s, and {@link Connections#defaults()}.
     */
    public static ServeOptions defaults() {
        return new ServeOptions("127.0.0.1", 8080, 32, 5, 64, 60_000, 64, 64 * 1024, null);
    }

    /** A copy with another port. */
    public ServeOptions withPort(int p) {
        return new ServeOptions(host, p, maxBatch, batchWindowMs, queueCapacity, timeoutMs, maxClasses, maxBodyBytes, classNames, connections);
    }

    /** A copy with other batching and queue limits. */
    public ServeOptions withBatching(int batch, int windowMs, int queue) {
        return new ServeOptions(host, port, batch, windowMs, queue, timeoutMs, maxClasses, maxBodyBytes, classNames, connections);
    }

    /** A copy with another request timeout. */
    public ServeOptions withTimeoutMs(int ms) {
        return new ServeOptions(host, port, maxBatch, batchWindowMs, queueCapacity, ms, maxClasses, maxBodyBytes, classNames, connections);
    }

    /** A copy with other connection timeouts and limit. */
    public ServeOptions withConnections(Connections c) {
        return new ServeOptions(host, port, maxBatch, batchWindowMs, queueCapacity, timeoutMs, maxClasses, maxBodyBytes, classNames, c);
    }

    /** A copy with class names. */
    public ServeOptions withClassNames(List<String> names) {
        return new ServeOptions(host, port, maxBatch, batchWindowMs, queueCapacity, timeoutMs, maxClasses, maxBodyBytes, names, connections);
    }
}
