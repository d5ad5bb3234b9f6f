package org.nextpatch.onnx;

import ai.onnxruntime.OnnxTensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.config.GptConfig;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.sample.TokenChooser;
import org.nextpatch.sample.Uniforms;
import org.nextpatch.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The exported GPT graphs against {@link RefGpt}, a naive Java forward pass written from spec 6.2
 * and 6.4 (interleaved RoPE, zero class row), on a tiny random model: d 16, 2 layers, 2 heads
 * (hd 8), vocabulary 32, 5 classes, a 4x4 token grid.
 */
class GptOnnxExporterTest {
    static final GptConfig CFG = new GptConfig(16, 2, 2, 32, 5, 16, 1, 16, null, 1e-5, 10000, 0, 0, 0, 0, 0);
    @TempDir
    static Path dir;
    static Map<String, Tensor> weights;
    static RefGpt ref;
    static OnnxSampler sampler;

    @BeforeAll
    static void export() {
        weights = RefGpt.randomWeights(CFG, 7);
        ref = new RefGpt(CFG, weights);
        GptOnnxExporter exp = new GptOnnxExporter(CFG, weights, false);
        for (Path f : exp.exportAll(dir, false)) {
            assertEquals(List.of(), OnnxChecker.check(f), f.toString());
        }
        sampler = new OnnxSampler(dir, CFG, OnnxSampler.Options.cpu());
    }

    @AfterAll
    static void close() {
        sampler.close();
    }

    /** max |a - b| / max |b| over all entries. */
    static double relErr(float[] got, float[][] want) {
        double maxAbs = 0, maxDiff = 0;
        int i = 0;
        for (float[] row : want) for (float w : row) {
            maxAbs = Math.max(maxAbs, Math.abs(w));
            maxDiff = Math.max(maxDiff, Math.abs(w - got[i++]));
        }
        assertEquals(i, got.length);
        return maxDiff / maxAbs;
    }

    @Test
    void prefillAndMultiTokenStepMatchReference() {
        long[] tokens = {3, 17, 0, 31, 5, 5, 9, 12, 22, 1, 30, 8, 2, 14, 27};
        float[][] want = ref.logits(2, tokens); // [16, 32]
        float[] all = teacherForced(sampler, 2, tokens);
        // tolerance: 1e-4 of the largest logit magnitude (fixture README), float32 vs double reference
        assertTrue(relErr(all, want) < 1e-4, "relative error " + relErr(all, want));
    }

    /** Logits [16 * 32] of class {@code label} then {@code tokens}: the prefill graph, then one step-graph run. */
    private static float[] teacherForced(OnnxSampler s, long label, long[] tokens) {
        List<OnnxTensor> cache = new ArrayList<>();
        float[] l0 = s.prefill(new long[]{label}, cache);
        long[][] pos = new long[1][15];
        for (int i = 0; i < 15; i++) pos[0][i] = i + 1;
        float[] rest = s.step(new long[][]{tokens}, pos, cache);
        cache.forEach(OnnxTensor::close);
        float[] all = new float[16 * 32];
        System.arraycopy(l0, 0, all, 0, 32);
        System.arraycopy(rest, 0, all, 32, 15 * 32);
        return all;
    }

    @Test
    void tokenByTokenStepsMatchReference() {
        long[] tokens = {4, 4, 19, 0, 7, 11, 30, 2};
        float[][] want = ref.logits(4, tokens);
        {
            OnnxSampler s = sampler;
            List<OnnxTensor> cache = new ArrayList<>();
            float[] all = new float[9 * 32];
            System.arraycopy(s.prefill(new long[]{4}, cache), 0, all, 0, 32);
            for (int t = 0; t < tokens.length; t++) {
                float[] l = s.step(new long[][]{{tokens[t]}}, new long[][]{{t + 1}}, cache);
                System.arraycopy(l, 0, all, (t + 1) * 32, 32);
            }
            assertTrue(relErr(all, want) < 1e-4, "relative error " + relErr(all, want));
            cache.forEach(OnnxTensor::close);
        }
    }

    /** Reference generation: full recompute per token with the shared draw. */
    static long[][] refGenerate(long[] classes, SamplingSettings st, long seed) {
        int t = CFG.blockSize(), v = CFG.vocabSize();
        long[][] out = new long[classes.length][t];
        TokenChooser chooser = new TokenChooser(st);
        for (int b = 0; b < classes.length; b++) {
            float[] u = Uniforms.forImage(seed, b, t);
            for (int step = 0; step < t; step++) {
                long[] prefix = java.util.Arrays.copyOf(out[b], step);
                float[] c = ref.logits((int) classes[b], prefix)[step];
                boolean g = step == 0 ? st.guided() : st.guidedAtDecodeStep(step - 1);
                float[] row = c.clone();
                if (g) {
                    float[] un = ref.logits(CFG.nullClass(), prefix)[step];
                    for (int j = 0; j < v; j++) row[j] = un[j] + (c[j] - un[j]) * (float) st.cfgScale();
                }
                out[b][step] = chooser.choose(row, u[step]);
            }
        }
        return out;
    }

