package org.nextpatch.model;

import org.nextpatch.config.GptConfig;
import org.nextpatch.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/** Test helper: a tiny GPT configuration and random weights that make every path non-trivial. */
public final class TinyGpt {
    private TinyGpt() {}

    /** d 16, 2 layers, 2 heads of 8, vocab 12, 3 classes (+ null), 4x4 token grid, FFN hidden 32, no dropout. */
    public static GptConfig config() {
        return new GptConfig(16, 2, 2, 12, 3, 16, 1, 32, null, 1e-5, 10000, 0, 0, 0, 0, 0);
    }

    /** Weights N(0, 0.3) (larger than the init so attention patterns matter), norm gains 1 + N(0, 0.1). */
    public static LinkedHashMap<String, Tensor> randomWeights(GptConfig c, long seed) {
        LinkedHashMap<String, Tensor> sd = GptWeights.init(c, seed);
        SplittableRandom r = new SplittableRandom(seed + 1);
        for (Map.Entry<String, Tensor> e : sd.entrySet()) {
            float[] v = e.getValue().toFloatArray();
            for (int i = 0; i < v.length; i++) {
                v[i] = GptWeights.isNormGain(e.getKey()) ? (float) (1 + 0.1 * r.nextGaussian())
                        : (float) (0.3 * r.nextGaussian());
            }
            e.setValue(Tensor.ofFloats(e.getValue().shape(), v));
        }
        return sd;
    }
}
