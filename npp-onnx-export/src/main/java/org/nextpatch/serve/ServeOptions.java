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
 */
public record ServeOptions(String host, int port, int maxBatch, int batchWindowMs, int queueCapacity, int timeoutMs,
                           int maxClasses, int maxBodyBytes, List<String> classNames) {

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
    }

    /** The defaults of {@code npp serve}: loopback, port 8080, batches of 32 collected for 5 ms, 64 queued, 60 s. */
    public static ServeOptions defaults() {
        return new ServeOptions("127.0.0.1", 8080, 32, 5, 64, 60_000, 64, 64 * 1024, null);
    }

    /** A copy with another port. */
    public ServeOptions withPort(int p) {
        return new ServeOptions(host, p, maxBatch, batchWindowMs, queueCapacity, timeoutMs, maxClasses, maxBodyBytes, classNames);
    }

    /** A copy with other batching and queue limits. */
    public ServeOptions withBatching(int batch, int windowMs, int queue) {
        return new ServeOptions(host, port, batch, windowMs, queue, timeoutMs, maxClasses, maxBodyBytes, classNames);
    }

    /** A copy with another request timeout. */
    public ServeOptions withTimeoutMs(int ms) {
        return new ServeOptions(host, port, maxBatch, batchWindowMs, queueCapacity, ms, maxClasses, maxBodyBytes, classNames);
    }

    /** A copy with class names. */
    public ServeOptions withClassNames(List<String> names) {
        return new ServeOptions(host, port, maxBatch, batchWindowMs, queueCapacity, timeoutMs, maxClasses, maxBodyBytes, names);
    }
}
