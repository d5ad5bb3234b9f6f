package org.nextpatch.sample;

import org.junit.jupiter.api.Test;
import org.nextpatch.util.BadValueException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Settings that overflow in the float32 the samplers compute with are refused, naming the flag. */
class SamplingSettingsTest {

    private static String refused(double cfg, double temperature, double topP) {
        return assertThrows(BadValueException.class, () -> new SamplingSettings(cfg, -1, temperature, 0, topP, false)).getMessage();
    }

    @Test
    void valuesThatOverflowInFloat32AreRefused() {
        // 1e308 is a finite double but infinity in float32: every guided logit became NaN and every token 0
        assertTrue(Float.isInfinite((float) 1e308));
        assertTrue(refused(1e308, 1, 1).contains("--cfg-scale must be in (0, 100.0], got 1.0E308"));
        assertTrue(refused(Double.NaN, 1, 1).contains("--cfg-scale"));
        assertTrue(refused(100.5, 1, 1).contains("--cfg-scale"));
        assertTrue(refused(2, 1e308, 1).contains("--temperature must be in [0, 100.0]"));
        assertTrue(refused(2, -0.5, 1).contains("--temperature"));
        assertTrue(refused(2, 1, 1e-50).contains("--top-p"));  // positive as a double, 0 in float32
        assertTrue(refused(2, 1, Double.NaN).contains("--top-p"));
        // the edges of the documented ranges stay accepted
        assertEquals(100, new SamplingSettings(100, -1, 100, 0, 1e-30, false).cfgScale());
        assertEquals(1e-5f, new SamplingSettings(1e-9, -1, 0, 0, 1, true).temperatureDivisor());
    }
}
