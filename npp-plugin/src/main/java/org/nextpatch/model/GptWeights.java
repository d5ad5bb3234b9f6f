package org.nextpatch.model;

import org.nextpatch.config.GptConfig;
import org.nextpatch.tensor.StateDictCheck;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.RandomStreams;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Set;
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
        return c.stateDictShapes();
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
        StateDictCheck.of(c.stateDictShapes(), stateDict, Set.of()).throwIfBad(
                source + ": weights do not match the GPT configuration (dim " + c.dim() + ", n_layer " + c.nLayer()
                        + ", vocab " + c.vocabSize() + ", classes " + c.numClasses() + ", ffn " + c.ffnHidden() + ")",
                true, "");
    }

    /**
     * Upstream initialisation from a seed: every Linear and Embedding weight N(0, 0.02), the output
     * head zero, norm gains 1 (spec 6.2). Each parameter has its own generator
     * ({@code RandomStreams.stream(seed, GPT_INIT, index)}), so the result does not depend on the engine or
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
                SplittableRandom rng = RandomStreams.stream(seed, RandomStreams.Purpose.GPT_INIT, index);
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
