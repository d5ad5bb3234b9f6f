package org.nextpatch.onnx;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.onnxruntime.OnnxTensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.Fixtures;
import org.nextpatch.config.GptConfig;
import org.nextpatch.io.StateDicts;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.model.Gpt;
import org.nextpatch.sample.DjlSampler;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The two engines on the fixture checkpoint: the ONNX step graph gives the DJL model's teacher-forced
 * logits (within 1e-4 of the largest magnitude), and the ONNX Loop graph, the ONNX step loop and the
 * DJL sampler draw identical tokens for the same seed with temperature, top-k, top-p and guidance.
 */
class OnnxDjlParityTest {
    @TempDir
    static Path dir;
    static GptConfig cfg;
    static Gpt gpt;
    static OnnxSampler onnx;

    @BeforeAll
    static void setUp() {
        cfg = GptConfig.fromJson(Fixtures.file("gpt-config.json")).withoutDropout();
        Map<String, Tensor> w = StateDicts.select(TorchCheckpoint.load(Fixtures.file("gpt.pt")), false);
        new GptOnnxExporter(cfg, w, false).exportAll(dir, false);
        onnx = new OnnxSampler(dir, cfg, OnnxSampler.Options.cpu());
        gpt = new Gpt(cfg, w, Device.cpu(), "fixture");
    }

    @AfterAll
    static void tearDown() {
        onnx.close();
        gpt.close();
    }

    @Test
    void stepGraphLogitsMatchDjlModel() {
        long[] tok = new long[3 * 16];
        for (int i = 0; i < tok.length; i++) tok[i] = (i * 37 + 11) % 256;
        long[] labels = {7, 10, 2};
        float[] djl;
        try (NDManager m = gpt.manager().newSubManager()) {
            djl = gpt.logits(m.create(tok, new Shape(3, 16)), m.create(labels), 1, false).toFloatArray(); // [3, 16, 256]
        }
        List<OnnxTensor> cache = new ArrayList<>();
        float[] first = onnx.prefill(labels, cache);
        long[][] ids = new long[3][15];
        long[][] pos = new long[3][15];
        for (int b = 0; b < 3; b++) for (int i = 0; i < 15; i++) { ids[b][i] = tok[b * 16 + i]; pos[b][i] = i + 1; }
        float[] rest = onnx.step(ids, pos, cache);
        cache.forEach(OnnxTensor::close);
        double maxAbs = 0, maxDiff = 0;
        for (int b = 0; b < 3; b++) for (int k = 0; k < 16; k++) for (int j = 0; j < 256; j++) {
            float o = k == 0 ? first[b * 256 + j] : rest[(b * 15 + k - 1) * 256 + j];
            float d = djl[(b * 16 + k) * 256 + j];
            maxAbs = Math.max(maxAbs, Math.abs(d));
            maxDiff = Math.max(maxDiff, Math.abs(d - o));
        }
        assertTrue(maxDiff <= 1e-4 * maxAbs, "max diff " + maxDiff + " vs largest logit " + maxAbs);
    }

    @Test
    void sameSeedSameTokensAcrossEngines() {
        long[] classes = {3, 0, 9, 5, 1};
        List<SamplingSettings> settings = List.of(
                new SamplingSettings(1.0, -1, 1.0, 0, 1.0, false),
                new SamplingSettings(2.0, -1, 0.9, 20, 1.0, false),
                new SamplingSettings(1.75, 4, 1.2, 0, 0.8, false),
                new SamplingSettings(3.0, -1, 1.0, 50, 0.9, false),
                SamplingSettings.greedy(2.0));
        for (SamplingSettings st : settings) {
            long seed = 1234;
            long[] djl = new DjlSampler(gpt, st).sample(classes, seed, 2);  // batches of 2, 2, 1
            long[][] loop = onnx.generate(classes, st, seed, 0, 5);
            long[][] steps = onnx.generateStepwise(classes, st, seed, 0, 3);
            for (int b = 0; b < classes.length; b++) {
                long[] want = java.util.Arrays.copyOfRange(djl, b * 16, b * 16 + 16);
                assertArrayEquals(want, loop[b], "Loop graph vs DJL, image " + b + ", " + st);
                assertArrayEquals(want, steps[b], "step graph vs DJL, image " + b + ", " + st);
            }
        }
    }

    /** Head dimension 64 (as every named LlamaGen size) on an 8 x 8 grid: step-graph logits vs the DJL model. */
    @Test
    void headDim64LogitsMatchDjl(@TempDir Path d64) {
        GptConfig c = new GptConfig(128, 2, 2, 96, 4, 64, 1, 64, null, 1e-5, 10000, 0, 0, 0, 0, 0);
        Map<String, Tensor> w = org.nextpatch.cli.BenchWeights.random(c, 5);
        new GptOnnxExporter(c, w, false).exportAll(d64, false);
        long[] tok = new long[2 * 64];
        for (int i = 0; i < tok.length; i++) tok[i] = (i * 29 + 3) % 96;
        long[] labels = {1, 4};
        float[] djl;
        try (Gpt g = new Gpt(c, w, Device.cpu(), "random"); NDManager m = g.manager().newSubManager()) {
            djl = g.logits(m.create(tok, new Shape(2, 64)), m.create(labels), 1, false).toFloatArray();
        }
        try (OnnxSampler s = new OnnxSampler(d64, c, OnnxSampler.Options.cpu())) {
            List<OnnxTensor> cache = new ArrayList<>();
            float[] first = s.prefill(labels, cache);
            long[][] ids = new long[2][63];
            long[][] pos = new long[2][63];
            for (int b = 0; b < 2; b++) for (int i = 0; i < 63; i++) { ids[b][i] = tok[b * 64 + i]; pos[b][i] = i + 1; }
            float[] rest = s.step(ids, pos, cache);
            cache.forEach(OnnxTensor::close);
            double maxAbs = 0, maxDiff = 0;
            for (int b = 0; b < 2; b++) for (int k = 0; k < 64; k++) for (int j = 0; j < 96; j++) {
                float o = k == 0 ? first[b * 96 + j] : rest[(b * 63 + k - 1) * 96 + j];
                float dj = djl[(b * 64 + k) * 96 + j];
                maxAbs = Math.max(maxAbs, Math.abs(dj));
                maxDiff = Math.max(maxDiff, Math.abs(dj - o));
            }
            assertTrue(maxAbs > 0.1 && maxDiff <= 1e-4 * maxAbs, "max diff " + maxDiff + " vs largest logit " + maxAbs);
        }
    }
}
