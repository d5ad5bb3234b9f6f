package org.nextpatch.io;

import org.junit.jupiter.api.Test;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Npz;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.math.BigInteger;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Files written by real PyTorch 1.13 and NumPy 1.24 (src/test/resources/io, made once by
 * {@code generate.py} there): every storage type, non-contiguous views, Parameters, Namespace args,
 * sets/bytes/big ints, the legacy format, and NumPy's bool/float16/Fortran/compressed files.
 */
class TorchResourcesTest {

    static Path resource(String name) {
        try {
            return Path.of(TorchResourcesTest.class.getResource("/io/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void everyStorageTypeAndView() {
        Map<?, ?> root = assertInstanceOf(Map.class, TorchCheckpoint.load(resource("dtypes-views.pt")));
        Map<String, Tensor> sd = StateDicts.select(root, false);

        Tensor half = sd.get("half");
        assertEquals(DType.FLOAT16, half.dtype());
        // float16 values are exact except 6e-8, which float16 rounds to its smallest subnormal 2^-24
        assertArrayEquals(new float[]{1f, -2.5f, 65504f, 0x1p-24f}, half.toFloatArray(), 0f);

        Tensor bf = sd.get("bf16");
        assertEquals(DType.BFLOAT16, bf.dtype());
        float[] b = bf.toFloatArray();
        assertEquals(1f, b[0], 0f);
        assertEquals(-3f, b[1], 0f);
        assertEquals(1e30, b[2], 1e30 * 0x1p-8); // bfloat16 keeps 8 significant bits

        assertEquals(DType.INT8, sd.get("int8").dtype());
        assertArrayEquals(new long[]{-128, -1, 0, 127}, sd.get("int8").toLongArray());
        assertEquals(DType.UINT8, sd.get("uint8").dtype());
        assertArrayEquals(new long[]{0, 200, 255}, sd.get("uint8").toLongArray());
        assertEquals(DType.BOOL, sd.get("bool").dtype());
        assertArrayEquals(new long[]{1, 0, 1}, sd.get("bool").toLongArray());
        assertEquals(DType.INT16, sd.get("int16").dtype());
        assertArrayEquals(new long[]{-32768, 7}, sd.get("int16").toLongArray());
        assertEquals(DType.INT32, sd.get("int32").dtype());
        assertArrayEquals(new long[]{2, 2}, sd.get("int32").shape());
        assertArrayEquals(new long[]{1, -2, 3, Integer.MAX_VALUE}, sd.get("int32").toLongArray());
        assertArrayEquals(new long[]{-(1L << 62), 5}, sd.get("int64").toLongArray());
        assertEquals(Math.PI, sd.get("double").toDoubleArray()[0], 0.0);

        // views of base = arange(24).reshape(4, 6), base[i][j] = 6i + j
        Tensor tr = sd.get("transposed");
        assertArrayEquals(new long[]{6, 4}, tr.shape());
        float[] t = tr.toFloatArray();
        for (int j = 0; j < 6; j++) {
            for (int i = 0; i < 4; i++) {
                assertEquals(6 * i + j, t[j * 4 + i], 0f);
            }
        }
        assertArrayEquals(new long[]{2, 3}, sd.get("sliced").shape());
        assertArrayEquals(new float[]{6, 8, 10, 12, 14, 16}, sd.get("sliced").toFloatArray(), 0f);
        assertArrayEquals(new float[]{12, 13, 14, 15, 16, 17}, sd.get("row").toFloatArray(), 0f);
        assertArrayEquals(new float[]{7, 8, 7, 8, 7, 8}, sd.get("expanded").toFloatArray(), 0f);
        assertArrayEquals(new long[]{}, sd.get("scalar").shape());
        assertEquals(2.5f, sd.get("scalar").toFloatArray()[0], 0f);
        assertArrayEquals(new long[]{0, 3}, sd.get("empty").shape());
        assertArrayEquals(new float[]{0.5f, 0.25f}, sd.get("param").toFloatArray(), 0f);
        assertTrue(sd.containsKey("net.weight"), "module. prefix stripped: " + sd.keySet());

        assertEquals(5L, root.get("steps"));
        PickleObject args = assertInstanceOf(PickleObject.class, root.get("args"));
        assertEquals("argparse.Namespace", args.qualifiedName());
        assertEquals(1e-4, args.get("lr"));
        assertEquals("x", args.get("name"));
        assertEquals(List.of(1L, 2L), args.get("layers"));
        assertEquals(PickleTuple.of(0.9, 0.95), args.get("betas"));
        assertInstanceOf(PickleTuple.class, args.get("betas"));

        Map<?, ?> extra = assertInstanceOf(Map.class, root.get("extra"));
        assertEquals(Set.of(1L, 2L), extra.get("set"));
        assertArrayEquals(new byte[]{'a', 'b', 0}, (byte[]) extra.get("bytes"));
        assertEquals(BigInteger.ONE.shiftLeft(70), extra.get("big"));
        assertEquals(-5L, extra.get("neg"));

        assertEquals(List.of("w"), List.copyOf(StateDicts.select(root, true).keySet()));
    }

    @Test
    void defaultdictAndCounterBecomeMaps() {
        Map<?, ?> root = assertInstanceOf(Map.class, TorchCheckpoint.load(resource("containers.pt")));
        assertEquals(Map.of("a", List.of(1L), "b", List.of(2L, 3L)), root.get("dd"));
        assertEquals(Map.of("a", 2L, "b", 1L), root.get("counter"));
        assertEquals(List.of("w"), List.copyOf(StateDicts.select(root, false).keySet()));
    }

    @Test
    void legacyFormatGetsClearError() {
        NppException e = assertThrows(NppException.class, () -> TorchCheckpoint.load(resource("legacy.pt")));
        assertTrue(e.getMessage().contains("legacy.pt") && e.getMessage().contains("legacy (pre-1.6)")
                && e.getMessage().contains("re-save"), e.getMessage());
    }

    @Test
    void numpyWrittenFiles() {
        Tensor bool = Npy.read(resource("bool.npy"));
        assertEquals(DType.BOOL, bool.dtype());
        assertArrayEquals(new long[]{1, 0, 0, 1}, bool.toLongArray());
        Tensor half = Npy.read(resource("half.npy"));
        assertEquals(DType.FLOAT16, half.dtype());
        assertArrayEquals(new float[]{1f, -2.5f, 65504f}, half.toFloatArray(), 0f);

        NppException e = assertThrows(NppException.class, () -> Npy.read(resource("fortran.npy")));
        assertTrue(e.getMessage().contains("fortran.npy") && e.getMessage().contains("Fortran order"), e.getMessage());

        // savez_compressed: deflated entries
        try (Npz.Reader r = Npz.open(resource("compressed.npz"))) {
            assertEquals(List.of("arr_0", "labels"), r.names());
            long[] v = r.read("arr_0").toLongArray();
            for (int i = 0; i < 60; i++) {
                assertEquals(i, v[i]);
            }
            assertArrayEquals(new long[]{24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35}, r.readRows("arr_0", 2, 1).toLongArray());
            assertArrayEquals(new long[]{1, 2, 3, 4, 5}, r.read("labels").toLongArray());
        }
        // savez with positional arrays: arr_0, arr_1
        Map<String, Tensor> plain = Npz.read(resource("plain.npz"));
        assertEquals(List.of("arr_0", "arr_1"), List.copyOf(plain.keySet()));
        assertEquals(DType.INT32, plain.get("arr_0").dtype());
        assertArrayEquals(new long[]{3, 4}, plain.get("arr_0").shape());
        assertArrayEquals(new double[]{0, 0.25, 0.5, 0.75, 1}, plain.get("arr_1").toDoubleArray(), 0);
    }
}
