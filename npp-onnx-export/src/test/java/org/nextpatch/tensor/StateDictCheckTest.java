package org.nextpatch.tensor;

import org.junit.jupiter.api.Test;
import org.nextpatch.util.NppException;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The strict key/shape check shared by the GPT and VQ importers and the ONNX exporter. */
class StateDictCheckTest {
    private static final Map<String, long[]> EXPECTED = new LinkedHashMap<>(Map.of("a", new long[]{2, 2}, "b", new long[]{3}));

    @Test
    void reportsEverythingWrongInOneMessage() {
        Map<String, Tensor> sd = new LinkedHashMap<>();
        sd.put("a", Tensor.ofFloats(new long[]{4}, new float[4]));
        sd.put("buffer", Tensor.ofLongs(new long[]{1}, new long[1]));
        sd.put("extra", Tensor.ofFloats(new long[]{1}, new float[1]));
        StateDictCheck c = StateDictCheck.of(EXPECTED, sd, Set.of("buffer"));
        assertEquals(java.util.List.of("b"), c.missing());
        assertEquals(java.util.List.of("extra"), c.unexpected());
        assertEquals(1, c.misShaped().size());
        NppException e = assertThrows(NppException.class, () -> c.throwIfBad("file.pt: bad", true, "(hint)"));
        String m = e.getMessage();
        assertTrue(m.startsWith("file.pt: bad; missing 1: b; mis-shaped 1: a [4] (expected [2, 2]); unexpected 1: extra"), m);
        assertTrue(m.endsWith("(hint)"), m);
    }

    @Test
    void unexpectedKeysCanBeTolerated() {
        Map<String, Tensor> sd = new LinkedHashMap<>();
        sd.put("a", Tensor.ofFloats(new long[]{2, 2}, new float[4]));
        sd.put("b", Tensor.ofFloats(new long[]{3}, new float[3]));
        sd.put("ema.a", Tensor.ofFloats(new long[]{1}, new float[1]));
        StateDictCheck c = StateDictCheck.of(EXPECTED, sd, Set.of());
        assertDoesNotThrow(() -> c.throwIfBad("x", false, ""));
        assertThrows(NppException.class, () -> c.throwIfBad("x", true, ""));
        sd.put("b", Tensor.ofLongs(new long[]{3}, new long[3]));
        assertTrue(StateDictCheck.of(EXPECTED, sd, Set.of("ema.a")).misShaped().get(0).contains("floating"));
    }
}
