package org.nextpatch.demo;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.util.NppException;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code bench quantize}'s comparison figures, by hand, and its refusal of a folder that is no finished demo. */
class QuantizeBenchTest {

    @Test
    void errorsAreRelativeToTheLargestReferenceLogit() {
        // two images, two positions of vocabulary 3 each; largest reference logit 4
        float[][] ref = {{1, 4, 0, 2, 1, 0}, {0, 0, 3, -2, 1, 0}};
        float[][] got = {{1, 3, 0, 2, 1, 3}, {0, 0, 3, -2, 1, 0}};
        // diffs: one of 1 and one of 3 over 12 entries; argmax: position 2 of image 0 moves (0 -> 2)
        assertArrayEquals(new double[]{3.0 / 4, 4.0 / 12 / 4, 3.0 / 4}, QuantizeBench.errors(got, ref, 3), 1e-12);
        assertEquals(0.75, QuantizeBench.agreement(new long[][]{{1, 2}, {3, 4}}, new long[][]{{1, 2}, {3, 5}}), 0);
    }

    @Test
    void aFolderWithoutADemoIsRefusedInOneLine(@TempDir Path tmp) {
        NppException e = assertThrows(NppException.class, () -> QuantizeBench.run(
                new QuantizeBench.Settings(tmp, tmp.resolve("out"), null, 0, 100, 2.0, 100, 10)));
        assertTrue(e.getMessage().contains("--demo") && e.getMessage().contains("npp-model.tribuo"), e.getMessage());
    }
}
