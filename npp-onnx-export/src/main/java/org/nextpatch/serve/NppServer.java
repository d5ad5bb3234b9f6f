package org.nextpatch.serve;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The image-generation service: JSON over HTTP on a small HTTP/1.1 front of its own
 * ({@link HttpFront}: header, body and idle timeouts and a connection limit, so slow clients cannot
 * hold it; see docs/onnx-deployment.md), requests coalesced into batches by a {@link Batcher}, and a
 * playground page served from the jar's resources.
 * <ul>
 *   <li>{@code POST /v1/generate}: {@link GenerateRequest} in, {@code {"tokens", "images", "seed", "seconds"}} out;</li>
 *   <li>{@code GET /v1/model}: {@link ServedModel#describe()} plus the serving limits;</li>
 *   <li>{@code GET /healthz}; {@code GET /metrics} (Prometheus text);</li>
 *   <li>{@code GET /}, {@code /app.js}, {@code /style.css}: the playground.</li>
 * </ul>
 * Requests never touch the file system, and answers never show its paths (a failure is logged in
 * full and answered in general words). {@link #shutdown} stops taking requests, answers those in
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
    private final HttpFront http;
    private final ExecutorService generators;
    private final ExecutorService quick;
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
        this.metrics = new Metrics(this::batcherWaiting, inFlight::get, this::openConnections);
        this.batcher = new Batcher(engine, model.gpt().blockSize(), options.maxBatch(), options.batchWindowMs(),
                options.queueCapacity(), metrics);
        // Generation handlers block while their request waits for its batch: the queue's capacity plus a
        // batch of them, and 16 more for the quick 503s of a full queue. Health checks, metrics and the
        // page have threads of their own, so waiting generations never delay them.
        generators = Executors.newFixedThreadPool(options.queueCapacity() + options.maxBatch() + 16, daemon("npp-serve-generate"));
        quick = Executors.newFixedThreadPool(2, daemon("npp-serve-http"));
        try {
            http = HttpFront.bind(options, new HttpFront.Handler() {
                @Override
                public Executor executor(HttpFront.Request r) {
                    return r.path().equals("/v1/generate") ? generators : quick;
                }

                @Override
                public HttpFront.Response handle(HttpFront.Request r) {
                    return NppServer.this.handle(r);
                }
            }, metrics, NppServer::label);
        } catch (RuntimeException e) {
            batcher.close(0);
            generators.shutdownNow();
            quick.shutdownNow();
            throw e;
        }
    }

    private static java.util.concurrent.ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }

    private int batcherWaiting() {
        return batcher == null ? 0 : batcher.waiting();
    }

    private int openConnections() {
        return http == null ? 0 : http.open();
    }

    /** Starts serving. */
    public NppServer start() {
        http.start();
        LOG.info("serving {} on http://{}:{}/", model.dir(), options.host(), port());
        return this;
    }

    /** The bound port (useful with port 0). */
    public int port() {
        return http.port();
    }

    /** The base URL, e.g. {@code http://127.0.0.1:8080}. */
    public String url() {
        String h = options.host().contains(":") ? "[" + options.host() + "]" : options.host();
        return "http://" + h + ":" + port();
    }

    private static final String TEXT = "text/plain; charset=utf-8";

    private HttpFront.Response handle(HttpFront.Request r) {
        String path = r.path();
        String method = r.method();
        try {
            if (path.equals("/v1/generate")) {
                requireMethod(method, "POST");
                return generate(r.body());
            } else if (path.equals("/v1/model")) {
                requireMethod(method, "GET");
                return json(200, describe());
            } else if (path.equals("/healthz")) {
                requireMethod(method, "GET");
                return draining ? text(503, "draining\n") : text(200, "ok\n");
            } else if (path.equals("/metrics")) {
                requireMethod(method, "GET");
                return new HttpFront.Response(200, "text/plain; version=0.0.4; charset=utf-8",
                        metrics.render().getBytes(StandardCharsets.UTF_8), null);
            } else if (ASSETS.containsKey(path)) {
                requireMethod(method, "GET");
                String name = ASSETS.get(path);
                String type = name.endsWith(".html") ? "text/html; charset=utf-8"
                        : name.endsWith(".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8";
                return new HttpFront.Response(200, type, assets.get(name), null);
            }
            throw new BadRequest(404, "path", "no such resource: " + path);
        } catch (BadRequest e) {
            return HttpFront.Response.error(e.status(), e.field(), e.getMessage(), null);
        }
    }

    private ObjectNode describe() {
        ObjectNode d = model.describe();
        ObjectNode s = d.putObject("serving");
        s.put("max_batch", options.maxBatch());
        s.put("batch_window_ms", options.batchWindowMs());
        s.put("queue_capacity", options.queueCapacity());
        s.put("timeout_ms", options.timeoutMs());
        s.put("max_classes", options.maxClasses());
        s.put("max_body_bytes", options.maxBodyBytes());
        ServeOptions.Connections c = options.connections();
        s.put("header_timeout_ms", c.headerTimeoutMs());
        s.put("body_timeout_ms", c.bodyTimeoutMs());
        s.put("idle_timeout_ms", c.idleTimeoutMs());
        s.put("max_connections", c.maxConnections());
        ObjectNode dflt = d.putObject("defaults");
        dflt.put("cfg_scale", 4.0);
        dflt.put("temperature", 1.0);
        dflt.put("top_k", 0);
        dflt.put("top_p", 1.0);
        dflt.put("format", model.hasDecoder() ? "both" : "tokens");
        return d;
    }

    /** The {@code /metrics} label of a request path. */
    private static String label(String p) {
        if (ASSETS.containsKey(p)) {
            return "/";
        }
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

    private HttpFront.Response generate(byte[] body) {
        inFlight.incrementAndGet();   // before the draining check: shutdown waits for every request counted here
        try {
            if (draining) {
                return HttpFront.Response.error(503, null, "the server is shutting down", "5");
            }
            long t0 = System.nanoTime();
            GenerateRequest req = GenerateRequest.parse(body, model, options.maxClasses());
            Batcher.Job job;
            try {
                job = batcher.submit(req);
            } catch (Batcher.Overloaded e) {
                return HttpFront.Response.error(503, null, e.getMessage(), "1");
            }
            Batcher.Output out;
            try {
                out = job.result.get(options.timeoutMs(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                job.abandoned = true;
                return HttpFront.Response.error(504, null, "not answered within " + options.timeoutMs() + " ms (--timeout-ms)", null);
            } catch (ExecutionException e) {
                Throwable c = e.getCause();
                LOG.error("generation failed: {}", c.toString(), c);
                return HttpFront.Response.error(500, null, "generation failed (the server log has the details)", null);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return HttpFront.Response.error(503, null, "interrupted", "1");
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
            metrics.generated(secs, req.rows());
            return json(200, r);
        } finally {
            inFlight.decrementAndGet();
        }
    }

    private static HttpFront.Response json(int status, ObjectNode body) {
        try {
            return new HttpFront.Response(status, "application/json", JSON.writeValueAsBytes(body), null);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static HttpFront.Response text(int status, String body) {
        return new HttpFront.Response(status, TEXT, body.getBytes(StandardCharsets.UTF_8), null);
    }

    /**
     * Graceful stop: new generation requests get 503, requests already taken are answered (waiting at
     * most {@code graceMs}), then the socket, the worker and the engine are closed. Clients still
     * sending a request, or idle, are not waited for. Idempotent.
     */
    public synchronized void shutdown(long graceMs) {
        if (stopped.getCount() == 0) {
            return;
        }
        draining = true;
        http.drain();
        LOG.info("stopping: no new requests; answering {} in flight ({} waiting for a batch)", inFlight.get(), batcher.waiting());
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(graceMs);
        while (http.busy() > 0 && System.nanoTime() < deadline) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        if (http.busy() > 0) {
            LOG.warn("{} request(s) still in flight after {} ms; closing anyway", http.busy(), graceMs);
        }
        http.close();
        batcher.close(Math.max(0, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
        generators.shutdownNow();
        quick.shutdownNow();
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
