package org.nextpatch.it.serve;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.serve.NppServer;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.net.ConnectException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code npp serve} end to end on a small random-weight export: the tokens of a request are exactly
 * those {@code npp sample --engine onnx} writes for the same classes, seed and flags, alone, under 8
 * concurrent clients and when coalesced into one batch; bad requests are 400 naming the field; a
 * full queue is 503 with Retry-After; a shutdown answers what is in flight. Slow paths are held by a
 * gate, never by timing.
 */
class ServeTest {
    @TempDir
    static Path tmp;
    static ServeFixture fx;

    /** Requests (classes, seed, flags as JSON and as command-line flags) checked against the CLI. */
    record Case(long[] classes, long seed, String json, String[] flags) {}

    static final List<Case> CASES = List.of(
            new Case(new long[]{3, 0, 9}, 0, "", new String[0]),
            new Case(new long[]{1, 1}, 7, ", \"cfg_scale\": 1.5, \"top_k\": 10, \"top_p\": 0.9, \"temperature\": 1.2",
                    new String[]{"--cfg-scale", "1.5", "--top-k", "10", "--top-p", "0.9", "--temperature", "1.2"}),
            new Case(new long[]{5}, 123456789L, ", \"cfg_scale\": 1.0", new String[]{"--cfg-scale", "1.0"}),
            new Case(new long[]{2, 8, 4, 6}, 42, ", \"temperature\": 0.7, \"top_k\": 5", new String[]{"--temperature", "0.7", "--top-k", "5"}));
    static final List<long[][]> EXPECTED = new ArrayList<>();

    @BeforeAll
    static void model() throws Exception {
        fx = new ServeFixture(tmp);
        for (Case c : CASES) {
            EXPECTED.add(fx.cliTokens(c.classes, c.seed, c.flags));
        }
    }

    static String body(Case c, String format) {
        return "{\"classes\": [" + ServeFixture.join(c.classes) + "], \"seed\": " + c.seed + c.json + ", \"format\": \"" + format + "\"}";
    }

    static void checkCase(HttpResponse<String> r, int i) throws Exception {
        assertEquals(200, r.statusCode(), r.body());
        JsonNode j = ServeFixture.JSON.readTree(r.body());
        long[][] got = ServeFixture.tokensOf(j);
        assertEquals(EXPECTED.get(i).length, got.length);
        for (int k = 0; k < got.length; k++) {
            assertArrayEquals(EXPECTED.get(i)[k], got[k], "case " + i + " row " + k + ": the CLI's tokens");
        }
        assertEquals(CASES.get(i).seed, j.get("seed").asLong());
    }

    @Test
    void sameTokensAsTheCommandLineAloneAndUnderEightClients() throws Exception {
        try (NppServer s = fx.start(fx.engine(), ServeFixture.options())) {
            for (int i = 0; i < CASES.size(); i++) {
                checkCase(fx.post(s, body(CASES.get(i), "tokens")), i);
            }
            ExecutorService pool = Executors.newFixedThreadPool(8);
            try {
                List<Future<?>> fs = new ArrayList<>();
                for (int client = 0; client < 8; client++) {
                    int c0 = client;
                    fs.add(pool.submit(() -> {
                        for (int k = 0; k < 6; k++) {
                            int i = (c0 + k) % CASES.size();
                            checkCase(fx.post(s, body(CASES.get(i), k % 2 == 0 ? "tokens" : "both")), i);
                        }
                        return null;
                    }));
                }
                for (Future<?> f : fs) {
                    f.get();
                }
            } finally {
                pool.shutdownNow();
            }
            String metrics = fx.get(s, "/metrics").body();
            assertTrue(metrics.contains("npp_requests_total{path=\"/v1/generate\",status=\"200\"} " + (CASES.size() + 48)), metrics);
            assertTrue(metrics.contains("npp_images_total "), metrics);
            assertTrue(metrics.contains("npp_request_seconds_bucket{le=\"+Inf\"} " + (CASES.size() + 48)), metrics);
        }
    }