    void checkAllPaths(SamplingSettings st) {
        long[] classes = {0, 3, 1, 4};
        long[][] want = refGenerate(classes, st, 42);
        {
            OnnxSampler s = sampler;
            long[][] loop = s.generate(classes, st, 42, 0, 3);      // batches of 3 and 1
            long[][] stepwise = s.generateStepwise(classes, st, 42, 0, 4);
            for (int b = 0; b < classes.length; b++) {
                assertArrayEquals(want[b], loop[b], "Loop graph, image " + b + " " + st);
                assertArrayEquals(want[b], stepwise[b], "step graph, image " + b + " " + st);
            }
        }
    }

    @Test
    void greedyWithAndWithoutGuidance() {
        checkAllPaths(SamplingSettings.greedy(1.0));
        checkAllPaths(SamplingSettings.greedy(2.0));
    }

    @Test
    void drawsWithFiltersAndCfgInterval() {
        checkAllPaths(new SamplingSettings(1.0, -1, 1.0, 0, 1.0, false));
        checkAllPaths(new SamplingSettings(2.5, -1, 0.8, 5, 1.0, false));
        checkAllPaths(new SamplingSettings(1.5, 3, 1.3, 0, 0.7, false));
        checkAllPaths(new SamplingSettings(1.0, -1, 1.0, 8, 0.5, false));
    }

    @Test
    void float16ExportWithExternalDataRunsOnCpu(@TempDir Path fp16Dir) throws Exception {
        GptOnnxExporter exp = new GptOnnxExporter(CFG, weights, true);
        for (Path f : exp.exportAll(fp16Dir, true)) {
            if (f.toString().endsWith(".onnx")) {
                assertEquals(List.of(), OnnxChecker.check(f), f.toString());
            }
        }
        // one weights file shared by the three graphs: every weight stored once (float16: 2 bytes),
        // plus alignment padding and the float32 RoPE tables
        long data = java.nio.file.Files.size(fp16Dir.resolve(GptOnnxExporter.WEIGHTS_FILE));
        assertTrue(data > 2 * CFG.parameterCount() && data < 2 * CFG.parameterCount() + 200_000, "weights file " + data);
        long[] tokens = {3, 17, 0, 31, 5, 5, 9, 12, 22, 1, 30, 8, 2, 14, 27};
        float[][] want = ref.logits(1, tokens);
        try (OnnxSampler s = new OnnxSampler(fp16Dir, CFG, OnnxSampler.Options.cpu())) {
            float[] all = teacherForced(s, 1, tokens);
            // float16 weights and products: about 3 decimal digits
            assertTrue(relErr(all, want) < 1e-2, "relative error " + relErr(all, want));
            long[][] toks = s.generate(new long[]{0, 1}, SamplingSettings.greedy(2.0), 1, 0, 2);
            assertEquals(16, toks[0].length);
        }
    }

    @Test
    void nullClassIsRefused() {
        org.junit.jupiter.api.Assertions.assertThrows(org.nextpatch.util.NppException.class,
                () -> sampler.generate(new long[]{CFG.nullClass()}, SamplingSettings.greedy(1.0), 0, 0, 1));
    }

    /** Chunk sizes that do not divide the sequence (padding steps) and a single growing cache give the same tokens. */
    @Test
    void anyDecodeChunkGivesTheSameTokens(@TempDir Path other) {
        SamplingSettings st = new SamplingSettings(2.0, -1, 1.0, 6, 0.9, false);
        long[] classes = {1, 2};
        long[][] want = refGenerate(classes, st, 9);
        for (String chunk : new String[]{"3", "7", "16", "1"}) {
            System.setProperty("npp.onnx.chunk", chunk);
            try {
                Path d = other.resolve("c" + chunk);
                new GptOnnxExporter(CFG, weights, false).exportAll(d, false);
                try (OnnxSampler s = new OnnxSampler(d, CFG, OnnxSampler.Options.cpu())) {
                    long[][] got = s.generate(classes, st, 9, 0, 2);
                    for (int b = 0; b < 2; b++) assertArrayEquals(want[b], got[b], "chunk " + chunk + ", image " + b);
                }
            } finally {
                System.clearProperty("npp.onnx.chunk");
            }
        }
    }
}
