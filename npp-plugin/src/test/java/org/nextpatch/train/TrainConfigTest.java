package org.nextpatch.train;

import org.junit.jupiter.api.Test;
import org.nextpatch.Fixtures;
import org.nextpatch.config.GptConfig;
import org.nextpatch.util.NppException;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** TrainConfig: defaults (spec section 9), validation messages, model resolution and the args dict. */
class TrainConfigTest {

    private static TrainConfig.Builder tiny() {
        return TrainConfig.builder().gptConfigFile(Fixtures.file("gpt-config.json")).imageSize(64)
                .resultsDir(Path.of("target/tc"));
    }

    @Test
    void upstreamDefaults() {
        TrainConfig c = TrainConfig.builder().gptModel("gpt-b").build();
        assertEquals("GPT-B", c.gptModel());
        assertEquals(1e-4, c.lr());
        assertEquals(0.9, c.beta1());
        assertEquals(0.95, c.beta2());
        assertEquals(0.05, c.weightDecay());
        assertEquals(1.0, c.maxGradNorm());
        assertEquals(256, c.globalBatchSize());
        assertEquals(300, c.epochs());
        GptConfig m = c.model();
        assertEquals(768, m.dim());
        assertEquals(256, m.blockSize());
        assertEquals(0.1, m.classDropoutProb());
    }

    @Test
    void modelFromFileWithOverrides() {
        GptConfig m = tiny().allDropouts(0.0).residDropoutP(0.2).build().model();
        assertEquals(64, m.dim());
        assertEquals(16, m.blockSize());
        assertEquals(0.0, m.tokenDropoutP());
        assertEquals(0.2, m.residDropoutP());
        assertEquals(0.0, m.classDropoutProb());
        NppException e = assertThrows(NppException.class, () -> tiny().imageSize(128).build().model());
        assertTrue(e.getMessage().contains("block_size"), e.getMessage());
        e = assertThrows(NppException.class, () -> tiny().patchLevel(4).build().model());
        assertTrue(e.getMessage().contains("--patch-level"), e.getMessage());
    }

    @Test
    void validationNamesTheFlag() {
        assertMessage("--gpt-model", () -> TrainConfig.builder().build());
        assertMessage("--lr", () -> tiny().lr(0).build());
        assertMessage("--epoch-rate", () -> tiny().epochRate(1.5).build());
        assertMessage("--gradient-accumulation-steps", () -> tiny().globalBatchSize(10).gradientAccumulationSteps(3).build());
        assertMessage("--device", () -> tiny().device("tpu").build());
        assertMessage("--gpt-model", () -> TrainConfig.builder().gptModel("GPT-Q").build());
        assertEquals(List.of(0, 1), TrainConfig.DeviceSpec.parse("gpu:0,1").indices());
        assertEquals(List.of(0), TrainConfig.DeviceSpec.parse("gpu").indices());
    }

    @Test
    void argsArePrimitives() {
        TrainConfig c = tiny().scheduler(true).seed(7).build();
        Map<String, Object> a = c.toArgs();
        assertEquals(64L, a.get("image_size"));
        assertEquals(7L, a.get("global_seed"));
        assertEquals(Boolean.TRUE, a.get("scheduler"));
        assertNull(a.get("gpt_model"));
        for (Object v : a.values()) {
            assertTrue(v == null || v instanceof String || v instanceof Long || v instanceof Double
                    || v instanceof Boolean || v instanceof Map, "not a primitive: " + v);
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> g = (Map<String, Object>) a.get("gpt_config");
        assertEquals(64L, g.get("dim"));
        assertEquals(c, c.toBuilder().build());
    }

    private static void assertMessage(String flag, org.junit.jupiter.api.function.Executable ex) {
        NppException e = assertThrows(NppException.class, ex);
        assertTrue(e.getMessage().contains(flag), e.getMessage());
    }
}
