package org.nextpatch.cli;

import org.nextpatch.config.GptConfig;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.RandomStreams;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/** Random GPT weights for benchmarks and engine-parity checks (no checkpoint needed). */
public final class BenchWeights {
    private BenchWeights() {}

    /**
     * Random weights with the upstream names and shapes: N(0, 0.02) everywhere, norm gains 1, and an
     * output head of N(0, 0.3) (as the fixture) so that logits spread out and the draw is not uniform
     * (the upstream init zeroes the head, which would make every draw uniform).
     */
    public static Map<String, Tensor> random(GptConfig c, long seed) {
        SplittableRandom r = RandomStreams.stream(seed, RandomStreams.Purpose.BENCH_WEIGHTS, 0);
        Map<String, Tensor> m = new LinkedHashMap<>();
        int d = c.dim();
        int h = c.ffnHidden();
        m.put("cls_embedding.embedding_table.weight", normal(r, 0.02, c.numClasses() + 1, d));
        m.put("tok_embeddings.weight", normal(r, 0.02, c.vocabSize(), d));
        for (int i = 0; i < c.nLayer(); i++) {
            String p = "layers." + i + ".";
            m.put(p + "attention.wqkv.weight", normal(r, 0.02, 3 * d, d));
            m.put(p + "attention.wo.weight", normal(r, 0.02, d, d));
            m.put(p + "feed_forward.w1.weight", normal(r, 0.02, h, d));
            m.put(p + "feed_forward.w3.weight", normal(r, 0.02, h, d));
            m.put(p + "feed_forward.w2.weight", normal(r, 0.02, d, h));
            m.put(p + "attention_norm.weight", ones(d));
            m.put(p + "ffn_norm.weight", ones(d));
        }
        m.put("norm.weight", ones(d));
        m.put("output.weight", normal(r, 0.3, c.vocabSize(), d));
        return m;
    }

    private static Tensor normal(SplittableRandom r, double std, int rows, int cols) {
        float[] a = new float[rows * cols];
        for (int i = 0; i < a.length; i++) {
            // Box-Muller: SplittableRandom has no nextGaussian on Java 17
            double u1 = 1.0 - r.nextDouble();
            double u2 = r.nextDouble();
            a[i] = (float) (std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
        }
        return Tensor.ofFloats(new long[]{rows, cols}, a);
    }

    private static Tensor ones(int d) {
        float[] a = new float[d];
        java.util.Arrays.fill(a, 1f);
        return Tensor.ofFloats(new long[]{d}, a);
    }
}
