package org.nextpatch.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nextpatch.Fixtures;
import org.nextpatch.config.GptConfig;
import org.nextpatch.io.StateDicts;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.sample.DjlSampler;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fixture written by the upstream PyTorch code (the llamagen-tiny fixture, see Fixtures): spec 6 logits,
 * spec 2-4 NPP losses, spec 6.5 greedy generation.
 */
class GptFixtureTest {
    private static Gpt gpt;
    private static GptConfig config;

    @BeforeAll
    static void load() {
        config = GptConfig.fromJson(Fixtures.file("gpt-config.json"));
        gpt = Gpt.fromCheckpoint(Fixtures.file("gpt.pt"), config, false, Device.cpu());
    }

    @AfterAll
    static void close() {
        gpt.close();
    }

    /** logits.npy: max abs error <= 1e-4 x the largest magnitude. */
    @Test
    void teacherForcedLogits() {
        float[] ref = Npy.read(Fixtures.file("logits.npy")).toFloatArray();
        try (NDManager m = gpt.manager().newSubManager()) {
            NDArray tokens = nd(m, Npy.read(Fixtures.file("tokens.npy")));
            NDArray labels = nd(m, Npy.read(Fixtures.file("labels.npy")));
            NDArray logits = gpt.logits(tokens, labels, 1, false);
            assertEquals(new Shape(4, 16, 256), logits.getShape());
            float[] got = logits.toFloatArray();
            float max = 0, err = 0;
            for (int i = 0; i < ref.length; i++) {
                max = Math.max(max, Math.abs(ref[i]));
                err = Math.max(err, Math.abs(ref[i] - got[i]));
            }
            assertTrue(err <= 1e-4 * max, "max abs error " + err + " vs largest magnitude " + max);
        }
    }

    /** losses.json at patch sides 1 and 2: relative error <= 1e-5. */
    @Test
    void nppLosses() throws IOException {
        JsonNode ref = new ObjectMapper().readTree(Fixtures.file("losses.json").toFile());
        try (NDManager m = gpt.manager().newSubManager()) {
            NDArray tokens = nd(m, Npy.read(Fixtures.file("tokens.npy")));
            NDArray labels = nd(m, Npy.read(Fixtures.file("labels.npy")));
            for (int p : new int[]{1, 2}) {
                double expected = ref.get("loss_patch_side_" + p).asDouble();
                double got = gpt.loss(tokens, labels, p, false).getFloat();
                assertEquals(expected, got, 1e-5 * Math.abs(expected), "patch side " + p);
            }
        }
    }

    /** greedy-cfg1.npy and greedy-cfg2.npy: exactly the same tokens. */
    @Test
    void greedyGeneration() {
        long[] classes = {3, 0, 9};
        for (String s : new String[]{"1", "2"}) {
            long[] ref = Npy.read(Fixtures.file("greedy-cfg" + s + ".npy")).toLongArray();
            DjlSampler sampler = new DjlSampler(gpt, SamplingSettings.greedy(Double.parseDouble(s)));
            assertArrayEquals(ref, sampler.sample(classes, 0, 3), "cfg " + s);
            assertArrayEquals(ref, sampler.sample(classes, 0, 2), "cfg " + s + " in batches of 2");
        }
    }

    /** The state dict round-trips, and a wrong config or file gives one error listing every problem. */
    @Test
    void strictImportAndExport() {
        LinkedHashMap<String, Tensor> sd = StateDicts.select(TorchCheckpoint.load(Fixtures.file("gpt.pt")), false);
        LinkedHashMap<String, Tensor> out = gpt.stateDict();
        assertEquals(sd.keySet(), out.keySet());
        for (Map.Entry<String, Tensor> e : sd.entrySet()) {
            assertTrue(e.getValue().contentEquals(out.get(e.getKey())), e.getKey());
        }
        LinkedHashMap<String, Tensor> broken = new LinkedHashMap<>(sd);
        broken.remove("norm.weight");
        broken.put("layers.0.attention.wo.weight", Tensor.ofFloats(new long[]{2, 2}, new float[4]));
        broken.put("freqs_cis", Tensor.ofFloats(new long[]{1}, new float[1]));
        NppException e = assertThrows(NppException.class, () -> new Gpt(config, broken, Device.cpu(), "x.pt"));
        String msg = e.getMessage();
        assertTrue(msg.startsWith("x.pt: weights do not match"), msg);
        assertTrue(msg.contains("missing 1: norm.weight"), msg);
        assertTrue(msg.contains("mis-shaped 1: layers.0.attention.wo.weight [2, 2] (expected [64, 64])"), msg);
        assertTrue(msg.contains("unexpected 1: freqs_cis"), msg);
        assertTrue(!msg.contains("\n"));
        GptConfig wide = new GptConfig(128, 2, 4, 256, 10, 16, 1, 256, null, 1e-5, 10000, 0, 0, 0, 0, 0);
        NppException w = assertThrows(NppException.class,
                () -> Gpt.fromCheckpoint(Fixtures.file("gpt.pt"), wide, false, Device.cpu()));
        assertTrue(w.getMessage().contains("mis-shaped 18"), w.getMessage());
        assertThrows(NppException.class, () -> Gpt.fromCheckpoint(Fixtures.file("gpt.pt"), config, true, Device.cpu()));
    }

    /** loadStateDict overwrites in place: the parameter arrays keep their identity. */
    @Test
    void loadStateDictKeepsParameterIdentity() {
        try (Gpt other = Gpt.initialized(config, 1, Device.cpu())) {
            NDArray before = other.parameters().get("output.weight");
            other.loadStateDict(gpt.stateDict(), "fixture");
            assertTrue(before == other.parameters().get("output.weight"));
            assertArrayEquals(gpt.parameters().get("output.weight").toFloatArray(), before.toFloatArray());
            assertTrue(before.hasGradient());
        }
    }

    static NDArray nd(NDManager m, Tensor t) {
        return NdTensors.toNd(m, t);
    }
}
