package org.nextpatch.it.serve;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.nextpatch.cli.BenchWeights;
import org.nextpatch.config.GptConfig;
import org.nextpatch.onnx.OnnxExport;
import org.nextpatch.onnx.OnnxSampler;
import org.nextpatch.serve.NppServer;
import org.nextpatch.serve.OnnxEngine;
import org.nextpatch.serve.ServeOptions;
import org.nextpatch.serve.ServedModel;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Load generator for {@code npp serve} (opt-in: {@code -Dnpp.bench.serve=TARGET[,TARGET...]}, where a
 * target is an export directory or a GPT configuration JSON, exported here with random weights).
 * For each target, one run side by side: the server without batching ({@code --max-batch 1}) and
 * with it ({@code --max-batch 32 --batch-window-ms 5}), each under 1, 8 and 32 closed-loop clients on
 * loopback that send one single-image request at a time (tokens only). Bounded: a fixed number of
 * requests per row. Prints a Markdown table and writes it to {@code target/serve-bench.md}.
 */
@EnabledIfSystemProperty(named = "npp.bench.serve", matches = ".+")
class ServeBenchmark {
    static final int REQUESTS = Integer.getInteger("npp.bench.serve.requests", 192);
    static final int[] CLIENTS = {1, 8, 32};

    @Test
    void measure() throws Exception {
        StringBuilder md = new StringBuilder();
        for (String target : System.getProperty("npp.bench.serve").split(",")) {
            Path p = Path.of(target.trim()).toAbsolutePath();
            Path dir = p;
            String name = p.getFileName().toString();
            if (target.endsWith(".json")) {
                GptConfig c = GptConfig.fromJson(p);
                dir = Files.createTempDirectory("npp-serve-bench");
                OnnxExport.export(c, BenchWeights.random(c, 1), null, null, dir, false, null, Map.of("purpose", "serve benchmark"));
            } else {
                name = p.getParent().getFileName() + "/" + name;
            }
            if (target.endsWith(".json")) {
                dir.toFile().deleteOnExit();
                for (java.io.File f : dir.toFile().listFiles()) {
                    f.deleteOnExit();   // deleted last-registered-first: files before their folder
                }
            }
            ServedModel model = ServedModel.open(dir, null);
            GptConfig c = model.gpt();
            md.append(String.format(Locale.ROOT, "%n%s (dim %d, %d layers, %d tokens, vocabulary %d), %d single-image requests per row, "
                    + "cfg_scale 4, tokens only:%n%n", name, c.dim(), c.nLayer(), c.blockSize(), c.vocabSize(), REQUESTS));
            md.append("| server | clients | images/s | p50 latency (ms) | p99 latency (ms) | mean batch | images per CPU-second |\n"
                    + "|---|---|---|---|---|---|---|\n");
            for (int batch : new int[]{1, 32}) {
                ServeOptions o = ServeOptions.defaults().withPort(0).withBatching(batch, batch == 1 ? 0 : 5, 256);
                try (NppServer s = new NppServer(model, new OnnxEngine(model, OnnxSampler.Options.cpu()), o).start()) {
                    run(s, c.numClasses(), 4, 16);   // warm-up: sessions loaded, JIT warm
                    for (int clients : CLIENTS) {
                        double before = batchSum(s);
                        double beforeN = batchCount(s);
                        double[] r = run(s, c.numClasses(), clients, REQUESTS);
                        double meanBatch = (batchSum(s) - before) / Math.max(1, batchCount(s) - beforeN);
                        md.append(String.format(Locale.ROOT, "| %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f |%n",
                                batch == 1 ? "no batching (`--max-batch 1`)" : "batching (`--max-batch 32 --batch-window-ms 5`)",
                                clients, r[0], r[1], r[2], meanBatch, r[3]));
                    }
                }
            }
        }
        System.out.println(md);
        Files.createDirectories(Path.of("target"));
        Files.writeString(Path.of("target", "serve-bench.md"), md.toString());
    }

    /** {images/s, p50 ms, p99 ms, images per CPU-second of this process} of {@code total} requests from {@code clients} closed-loop clients. */
    static double[] run(NppServer s, int numClasses, int clients, int total) throws Exception {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        AtomicInteger next = new AtomicInteger();
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        long cpu0 = os.getProcessCpuTime();
        double[] lat = new double[total];
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        long t0 = System.nanoTime();
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (int k = 0; k < clients; k++) {
                fs.add(pool.submit(() -> {
                    for (int i; (i = next.getAndIncrement()) < total; ) {
                        String body = "{\"classes\": [" + (i % numClasses) + "], \"seed\": " + i + ", \"format\": \"tokens\"}";
                        long a = System.nanoTime();
                        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(s.url() + "/v1/generate"))
                                .timeout(Duration.ofMinutes(5)).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                                HttpResponse.BodyHandlers.ofString());
                        lat[i] = (System.nanoTime() - a) / 1e6;
                        assertEquals(200, r.statusCode(), r.body());
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
        double secs = (System.nanoTime() - t0) / 1e9;
        double cpu = (os.getProcessCpuTime() - cpu0) / 1e9;
        Arrays.sort(lat);
        return new double[]{total / secs, lat[(int) Math.floor(0.5 * (total - 1))], lat[(int) Math.ceil(0.99 * (total - 1))], total / cpu};
    }

    private static double batchSum(NppServer s) throws Exception {
        return metric(s, "npp_batch_size_sum ");
    }

    private static double batchCount(NppServer s) throws Exception {
        return metric(s, "npp_batch_size_count ");
    }

    private static double metric(NppServer s, String prefix) throws Exception {
        String text = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(s.url() + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        for (String l : text.split("\n")) {
            if (l.startsWith(prefix)) {
                return Double.parseDouble(l.substring(prefix.length()));
            }
        }
        throw new AssertionError("no " + prefix + " in /metrics");
    }
}
