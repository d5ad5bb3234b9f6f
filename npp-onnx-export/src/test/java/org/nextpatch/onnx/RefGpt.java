package org.nextpatch.onnx;

import org.nextpatch.config.GptConfig;
import org.nextpatch.rope.Rope2d;
import org.nextpatch.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * A deliberately naive reference of the LlamaGen GPT forward pass (spec 6.2, 6.4) in plain Java
 * loops, straight from the upstream state dict (no transposes, interleaved RoPE pairs through
 * {@link Rope2d#apply}), for checking the exported graphs independently of how they are built.
 */
final class RefGpt {
    final GptConfig cfg;
    final Map<String, float[]> w = new LinkedHashMap<>();
    final Rope2d rope;

    /**
     * Applied to every projection's input (identity by default; quantized exports' tests set the
     * int8 rounding of MatMulNBits' accuracy level 4 here).
     */
    java.util.function.UnaryOperator<float[]> activations = x -> x;

    RefGpt(GptConfig cfg, Map<String, Tensor> weights) {
        this.cfg = cfg;
        weights.forEach((k, v) -> w.put(k, v.toFloatArray()));
        rope = Rope2d.build(cfg.gridSide(), cfg.headDim(), cfg.ropeBase(), 1);
    }

    /** Random weights with the upstream names; larger head and gains so that logits spread out. */
    static Map<String, Tensor> randomWeights(GptConfig c, long seed) {
        Random r = new Random(seed);
        Map<String, Tensor> m = new LinkedHashMap<>();
        int d = c.dim();
        int h = c.ffnHidden();
        m.put("cls_embedding.embedding_table.weight", rnd(r, 0.5, 1, c.numClasses() + 1, d));
        m.put("tok_embeddings.weight", rnd(r, 0.5, 1, c.vocabSize(), d));
        for (int i = 0; i < c.nLayer(); i++) {
            String p = "layers." + i + ".";
            m.put(p + "attention.wqkv.weight", rnd(r, 0.25, 0, 3 * d, d));
            m.put(p + "attention.wo.weight", rnd(r, 0.1, 0, d, d));
            m.put(p + "feed_forward.w1.weight", rnd(r, 0.2, 0, h, d));
            m.put(p + "feed_forward.w3.weight", rnd(r, 0.2, 0, h, d));
            m.put(p + "feed_forward.w2.weight", rnd(r, 0.1, 0, d, h));
            m.put(p + "attention_norm.weight", gains(r, d));
            m.put(p + "ffn_norm.weight", gains(r, d));
        }
        m.put("norm.weight", gains(r, d));
        m.put("output.weight", rnd(r, 0.6, 0, c.vocabSize(), d));
        return m;
    }

    private static Tensor rnd(Random r, double std, int unused, int rows, int cols) {
        float[] a = new float[rows * cols];
        for (int i = 0; i < a.length; i++) a[i] = (float) (std * r.nextGaussian());
        return Tensor.ofFloats(new long[]{rows, cols}, a);
    }

    private static Tensor gains(Random r, int d) {
        float[] a = new float[d];
        for (int i = 0; i < d; i++) a[i] = (float) (1 + 0.1 * r.nextGaussian());
        return Tensor.ofFloats(new long[]{d}, a);
    }

    /**
     * Logits [L, V] of the sequence [class, tokens[0..L-2]] (position k predicts token k), where
     * {@code L = tokens.length + 1}.
     */
    float[][] logits(int cls, long[] tokens) {
        int d = cfg.dim(), nh = cfg.nHead(), hd = cfg.headDim(), hid = cfg.ffnHidden();
        int len = tokens.length + 1;
        float[][] x = new float[len][];
        x[0] = row(w.get("cls_embedding.embedding_table.weight"), cls, d);
        for (int t = 0; t < tokens.length; t++) x[t + 1] = row(w.get("tok_embeddings.weight"), (int) tokens[t], d);
        for (int l = 0; l < cfg.nLayer(); l++) {
            String p = "layers." + l + ".";
            float[][] q = new float[len][], k = new float[len][], v = new float[len][];
            for (int s = 0; s < len; s++) {
                float[] qkv = matVec(w.get(p + "attention.wqkv.weight"), norm(x[s], w.get(p + "attention_norm.weight")), 3 * d, d);
                q[s] = java.util.Arrays.copyOfRange(qkv, 0, d);
                k[s] = java.util.Arrays.copyOfRange(qkv, d, 2 * d);
                v[s] = java.util.Arrays.copyOfRange(qkv, 2 * d, 3 * d);
                for (int hh = 0; hh < nh; hh++) {
                    rope.apply(q[s], hh * hd, s);
                    rope.apply(k[s], hh * hd, s);
                }
            }
            for (int s = 0; s < len; s++) {
                float[] att = new float[d];
                for (int hh = 0; hh < nh; hh++) {
                    double[] sc = new double[s + 1];
                    double mx = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= s; j++) {
                        double dot = 0;
                        for (int c = 0; c < hd; c++) dot += q[s][hh * hd + c] * k[j][hh * hd + c];
                        sc[j] = dot / Math.sqrt(hd);
                        mx = Math.max(mx, sc[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= s; j++) { sc[j] = Math.exp(sc[j] - mx); sum += sc[j]; }
                    for (int c = 0; c < hd; c++) {
                        double acc = 0;
                        for (int j = 0; j <= s; j++) acc += sc[j] / sum * v[j][hh * hd + c];
                        att[hh * hd + c] = (float) acc;
                    }
                }
                float[] o = matVec(w.get(p + "attention.wo.weight"), att, d, d);
                for (int c = 0; c < d; c++) x[s][c] += o[c];
                float[] hn = norm(x[s], w.get(p + "ffn_norm.weight"));
                float[] a = matVec(w.get(p + "feed_forward.w1.weight"), hn, hid, d);
                float[] b = matVec(w.get(p + "feed_forward.w3.weight"), hn, hid, d);
                for (int c = 0; c < hid; c++) a[c] = (float) (a[c] / (1 + Math.exp(-a[c])) * b[c]);
                float[] f = matVec(w.get(p + "feed_forward.w2.weight"), a, d, hid);
                for (int c = 0; c < d; c++) x[s][c] += f[c];
            }
        }
        float[][] out = new float[len][];
        for (int s = 0; s < len; s++) out[s] = matVec(w.get("output.weight"), norm(x[s], w.get("norm.weight")), cfg.vocabSize(), d);
        return out;
    }

    private static float[] row(float[] table, int r, int d) {
        return java.util.Arrays.copyOfRange(table, r * d, (r + 1) * d);
    }

    private float[] norm(float[] x, float[] gain) {
        double ms = 0;
        for (float v : x) ms += v * v;
        ms /= x.length;
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i++) y[i] = (float) (x[i] / Math.sqrt(ms + cfg.normEps()) * gain[i]);
        return y;
    }

    private float[] matVec(float[] wt, float[] x0, int out, int in) {
        float[] x = activations.apply(x0);
        float[] y = new float[out];
        for (int o = 0; o < out; o++) {
            double acc = 0;
            for (int i = 0; i < in; i++) acc += wt[o * in + i] * x[i];
            y[o] = (float) acc;
        }
        return y;
    }
}
