package org.nextpatch.model;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;
import org.nextpatch.config.GptConfig;
import org.nextpatch.tensor.Tensor;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Spec 6.2 initialisation and dropouts: training forward is seedable, eval forward is deterministic. */
class GptTrainingModeTest {

    @Test
    void upstreamInitFromASeed() {
        GptConfig c = new GptConfig(64, 2, 4, 256, 10, 16, 1, 256, null, 1e-5, 10000, 0.1, 0, 0.1, 0.1, 0.1);
        Map<String, Tensor> a = GptWeights.init(c, 7);
        Map<String, Tensor> b = GptWeights.init(c, 7);
        assertEquals(GptWeights.expectedShapes(c).keySet(), a.keySet());
        for (String k : a.keySet()) {
            assertTrue(a.get(k).contentEquals(b.get(k)), k); // same seed, same weights
            float[] v = a.get(k).toFloatArray();
            if (k.equals("output.weight")) {
                for (float x : v) assertEquals(0f, x);
            } else if (GptWeights.isNormGain(k)) {
                for (float x : v) assertEquals(1f, x);
            } else {
                double s = 0, s2 = 0;
                for (float x : v) { s += x; s2 += x * x; }
                double mean = s / v.length, std = Math.sqrt(s2 / v.length - mean * mean);
                // N(0, 0.02): the sample std of >= 704 draws is within 10% of 0.02, the mean within 4 sigma/sqrt(n)
                assertEquals(0.02, std, 0.002, k);
                assertTrue(Math.abs(mean) < 4 * 0.02 / Math.sqrt(v.length), k + " mean " + mean);
            }
        }
        assertTrue(!GptWeights.init(c, 8).get("tok_embeddings.weight").contentEquals(a.get("tok_embeddings.weight")));
    }

    @Test
    void dropoutOnlyInTrainingAndSeedable() {
        GptConfig c = new GptConfig(16, 2, 2, 12, 3, 16, 1, 32, null, 1e-5, 10000, 0.1, 0.1, 0.1, 0.1, 0.5);
        try (Gpt gpt = new Gpt(c, TinyGpt.randomWeights(c, 1), Device.cpu(), "test");
             NDManager m = gpt.manager().newSubManager()) {
            long[] tok = new long[4 * 16];
            for (int i = 0; i < tok.length; i++) tok[i] = (i * 5 + 1) % 12;
            NDArray tokens = m.create(tok, new Shape(4, 16));
            NDArray labels = m.create(new long[]{0, 1, 2, 1});
            float eval1 = gpt.loss(tokens, labels, 2, false).getFloat();
            float eval2 = gpt.loss(tokens, labels, 2, false).getFloat();
            assertEquals(eval1, eval2);
            Engine.getInstance().setRandomSeed(42);
            float train1 = gpt.loss(tokens, labels, 2, true).getFloat();
            float train2 = gpt.loss(tokens, labels, 2, true).getFloat();
            Engine.getInstance().setRandomSeed(42);
            float train1again = gpt.loss(tokens, labels, 2, true).getFloat();
            assertEquals(train1, train1again); // torch's generator, seeded through the engine
            assertNotEquals(train1, train2);
            assertNotEquals(eval1, train1);
        }
    }
}
