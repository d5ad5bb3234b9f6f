package org.nextpatch.serve;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.util.NppException;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The image-generation service: JSON over HTTP on the JDK's built-in server
 * ({@code com.sun.net.httpserver}; see docs/onnx-deployment.md for why), requests coalesced into
 * batches by a {@link Batcher}, and a playground page served from the jar's resources.
 * <ul>
 *   <li>{@code POST /v1/generate}: {@link GenerateRequest} in, {@code {"tokens", "images", "seed", "seconds"}} out;</li>
 *   <li>{@code GET /v1/model}: {@link ServedModel#describe()} plus the serving limits;</li>
 *   <li>{@code GET /healthz}; {@code GET /metrics} (Prometheus text);</li>
 *   <li>{@code GET /}, {@code /app.js}, {@code /style.css}: the playground.</li>
 * </ul>
 * Requests never touch the file system. {@link #shutdown} stops taking requests, answers those in
 * flight, then closes.
 */
public final class NppServer implements AutoCloseable {
    private static final Logger LOG = LogManager.getLogger(NppServer.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String STATIC = "/org/nextpatch/serve/static/";
    private static final Map<String, String> ASSETS = Map.of(
            "/", "index.html", "/index.html", "index.html", "/app.js", "app.js", "/style.css", "style.css");

    private final ServedModel model;
    private final GenerationEngine engine;
    private final ServeOptions options;
    private final Metrics metrics;
    private final Batcher batcher;
    private final HttpServer http;
    private final ExecutorService handlers;
    private final Map<String, byte[]> assets = new java.util.HashMap<>();
    private final AtomicInteger inFlight = new AtomicInteger();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile boolean draining;

    /**
     * Binds the socket (nothing is served before {@link #start}).
     *
     * @param model   what is served
     * @param engine  runs the batches (closed by {@link #shutdown})
     * @param options limits and address
     */
    public NppServer(ServedModel model, GenerationEngine engine, ServeOptions options) {
        this.model = model;
        this.engine = engine;
        this.options = options;
        for (String name : new java.util.TreeSet<>(ASSETS.values())) {
            try (InputStream in = NppServer.class.getResourceAsStream(STATIC + name)) {
                if (in == null) {
                    throw new IllegalStateException("missing bundled resource " + STATIC + name);
                }
                assets.put(name, in.readAllBytes());
            } catch (IOException e) {
                throw new IllegalStateException("cannot read bundled resource " + name, e);
            }
        }
        this.metrics = new Metrics(this::batcherWaiting, inFlight::get);
        this.batcher = new Batcher(engine, model.gpt().blockSize(), options.maxBatch(), options.batchWindowMs(),
                options.queueCapacity(), metrics);
        try {
            http = HttpServer.create(new InetSocketAddress(options.host(), options.port()), 128);
        } catch (IOException e) {
            batcher.close(0);
            throw new NppException("--host " + options.host() + " --port " + options.port() + ": cannot listen: " + e.getMessage(), e);
        }
        // Handler threads block while their request waits for its batch: the queue's capacity plus a
        // batch of them, and 16 more, so 503s, metrics and health checks are always answered at once.
        handlers = Executors.newFixedThreadPool(options.queueCapacity() + options.maxBatch() + 16, r -> {
            Thread t = new Thread(r, "npp-serve-http");
            t.setDaemon(true);
            return t;
        });
        http.setExecutor(handlers);
        http.createContext("/", this::handle);
    }

    private int batcherWaiting() {
        return batcher == null ? 0 : batcher.waiting();
    }

    /** Starts serving. */
    public NppServer start() {
        http.start();
        LOG.info("serving {} on http://{}:{}/", model.dir(), options.host(), port());
        return this;
    }

    /** The bound port (useful with port 0). */
    public int port() {
        return http.getAddress().getPort();
    }

    /** The base URL, e.g. {@code http://127.0.0.1:8080}. */
    public String url() {
        String h = options.host().contains(":") ? "[" + options.host() + "]" : options.host();
        return "http://" + h + ":" + port();
    }

    private void handle(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        String method = ex.getRequestMethod();
        int status = 500;
        try {
            if (path.equals("/v1/generate")) {
                requireMethod(method, "POST");
                status = generate(ex);
            } else if (path.equals("/v1/model")) {
                requireMethod(method, "GET");
                ObjectNode d = model.describe();
                ObjectNode s = d.putObject("serving");
                s.put("max_batch", options.maxBatch());
                s.put("batch_window_ms", options.batchWindowMs());
                s.put("queue_capacity", options.queueCapacity());
                s.put("timeout_ms", options.timeoutMs());
                s.put("max_classes", options.maxClasses());
                s.put("max_body_bytes", options.maxBodyBytes());
                ObjectNode dflt = d.putObject("defaults");
                dflt.put("cfg_scale", 4.0);
                dflt.put("temperature", 1.0);
                dflt.put("top_k", 0);
                dflt.put("top_p", 1.0);
                dflt.put("format", model.hasDecoder() ? "both" : "tokens");
                status = send(ex, 200, "application/json", JSON.writeValueAsBytes(d));
            } else if (path.equals("/healthz")) {
                requireMethod(method, "GET");
                status = draining ? send(ex, 503, "text/plain; charset=utf-8", "draining\n".getBytes(StandardCharsets.UTF_8))
                        : send(ex, 200, "text/plain; charset=utf-8", "ok\n".getBytes(StandardCharsets.UTF_8));
            } else if (path.equals("/metrics")) {
                requireMethod(method, "GET");
                status = send(ex, 200, "text/plain; version=0.0.4; charset=utf-8", metrics.render().getBytes(StandardCharsets.UTF_8));
            } else if (ASSETS.containsKey(path)) {
                requireMethod(method, "GET");
                String name = ASSETS.get(path);
                String type = name.endsWith(".html") ? "text/html; charset=utf-8"
                        : name.endsWith(".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8";
                status = send(ex, 200, type, assets.get(name));
            } else {
                throw new BadRequest(404, "path", "no such resource: " + path);
            }
        } catch (BadRequest e) {
            status = error(ex, e.status(), e.field(), e.getMessage(), null);
        } catch (RuntimeException e) {
            LOG.error("{} {}: {}", method, path, e.toString(), e);
            status = error(ex, 500, null, "internal error: " + e.getMessage(), null);
        } finally {
            metrics.request(ASSETS.containsKey(path) ? "/" : knownPath(path), status);
            ex.close();
        }
    }

    private static String knownPath(String p) {
        return switch (p) {
            case "/v1/generate", "/v1/model", "/healthz", "/metrics" -> p;
            default -> "other";
        };
    }

    private static void requireMethod(String method, String want) {
        if (!method.equalsIgnoreCase(want)) {
            throw new BadRequest(405, "method", "use " + want + ", not " + method);
        }
    }

    private int generate(HttpExchange ex) throws IOException {
        inFlight.incrementAndGet();   // before the draining check: shutdown waits for every request counted here
        try {
            if (draining) {
                return error(ex, 503, null, "the server is shutting down", "5");
            }
            long t0 = System.nanoTime();
            byte[] body = readBody(ex);
            GenerateRequest req = GenerateRequest.parse(body, model, options.maxClasses());
            Batcher.Job job;
            try {
                job = batcher.submit(req);
            } catch (Batcher.Overloaded e) {
                return error(ex, 503, null, e.getMessage(), "1");
            }
            Batcher.Output out;
            try {
                out = job.result.get(options.timeoutMs(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                job.abandoned = true;
                return error(ex, 504, null, "not answered within " + options.timeoutMs() + " ms (--timeout-ms)", null);
            } catch (ExecutionException e) {
                Throwable c = e.getCause();
                LOG.error("generation failed: {}", c.toString(), c);
                return error(ex, 500, null, "generation failed: " + c.getMessage(), null);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return error(ex, 503, null, "interrupted", "1");
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            ObjectNode r = JSON.createObjectNode();
            if (req.tokens()) {
                ArrayNode rows = r.putArray("tokens");
                for (long[] row : out.tokens()) {
                    ArrayNode a = rows.addArray();
                    for (long v : row) {
                        a.add(v);
                    }
                }
            }
            if (req.png()) {
                ArrayNode imgs = r.putArray("images");
                for (byte[] png : out.pngs()) {
                    imgs.add(Base64.getEncoder().encodeToString(png));
                }
            }
            ArrayNode cls = r.putArray("classes");
            for (long c : req.classes()) {
                cls.add(c);
            }
            r.put("seed", req.seed());
            r.put("seconds", secs);
            int status = send(ex, 200, "application/json", JSON.writeValueAsBytes(r));
            metrics.generated(secs, req.rows());
            return status;
        } finally {
            inFlight.decrementAndGet();
        }
    }

    private byte[] readBody(HttpExchange ex) throws IOException {
        int max = options.maxBodyBytes();
        String len = ex.getRequestHeaders().getFirst("Content-Length");
        if (len != null) {
            try {
                if (Long.parseLong(len.trim()) > max) {
                    throw new BadRequest(413, "body", "the body is larger than " + max + " bytes (--max-body-bytes)");
                }
            } catch (NumberFormatException e) {
                throw new BadRequest("body", "bad Content-Length");
            }
        }
        try (InputStream in = ex.getRequestBody()) {
            byte[] b = in.readNBytes(max + 1);
            if (b.length > max) {
                throw new BadRequest(413, "body", "the body is larger than " + max + " bytes (--max-body-bytes)");
            }
            return b;
        }
    }

    private static int error(HttpExchange ex, int status, String field, String message, String retryAfter) throws IOException {
        ObjectNode e = JSON.createObjectNode();
        e.put("error", message);
        if (field != null) {
            e.put("field", field);
        }
        if (retryAfter != null) {
            ex.getResponseHeaders().set("Retry-After", retryAfter);
        }
        return send(ex, status, "application/json", JSON.writeValueAsBytes(e));
    }

    private static int send(HttpExchange ex, int status, String type, byte[] body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", type);
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        ex.getResponseHeaders().set("X-Content-Type-Options", "nosniff");
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        try (OutputStream o = ex.getResponseBody()) {
            o.write(body);
        }
        return status;
    }

    /**
     * Graceful stop: new generation requests get 503, requests already taken are answered (waiting at
     * most {@code graceMs}), then the socket, the worker and the engine are closed. Idempotent.
     */
    public synchronized void shutdown(long graceMs) {
        if (stopped.getCount() == 0) {
            return;
        }
        draining = true;
        LOG.info("stopping: no new requests; answering {} in flight ({} waiting for a batch)", inFlight.get(), batcher.waiting());
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(graceMs);
        while (inFlight.get() > 0 && System.nanoTime() < deadline) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        if (inFlight.get() > 0) {
            LOG.warn("{} request(s) still in flight after {} ms; closing anyway", inFlight.get(), graceMs);
        }
        http.stop(0);
        batcher.close(Math.max(0, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
        handlers.shutdownNow();
        engine.close();
        LOG.info("server stopped");
        stopped.countDown();
    }

    /** Blocks until {@link #shutdown} has finished. */
    public void awaitTermination() throws InterruptedException {
        stopped.await();
    }

    /** Requests in flight (for tests and logs). */
    int inFlight() {
        return inFlight.get();
    }

    @Override
    public void close() {
        shutdown(options.timeoutMs());
    }
}
