package org.nextpatch.onnx;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.Fixtures;
import org.nextpatch.config.GptConfig;
import org.nextpatch.config.VqConfig;
import org.nextpatch.io.StateDicts;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Tensor;

import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The exported ONNX graphs against the llamagen-tiny fixture written by upstream PyTorch: teacher-forced
 * logits (prefill + step graph), greedy generation with guidance 1 and 2 (Loop graph and step graph),
 * and the VQ decoder graph. Tolerances are the fixture README's: 1e-4 of the largest magnitude for
 * floats, exact for tokens.
 */
class OnnxFixtureTest {
    @TempDir
    static Path dir;
    static GptConfig cfg;
    static OnnxSampler sampler;

    @BeforeAll
    static void export() {
        cfg = GptConfig.fromJson(Fixtures.file("gpt-config.json")).withoutDropout();
        Map<String, Tensor> w = StateDicts.select(TorchCheckpoint.load(Fixtures.file("gpt.pt")), false);
        for (Path f : new GptOnnxExporter(cfg, w, false).exportAll(dir, false)) {
            assertEquals(List.of(), OnnxChecker.check(f), f.toString());
        }
        sampler = new OnnxSampler(dir, cfg, OnnxSampler.Options.cpu());
    }

    @AfterAll
    static void close() {
        sampler.close();
    }

    @Test
    void teacherForcedLogitsMatchFixture() {
        long[] tokens = Npy.read(Fixtures.file("tokens.npy")).toLongArray();   // [4, 16]
        long[] labels = Npy.read(Fixtures.file("labels.npy")).toLongArray();   // [4], includes the null class 10
        float[] want = Npy.read(Fixtures.file("logits.npy")).toFloatArray();   // [4, 16, 256]
        int t = 16, v = 256;
        List<OnnxTensor> cache = new ArrayList<>();
        float[] first = sampler.prefill(labels, cache);               // [4, 1, 256]
        long[][] ids = new long[4][t - 1];
        long[][] pos = new long[4][t - 1];
        for (int b = 0; b < 4; b++) {
            for (int i = 0; i < t - 1; i++) {
                ids[b][i] = tokens[b * t + i];
                pos[b][i] = i + 1;
            }
        }
        float[] rest = sampler.step(ids, pos, cache);                 // [4, 15, 256]
        cache.forEach(OnnxTensor::close);
        double maxAbs = 0, maxDiff = 0;
        for (int b = 0; b < 4; b++) {
            for (int k = 0; k < t; k++) {
                for (int j = 0; j < v; j++) {
                    float got = k == 0 ? first[b * v + j] : rest[(b * (t - 1) + k - 1) * v + j];
                    float exp = want[(b * t + k) * v + j];
                    maxAbs = Math.max(maxAbs, Math.abs(exp));
                    maxDiff = Math.max(maxDiff, Math.abs(exp - got));
                }
            }
        }
        assertTrue(maxDiff <= 1e-4 * maxAbs, "max diff " + maxDiff + " vs largest logit " + maxAbs);
    }

    @Test
    void greedyTokensMatchFixtureForBothGraphs() {
        long[] classes = {3, 0, 9};
        for (double scale : new double[]{1.0, 2.0}) {
            long[] want = Npy.read(Fixtures.file(scale == 1.0 ? "greedy-cfg1.npy" : "greedy-cfg2.npy")).toLongArray();
            SamplingSettings st = SamplingSettings.greedy(scale);
            long[][] loop = sampler.generate(classes, st, 0, 0, 3);
            long[][] steps = sampler.generateStepwise(classes, st, 0, 0, 3);
            for (int b = 0; b < 3; b++) {
                long[] row = java.util.Arrays.copyOfRange(want, b * 16, b * 16 + 16);
                assertArrayEquals(row, loop[b], "Loop graph, cfg " + scale + ", image " + b);
                assertArrayEquals(row, steps[b], "step graph, cfg " + scale + ", image " + b);
            }
        }
    }

