package org.nextpatch.onnx;

import ai.onnxruntime.OnnxTensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.config.GptConfig;
import org.nextpatch.sample.SamplingSettings;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * ONNX Runtime's GPT sampling gives bit-identical logits and tokens at 1, 2 and 4 intra-op threads,
 * which is why {@link org.nextpatch.util.Threads#onnxSampling()} may follow the machine's load while
 * libtorch's count is fixed (its results change with the count). Large enough for ONNX Runtime to
 * split the work (d 128, 2 layers, vocabulary 512, 8x8 tokens, batch 8, guidance).
 */
class OnnxThreadsTest {

    @Test
    void logitsAndTokensDoNotDependOnTheThreadCount(@TempDir Path dir) {
        GptConfig cfg = new GptConfig(128, 2, 4, 512, 10, 64, 1, 128, null, 1e-5, 10000, 0, 0, 0, 0, 0);
        new GptOnnxExporter(cfg, RefGpt.randomWeights(cfg, 3), false).exportAll(dir, false);
        int b = 8;
        long[] classes = new long[b];
        long[][] ids = new long[b][63];
        long[][] pos = new long[b][63];
        Random r = new Random(1);
        for (int i = 0; i < b; i++) {
            classes[i] = i % 10;
            for (int j = 0; j < 63; j++) {
                ids[i][j] = r.nextInt(512);
                pos[i][j] = j + 1;
            }
        }
        float[] oneLogits = null;
        long[][] oneTokens = null;
        for (int threads : new int[]{1, 2, 4}) {
            try (OnnxSampler s = new OnnxSampler(dir, cfg, new OnnxSampler.Options("cpu", threads, 0, null))) {
                List<OnnxTensor> cache = new ArrayList<>();
                float[] logits;
                try {
                    s.prefill(classes, cache);
                    logits = s.step(ids, pos, cache); // teacher-forced: [8 * 63 * 512]
                } finally {
                    cache.forEach(OnnxTensor::close);
                }
                long[][] tokens = s.generate(classes, new SamplingSettings(2.0, -1, 1.0, 0, 1.0, false), 5, 0, b);
                if (oneLogits == null) {
                    oneLogits = logits;
                    oneTokens = tokens;
                } else {
                    assertArrayEquals(oneLogits, logits, 0f, threads + " threads against 1: logits");
                    for (int i = 0; i < b; i++) {
                        assertArrayEquals(oneTokens[i], tokens[i], threads + " threads against 1: tokens of image " + i);
                    }
                }
            }
        }
    }
}
