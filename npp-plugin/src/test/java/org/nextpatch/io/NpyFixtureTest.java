package org.nextpatch.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.Fixtures;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The fixture .npy files written by NumPy read correctly and are rewritten byte for byte. */
class NpyFixtureTest {
    @TempDir
    Path dir;

    @Test
    void readsNumpyFilesAndRewritesThemIdentically() throws IOException {
        Tensor labels = Npy.read(Fixtures.file("labels.npy"));
        assertEquals(DType.INT64, labels.dtype());
        assertArrayEquals(new long[]{3, 0, 9, 10}, labels.toLongArray()); // README: labels = [3, 0, 9, 10]

        Tensor logits = Npy.read(Fixtures.file("logits.npy"));
        assertEquals(DType.FLOAT32, logits.dtype());
        assertArrayEquals(new long[]{4, 16, 256}, logits.shape());
        // first values read with Python's struct from the raw file
        float[] f = logits.toFloatArray();
        assertEquals(3.100876808166504f, f[0], 0f);
        assertEquals(0.010311470367014408f, f[2], 0f);

        for (String name : new String[]{"labels.npy", "tokens.npy", "logits.npy", "images.npy", "codes.npy"}) {
            Path out = dir.resolve(name);
            Npy.write(out, Npy.read(Fixtures.file(name)));
            assertArrayEquals(Files.readAllBytes(Fixtures.file(name)), Files.readAllBytes(out), name);
        }
    }
}