    @Test
    void vqDecoderGraphMatchesFixture() throws Exception {
        VqConfig vc = VqConfig.fromJson(Fixtures.file("vq-config.json"));
        Map<String, Tensor> w = StateDicts.select(TorchCheckpoint.load(Fixtures.file("vq.pt")), false);
        Path f = new VqDecoderOnnxExporter(vc, w).export(dir);
        assertEquals(List.of(), OnnxChecker.check(f));
        long[] codes = Npy.read(Fixtures.file("codes.npy")).toLongArray();     // [2, 64]
        float[] want = Npy.read(Fixtures.file("decoded.npy")).toFloatArray();  // [2, 3, 16, 16]
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession s = env.createSession(f.toString(), new OrtSession.SessionOptions());
             OnnxTensor in = OnnxTensor.createTensor(env, LongBuffer.wrap(codes), new long[]{2, 64});
             OrtSession.Result r = s.run(Map.of("codes", in))) {
            float[] got = new float[want.length];
            ((OnnxTensor) r.get("images").orElseThrow()).getFloatBuffer().get(got);
            double maxAbs = 0, maxDiff = 0;
            for (int i = 0; i < want.length; i++) {
                maxAbs = Math.max(maxAbs, Math.abs(want[i]));
                maxDiff = Math.max(maxDiff, Math.abs(want[i] - got[i]));
            }
            assertTrue(maxDiff <= 1e-4 * maxAbs, "max diff " + maxDiff + " vs largest value " + maxAbs);
            // pixels = uint8(clamp(127.5 x + 128)) in NHWC (spec 6.5)
            byte[] px = new byte[2 * 16 * 16 * 3];
            ((OnnxTensor) r.get("pixels").orElseThrow()).getByteBuffer().get(px);
            int mismatches = 0;
            for (int b = 0; b < 2; b++) for (int c = 0; c < 3; c++) for (int y = 0; y < 16; y++) for (int x = 0; x < 16; x++) {
                float v = want[((b * 3 + c) * 16 + y) * 16 + x];
                int exp = (int) Math.max(0, Math.min(255, 127.5f * v + 128f));
                int gotPx = px[((b * 16 + y) * 16 + x) * 3 + c] & 0xff;
                if (Math.abs(exp - gotPx) > 1) mismatches++; // +-1 where a value sits on an integer boundary
            }
            assertEquals(0, mismatches);
        }
    }

    @Test
    void onnxVqDecoderMatchesTheGraphInBatches() throws Exception {
        VqConfig vc = VqConfig.fromJson(Fixtures.file("vq-config.json"));
        Map<String, Tensor> w = StateDicts.select(TorchCheckpoint.load(Fixtures.file("vq.pt")), false);
        Path sub = dir.resolve("vq-only");
        new VqDecoderOnnxExporter(vc, w).export(java.nio.file.Files.createDirectories(sub));
        long[] codes = Npy.read(Fixtures.file("codes.npy")).toLongArray();
        float[] want = Npy.read(Fixtures.file("decoded.npy")).toFloatArray();
        long[][] rows = {java.util.Arrays.copyOfRange(codes, 0, 64), java.util.Arrays.copyOfRange(codes, 64, 128)};
        try (OnnxVqDecoder dec = new OnnxVqDecoder(sub)) {
            Tensor px = dec.decode(rows, 1);                              // two runs of one image
            assertArrayEquals(new long[]{2, 16, 16, 3}, px.shape());
            long[] got = px.toLongArray();
            for (int b = 0; b < 2; b++) for (int c = 0; c < 3; c++) for (int y = 0; y < 16; y++) for (int x = 0; x < 16; x++) {
                float v = want[((b * 3 + c) * 16 + y) * 16 + x];
                int exp = (int) Math.max(0, Math.min(255, 127.5f * v + 128f));
                assertTrue(Math.abs(exp - got[((b * 16 + y) * 16 + x) * 3 + c]) <= 1); // +-1 at integer boundaries
            }
        }
    }
}
