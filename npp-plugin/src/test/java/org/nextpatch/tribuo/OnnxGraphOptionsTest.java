package org.nextpatch.tribuo;

import org.junit.jupiter.api.Test;
import org.nextpatch.onnx.WeightQuantization;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The export options refuse combinations the exporter cannot write, before any work. */
class OnnxGraphOptionsTest {

    @Test
    void defaultsAndWithers() {
        OnnxGraphOptions d = OnnxGraphOptions.defaults();
        assertFalse(d.fp16() || d.overwrite());
        OnnxGraphOptions q = d.withQuantization(WeightQuantization.INT4).withOverwrite(true);
        assertEquals(WeightQuantization.INT4, q.quantization());
        assertTrue(q.overwrite());
        assertFalse(d.overwrite(), "withers leave the original as it was");
    }

    @Test
    void fp16AndQuantizationExcludeEachOther() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OnnxGraphOptions.defaults().withFp16(true).withQuantization(WeightQuantization.INT8));
        assertTrue(e.getMessage().contains("exclude each other"), e.getMessage());
    }

    @Test
    void aDecoderNeedsItsWeights() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OnnxGraphOptions.defaults().withDecoder(null, Map.of()));
        assertTrue(e.getMessage().contains("decoder"), e.getMessage());
    }
}
