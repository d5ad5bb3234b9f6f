package org.nextpatch.model;

import org.nextpatch.config.GptConfig;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The state-dict layout of the LlamaGen GPT (spec 6.3): key names, shapes, the strict key check and
 * the upstream initialisation. Engine-free: everything here is {@link Tensor}s.
 */
public final class GptWeights {
    private GptWeights() {}

    /** Every parameter's key and shape, in the upstream module order. */
    public static LinkedHashMap<String, long[]> expectedShapes(GptConfig c) {
        long d = c.dim();
        long h = c.ffnHidden();
        LinkedHashMap<String, long[]> m = new LinkedHashMap<>();
        m.put("tok_embeddings.weight", new long[]{c.vocabSize(), d});
        m.put("cls_embedding.embedding_table.weight", new long[]{c.numClasses() + 1L, d});
        for (int i = 0; i < c.nLayer(); i++) {
            String p = "layers." + i + ".";
            m.put(p + "attention.wqkv.weight", new long[]{3 * d, d});
            m.put(p + "attention.wo.weight", new long[]{d, d});
            m.put(p + "feed_forward.w1.weight", new long[]{h, d});
            m.put(p + "feed_forward.w3.weight", new long[]{h, d});
            m.put(p + "feed_forward.w2.weight", new long[]{d, h});
            m.put(p + "attention_norm.weight", new long[]{d});
            m.put(p + "ffn_norm.weight", new long[]{d});
        }
        m.put("norm.weight", new long[]{d});
        m.put("output.weight", new long[]{c.vocabSize(), d});
        return m;
    }

    /** Whether a key is a norm gain (initialised to 1, no weight decay upstream). */
    public static boolean isNormGain(String key) {
        return key.endsWith("norm.weight");
    }

    /**
     * Checks a state dict against a configuration: every expected key present with the right shape and
     * a floating type, nothing unexpected. One error lists everything that is wrong.
     *
     * @param source what the state dict came from (file name), for the message
     */
    public static void check(GptConfig c, Map<String, Tensor> stateDict, String source) {
        LinkedHashMap<String, long[]> expected = expectedShapes(c);
        List<String> missing = new ArrayList<>();
        List<String> misShaped = new ArrayList<>();
        List<String> unexpected = new ArrayList<>();
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            Tensor t = stateDict.get(e.getKey());
            if (t == null) {
                missing.add(e.getKey());
            } else if (!Arrays.equals(t.shape(), e.getValue())) {
                misShaped.add(e.getKey() + " " + Arrays.toString(t.shape()) + " (expected " + Arrays.toString(e.getValue()) + ")");
            } else if (!t.dtype().isFloating()) {
                misShaped.add(e.getKey() + " has type " + t.dtype() + " (expected a floating type)");
            }
        }
        for (String k : stateDict.keySet()) {
            if (!expected.containsKey(k)) {
                unexpected.add(k);
            }
        }
        if (missing.isEmpty() && misShaped.isEmpty() && unexpected.isEmpty()) {
            return;
        }
        StringBuilder sb = new StringBuilder(source).append(": weights do not match the GPT configuration (dim ")
                .append(c.dim()).append(", n_layer ").append(c.nLayer()).append(", vocab ").append(c.vocabSize())
                .append(", classes ").append(c.numClasses()).append(", ffn ").append(c.ffnHidden()).append(")");
        if (!missing.isEmpty()) {
            sb.append("; missing ").append(missing.size()).append(": ").append(String.join(", ", missing));
        }
        if (!misShaped.isEmpty()) {
            sb.append("; mis-shaped ").append(misShaped.size()).append(": ").append(String.join(", ", misShaped));
        }
        if (!unexpected.isEmpty()) {
            sb.append("; unexpected ").append(unexpected.size()).append(": ").append(String.join(", ", unexpected));
        }
        throw new NppException(sb.toString());
    }

    /**
     * Upstream initialisation from a seed: every Linear and Embedding weight N(0, 0.02), the output
     * head zero, norm gains 1 (spec 6.2). Each parameter has its own generator
     * ({@code SplittableRandom(seed * GOLDEN + index)}), so the result does not depend on the engine or
     * device.
     */
    public static LinkedHashMap<String, Tensor> init(GptConfig c, long seed) {
        LinkedHashMap<String, Tensor> sd = new LinkedHashMap<>();
        int index = 0;
        for (Map.Entry<String, long[]> e : expectedShapes(c).entrySet()) {
            String key = e.getKey();
            long[] shape = e.getValue();
            float[] v = new float[Math.toIntExact(Tensor.numel(shape))];
            if (isNormGain(key)) {
                Arrays.fill(v, 1f);
            } else if (!key.equals("output.weight")) {
                SplittableRandom rng = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + index);
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) (0.02 * rng.nextGaussian());
                }
            }
            sd.put(key, Tensor.ofFloats(shape, v));
            index++;
        }
        return sd;
    }
}
