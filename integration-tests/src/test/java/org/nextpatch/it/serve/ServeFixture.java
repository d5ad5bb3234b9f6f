package org.nextpatch.it.serve;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.nextpatch.cli.BenchWeights;
import org.nextpatch.cli.NppCommand;
import org.nextpatch.config.GptConfig;
import org.nextpatch.config.VqConfig;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.model.VqModel;
import org.nextpatch.onnx.OnnxExport;
import org.nextpatch.onnx.OnnxSampler;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.serve.GenerationEngine;
import org.nextpatch.serve.NppServer;
import org.nextpatch.serve.OnnxEngine;
import org.nextpatch.serve.ServeOptions;
import org.nextpatch.serve.ServedModel;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Tensor;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A small random-weight model exported as {@code npp export-onnx} would (GPT graphs, VQ decoder,
 * manifest), the checkpoint the command line samples from, and helpers to start a server on a free
 * loopback port, call it, and run {@code npp sample --engine onnx} for the reference tokens.
 */
final class ServeFixture {
    static final ObjectMapper JSON = new ObjectMapper();
    static final List<String> NAMES = List.of("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine");

    final Path dir;
    final Path onnx;
    final Path ckpt;
    final Path config;
    final GptConfig gpt;
    final int imageSize;
    final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    /** Writes the model into {@code dir} (a 4x4 token grid, 64 codes, 16 px images). */
    ServeFixture(Path dir) throws IOException {
        this.dir = dir;
        gpt = GptConfig.fromJson(JSON.readTree("{\"dim\": 64, \"n_layer\": 2, \"n_head\": 4, \"vocab_size\": 64, "
                + "\"num_classes\": 10, \"block_size\": 16, \"cls_token_num\": 1, \"multiple_of\": 64}"));
        VqConfig vq = VqConfig.fromJson(JSON.readTree("{\"codebook_size\": 64, \"codebook_embed_dim\": 8, \"ch\": 32, "
                + "\"ch_mult\": [1, 2, 2], \"z_channels\": 32, \"num_res_blocks\": 1, \"codebook_l2_norm\": true}"));
        imageSize = gpt.gridSide() * vq.downsample();
        Map<String, Tensor> w = BenchWeights.random(gpt, 13);
        Map<String, Tensor> vw;
        try (VqModel m = VqModel.initialise(vq, 5, Device.cpu())) {
            vw = m.stateDict();
        }
        ckpt = dir.resolve("gpt.pt");
        TorchCheckpoint.save(ckpt, Map.of("model", w));
        config = dir.resolve("gpt-config.json");
        Files.writeString(config, gpt.toJson().toString());
        onnx = dir.resolve("onnx");
        // the provenance records the checkpoint's absolute path, as 'npp export-onnx' does
        OnnxExport.export(gpt, w, vq, vw, onnx, false, null, Map.of("purpose", "serve tests", "gpt_ckpt", ckpt.toAbsolutePath().toString()));
    }

    ServedModel model() {
        return ServedModel.open(onnx, NAMES);
    }

    OnnxEngine engine() {
        return new OnnxEngine(model(), new OnnxSampler.Options("cpu", 1, 0, null));
    }

    NppServer start(GenerationEngine engine, ServeOptions options) {
        return new NppServer(model(), engine, options.withPort(0)).start();
    }

    /** Loopback, port 0, batches of 32 collected for 20 ms, 64 queued, 2 min timeout. */
    static ServeOptions options() {
        return ServeOptions.defaults().withBatching(32, 20, 64).withTimeoutMs(120_000);
    }

    HttpResponse<String> post(NppServer s, String body) throws IOException, InterruptedException {
        return client.send(HttpRequest.newBuilder(URI.create(s.url() + "/v1/generate"))
                .header("Content-Type", "application/json").timeout(Duration.ofMinutes(2))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> get(NppServer s, String path) throws IOException, InterruptedException {
        return client.send(HttpRequest.newBuilder(URI.create(s.url() + path)).timeout(Duration.ofMinutes(1)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** The tokens {@code npp sample --engine onnx} writes for these classes, seed and sampling flags. */
    long[][] cliTokens(long[] classes, long seed, String... samplingFlags) {
        Path out = dir.resolve("cli-" + System.nanoTime());
        List<String> args = new ArrayList<>(List.of("sample", "--engine", "onnx", "--onnx-dir", onnx.toString(),
                "--gpt-ckpt", ckpt.toString(), "--gpt-config", config.toString(), "--device", "cpu", "--onnx-threads", "1",
                "--classes", join(classes), "--seed", Long.toString(seed), "--out", out.toString()));
        args.addAll(List.of(samplingFlags));
        assertEquals(0, NppCommand.execute(args.toArray(new String[0])), "npp sample " + args);
        long[] flat = Npy.read(out.resolve("tokens.npy")).toLongArray();
        int t = gpt.blockSize();
        long[][] rows = new long[classes.length][];
        for (int i = 0; i < classes.length; i++) {
            rows[i] = java.util.Arrays.copyOfRange(flat, i * t, (i + 1) * t);
        }
        return rows;
    }

    static long[][] tokensOf(JsonNode response) {
        JsonNode t = response.get("tokens");
        long[][] out = new long[t.size()][];
        for (int i = 0; i < out.length; i++) {
            out[i] = new long[t.get(i).size()];
            for (int j = 0; j < out[i].length; j++) {
                out[i][j] = t.get(i).get(j).asLong();
            }
        }
        return out;
    }

    static String join(long[] v) {
        StringBuilder b = new StringBuilder();
        for (long x : v) {
            b.append(b.length() == 0 ? "" : ",").append(x);
        }
        return b.toString();
    }

    /**
     * Wraps an engine: records each run's size and, while {@link #hold} is armed, blocks every run
     * until released, so tests can fill the queue or shut down with work in flight deterministically.
     */
    static final class GatedEngine implements GenerationEngine {
        final GenerationEngine inner;
        final List<Integer> runs = new CopyOnWriteArrayList<>();
        final CountDownLatch entered = new CountDownLatch(1);
        volatile CountDownLatch hold = new CountDownLatch(0);

        GatedEngine(GenerationEngine inner) {
            this.inner = inner;
        }

        void arm() {
            hold = new CountDownLatch(1);
        }

        void release() {
            hold.countDown();
        }

        @Override
        public long[][] tokens(long[] classes, float[] uniforms, SamplingSettings settings) {
            runs.add(classes.length);
            entered.countDown();
            try {
                hold.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            return inner.tokens(classes, uniforms, settings);
        }

        @Override
        public List<byte[]> pngs(long[][] tokens) {
            return inner.pngs(tokens);
        }

        @Override
        public void close() {
            inner.close();
        }
    }

    /** Polls {@code /metrics} until the gauge has the value (bounded: fails after a minute, never asserts on speed). */
    void awaitGauge(NppServer s, String gauge, int value) throws Exception {
        long end = System.nanoTime() + 60_000_000_000L;
        String last = "";
        while (System.nanoTime() < end) {
            last = get(s, "/metrics").body();
            for (String line : last.split("\n")) {
                if (line.equals(gauge + " " + value)) {
                    return;
                }
            }
            Thread.sleep(5);
        }
        throw new AssertionError(gauge + " never reached " + value + ":\n" + last);
    }
}