    /** Seven requests wait while the engine is held, then run as one batch of 21 rows: still the CLI's tokens. */
    @Test
    void coalescedBatchKeepsEachRequestsTokens() throws Exception {
        ServeFixture.GatedEngine engine = new ServeFixture.GatedEngine(fx.engine());
        engine.arm();
        try (NppServer s = fx.start(engine, ServeFixture.options())) {
            ExecutorService pool = Executors.newFixedThreadPool(8);
            try {
                Future<HttpResponse<String>> first = pool.submit(() -> fx.post(s, body(CASES.get(2), "tokens")));
                engine.entered.await();
                // seven requests with case 0's settings and different seeds: all in the next batch
                long[] seeds = {0, 1, 2, 3, 4, 5, 6};
                List<Future<HttpResponse<String>>> rest = new ArrayList<>();
                for (long sd : seeds) {
                    rest.add(pool.submit(() -> fx.post(s, "{\"classes\": [3, 0, 9], \"seed\": " + sd + ", \"format\": \"tokens\"}")));
                }
                fx.awaitGauge(s, "npp_queue_length", 7);
                engine.release();
                checkCase(first.get(), 2);
                for (int k = 0; k < seeds.length; k++) {
                    long[][] want = fx.cliTokens(new long[]{3, 0, 9}, seeds[k]);
                    long[][] got = ServeFixture.tokensOf(ServeFixture.JSON.readTree(rest.get(k).get().body()));
                    for (int r = 0; r < 3; r++) {
                        assertArrayEquals(want[r], got[r], "seed " + seeds[k] + " row " + r);
                    }
                }
                assertEquals(List.of(1, 21), engine.runs, "one run for the first request, one for the seven coalesced");
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void imagesAreDecodedPngsOfTheModelsSize() throws Exception {
        try (NppServer s = fx.start(fx.engine(), ServeFixture.options())) {
            HttpResponse<String> r = fx.post(s, "{\"classes\": [\"three\", 7], \"seed\": 1, \"format\": \"png\"}");
            assertEquals(200, r.statusCode(), r.body());
            JsonNode j = ServeFixture.JSON.readTree(r.body());
            assertFalse(j.has("tokens"), "format png: no tokens");
            assertEquals(2, j.get("images").size());
            for (JsonNode b64 : j.get("images")) {
                BufferedImage img = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(b64.asText())));
                assertNotNull(img, "a PNG");
                assertEquals(fx.imageSize, img.getWidth());
                assertEquals(fx.imageSize, img.getHeight());
            }
            assertEquals("[3,7]", j.get("classes").toString(), "names resolve to ids");

            JsonNode m = ServeFixture.JSON.readTree(fx.get(s, "/v1/model").body());
            assertEquals(10, m.get("num_classes").asInt());
            assertEquals("three", m.get("class_names").get(3).asText());
            assertEquals(fx.imageSize, m.get("image_size").asInt());
            assertEquals(64, m.get("gpt_config").get("dim").asInt());
            assertEquals(64, m.get("sha256").get("gpt-generate.onnx").asText().length());
            assertEquals("serve tests", m.get("provenance").get("purpose").asText());
            assertEquals("gpt.pt", m.get("provenance").get("gpt_ckpt").asText(), "the checkpoint's name, not where it is");
            assertFalse(m.toString().contains(tmp.toAbsolutePath().toString()), "no absolute path in /v1/model: " + m);
            assertEquals("float32", m.get("export").get("precision").asText());
            assertEquals(200, fx.get(s, "/healthz").statusCode());
            HttpResponse<String> page = fx.get(s, "/");
            assertTrue(page.body().contains("<script src=\"app.js\">"), page.body());
            assertTrue(page.headers().firstValue("Content-Type").orElse("").startsWith("text/html"));
        }
    }

    /** The demo writes its graphs without manifest.json: the configurations come from the graphs' metadata. */
    @Test
    void exportWithoutManifestIsServedFromGraphMetadata() throws Exception {
        Path bare = tmp.resolve("bare");
        java.nio.file.Files.createDirectories(bare);
        for (String f : List.of("gpt-generate.onnx", "vq-decoder.onnx")) {
            java.nio.file.Files.copy(fx.onnx.resolve(f), bare.resolve(f));
        }
        org.nextpatch.serve.ServedModel m = org.nextpatch.serve.ServedModel.open(bare, null);
        assertEquals(fx.gpt.toJson(), m.gpt().toJson());
        assertEquals(fx.imageSize, m.imageSize());
        assertEquals(null, m.classNames());
        try (NppServer s = new NppServer(m, new org.nextpatch.serve.OnnxEngine(m, org.nextpatch.onnx.OnnxSampler.Options.cpu()),
                ServeFixture.options().withPort(0)).start()) {
            checkCase(fx.post(s, body(CASES.get(0), "both")), 0);
            HttpResponse<String> named = fx.post(s, "{\"classes\": [\"three\"]}");
            assertEquals(400, named.statusCode(), "no class names known: names are refused");
            JsonNode d = ServeFixture.JSON.readTree(fx.get(s, "/v1/model").body());
            assertTrue(d.get("export").get("source").asText().contains("graph metadata"), d.toString());
        }
    }

    @Test
    void badRequestsAre400NamingTheField() throws Exception {
        String[][] cases = {
                {"not json", "body"},
                {"[1, 2]", "body"},
                {"{}", "classes"},
                {"{\"classes\": []}", "classes"},
                {"{\"classes\": [10]}", "classes"},
                {"{\"classes\": [-1]}", "classes"},
                {"{\"classes\": [\"dragon\"]}", "classes"},
                {"{\"classes\": [1.5]}", "classes"},
                {"{\"classes\": [" + "1,".repeat(64) + "1]}", "classes"},
                {"{\"classes\": [1], \"cfg_scale\": 0}", "cfg_scale"},
                {"{\"classes\": [1], \"cfg_scale\": -2}", "cfg_scale"},
                {"{\"classes\": [1], \"cfg_scale\": 1e308}", "cfg_scale"},
                {"{\"classes\": [1], \"temperature\": 1e300}", "temperature"},
                {"{\"classes\": [1], \"top_p\": 1e-50}", "top_p"},
                {"{\"classes\": [1], \"temperature\": 0}", "temperature"},
                {"{\"classes\": [1], \"temperature\": \"hot\"}", "temperature"},
                {"{\"classes\": [1], \"top_p\": 0}", "top_p"},
                {"{\"classes\": [1], \"top_p\": 1.01}", "top_p"},
                {"{\"classes\": [1], \"top_k\": -1}", "top_k"},
                {"{\"classes\": [1], \"top_k\": 2.5}", "top_k"},
                {"{\"classes\": [1], \"seed\": \"x\"}", "seed"},
                {"{\"classes\": [1], \"format\": \"jpeg\"}", "format"},
                {"{\"classes\": [1], \"cfg-scale\": 2}", "cfg-scale"},
                {"{\"classes\": [1]} {\"classes\": [2]}", "body"},
                {"{\"classes\": [1]}]", "body"},
                {"{\"classes\": [1]} x", "body"},
                {"{\"classes\": [1], \"seed\": 1, \"seed\": 2}", "seed"},
                {"{\"classes\": [1], \"classes\": [2]}", "classes"},
        };
        try (NppServer s = fx.start(fx.engine(), ServeFixture.options())) {
            for (String[] c : cases) {
                HttpResponse<String> r = fx.post(s, c[0]);
                assertEquals(400, r.statusCode(), c[0] + " -> " + r.body());
                JsonNode j = ServeFixture.JSON.readTree(r.body());
                assertEquals(c[1], j.get("field").asText(), c[0] + " -> " + r.body());
                assertFalse(j.get("error").asText().isBlank());
            }
            String dup = ServeFixture.JSON.readTree(fx.post(s, "{\"classes\": [1], \"seed\": 1, \"seed\": 2}").body()).get("error").asText();
            assertTrue(dup.contains("'seed' is given twice"), dup);
            String trailing = ServeFixture.JSON.readTree(fx.post(s, "{\"classes\": [1]} {}").body()).get("error").asText();
            assertTrue(trailing.contains("goes on after its JSON object"), trailing);
            HttpResponse<String> big = fx.post(s, "{\"classes\": [1], \"seed\": 1" + " ".repeat(70_000) + "}");
            assertEquals(413, big.statusCode(), big.body());
            assertEquals("body", ServeFixture.JSON.readTree(big.body()).get("field").asText());
            assertEquals(405, fx.get(s, "/v1/generate").statusCode());
            assertEquals(404, fx.get(s, "/etc/passwd").statusCode());
            assertEquals(404, fx.get(s, "/../pom.xml").statusCode());
            String metrics = fx.get(s, "/metrics").body();
            assertTrue(metrics.contains("npp_requests_total{path=\"/v1/generate\",status=\"400\"} " + (cases.length + 2)), metrics);
        }
    }

    /** On one raw connection: kept alive, two pipelined requests, {@code Expect: 100-continue}, then a chunked body (411, closed). */
    @Test
    void rawHttpOnOneConnection() throws Exception {
        try (NppServer s = fx.start(fx.engine(), ServeFixture.options()); java.net.Socket c = new java.net.Socket("127.0.0.1", s.port())) {
            c.setSoTimeout(60_000);
            java.io.OutputStream o = c.getOutputStream();
            java.io.DataInputStream in = new java.io.DataInputStream(new java.io.BufferedInputStream(c.getInputStream()));
            o.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            assertEquals("200 ok\n", response(in));
            assertTrue(response(in).startsWith("200 # HELP"), "the pipelined second request is answered too");
            String body = body(CASES.get(0), "tokens");
            o.write(("POST /v1/generate HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " + body.length() + "\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            assertEquals("HTTP/1.1 100 Continue", in.readLine());
            assertEquals("", in.readLine());
            o.write(body.getBytes(StandardCharsets.US_ASCII));
            String r = response(in);
            assertTrue(r.startsWith("200 "), r);
            long[][] got = ServeFixture.tokensOf(ServeFixture.JSON.readTree(r.substring(4)));
            for (int k = 0; k < got.length; k++) {
                assertArrayEquals(EXPECTED.get(0)[k], got[k], "row " + k);
            }
            o.write("POST /v1/generate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            assertTrue(response(in).startsWith("411 "), "chunked bodies are refused");
            assertEquals(-1, in.read(), "and the connection is closed");
        }
    }

    /** One HTTP/1.1 response read from a raw stream: "STATUS BODY". */
    @SuppressWarnings("deprecation")
    private static String response(java.io.DataInputStream in) throws java.io.IOException {
        String status = in.readLine();
        int length = 0;
        for (String h; !(h = in.readLine()).isEmpty(); ) {
            if (h.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                length = Integer.parseInt(h.substring(15).strip());
            }
        }
        byte[] b = new byte[length];
        in.readFully(b);
        return status.split(" ")[1] + " " + new String(b, StandardCharsets.UTF_8);
    }

    /** A failing engine is a 500 whose body says so in general words; the paths in the exception stay in the log. */
    @Test
    void failuresAre500WithoutPaths() throws Exception {
        String where = fx.onnx.toAbsolutePath().resolve("gpt-generate.onnx").toString();
        org.nextpatch.serve.GenerationEngine broken = new org.nextpatch.serve.GenerationEngine() {
            @Override
            public long[][] tokens(long[] classes, float[] uniforms, org.nextpatch.sample.SamplingSettings settings) {
                throw new org.nextpatch.util.NppException("ONNX Runtime failed running " + where + ": broken");
            }

            @Override
            public List<byte[]> pngs(long[][] tokens) {
                throw new IllegalStateException("not reached");
            }

            @Override
            public void close() {
            }
        };
        try (NppServer s = fx.start(broken, ServeFixture.options())) {
            HttpResponse<String> r = fx.post(s, body(CASES.get(0), "tokens"));
            assertEquals(500, r.statusCode(), r.body());
            assertTrue(r.body().contains("generation failed"), r.body());
            assertFalse(r.body().contains(tmp.toAbsolutePath().toString()), "no server path in an error body: " + r.body());
        }
    }

    /** Queue of 2, batches of 1: with one request held in the engine and two waiting, the next is 503. */
    @Test
    void fullQueueIs503WithRetryAfter() throws Exception {
        ServeFixture.GatedEngine engine = new ServeFixture.GatedEngine(fx.engine());
        engine.arm();
        try (NppServer s = fx.start(engine, ServeFixture.options().withBatching(1, 0, 2))) {
            ExecutorService pool = Executors.newFixedThreadPool(3);
            try {
                List<Future<HttpResponse<String>>> held = new ArrayList<>();
                held.add(pool.submit(() -> fx.post(s, body(CASES.get(0), "tokens"))));
                engine.entered.await();
                held.add(pool.submit(() -> fx.post(s, body(CASES.get(1), "tokens"))));
                held.add(pool.submit(() -> fx.post(s, body(CASES.get(2), "tokens"))));
                fx.awaitGauge(s, "npp_queue_length", 2);
                HttpResponse<String> over = fx.post(s, body(CASES.get(3), "tokens"));
                assertEquals(503, over.statusCode(), over.body());
                assertEquals("1", over.headers().firstValue("Retry-After").orElse(null));
                engine.release();
                for (int i = 0; i < 3; i++) {
                    checkCase(held.get(i).get(), i);
                }
                // the queue drained: the refused request now succeeds
                checkCase(fx.post(s, body(CASES.get(3), "tokens")), 3);
            } finally {
                engine.release();
                pool.shutdownNow();
            }
        }
    }

    @Test
    void requestNotAnsweredInTimeIs504() throws Exception {
        ServeFixture.GatedEngine engine = new ServeFixture.GatedEngine(fx.engine());
        engine.arm();
        try (NppServer s = fx.start(engine, ServeFixture.options().withTimeoutMs(300))) {
            HttpResponse<String> r = fx.post(s, body(CASES.get(0), "tokens"));   // the gate holds it past the timeout
            assertEquals(504, r.statusCode(), r.body());
            engine.release();
        }
    }

    /** Shutdown with one request in the engine and one queued: both answered in full, then the port closes. */
    @Test
    void shutdownAnswersRequestsInFlight() throws Exception {
        ServeFixture.GatedEngine engine = new ServeFixture.GatedEngine(fx.engine());
        engine.arm();
        NppServer s = fx.start(engine, ServeFixture.options().withBatching(1, 0, 8));
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            Future<HttpResponse<String>> a = pool.submit(() -> fx.post(s, body(CASES.get(0), "both")));
            engine.entered.await();
            Future<HttpResponse<String>> b = pool.submit(() -> fx.post(s, body(CASES.get(1), "tokens")));
            fx.awaitGauge(s, "npp_queue_length", 1);
            Future<?> stop = pool.submit(() -> s.shutdown(120_000));
            // draining: new work is refused while the two requests are still held
            long end = System.nanoTime() + 60_000_000_000L;
            while (fx.get(s, "/healthz").statusCode() != 503 && System.nanoTime() < end) {
                Thread.sleep(5);
            }
            HttpResponse<String> late = fx.post(s, body(CASES.get(2), "tokens"));
            assertEquals(503, late.statusCode(), late.body());
            assertFalse(stop.isDone(), "shutdown waits for the requests in flight");
            engine.release();
            checkCase(a.get(), 0);
            assertEquals(CASES.get(0).classes.length, ServeFixture.JSON.readTree(a.get().body()).get("images").size());
            checkCase(b.get(), 1);
            stop.get();
            assertThrows(ConnectException.class, () -> fx.get(s, "/healthz"));
        } finally {
            engine.release();
            pool.shutdownNow();
            s.shutdown(0);
        }
    }

    @AfterAll
    static void done() {
        EXPECTED.clear();
    }
}
