package org.nextpatch.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** IDX (MNIST) files, raw and gzipped, built byte by byte from the format description. */
class IdxTest {
    @TempDir
    Path dir;

    private static byte[] images(int n) {
        ByteBuffer b = ByteBuffer.allocate(16 + n * 4 * 3); // big-endian by default, as IDX
        b.putInt(0x00000803).putInt(n).putInt(4).putInt(3);
        for (int i = 0; i < n * 12; i++) {
            b.put((byte) (i * 7 + 200));
        }
        return b.array();
    }

    private static byte[] gzip(byte[] raw) throws IOException {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        try (GZIPOutputStream g = new GZIPOutputStream(o)) {
            g.write(raw);
        }
        return o.toByteArray();
    }

    @Test
    void readsRawAndGzippedImages() throws IOException {
        byte[] raw = images(5);
        Path a = dir.resolve("imgs-idx3-ubyte");
        Path b = dir.resolve("imgs-idx3-ubyte.gz");
        Files.write(a, raw);
        Files.write(b, gzip(raw));
        for (Path p : new Path[]{a, b}) {
            Tensor t = Idx.read(p);
            assertEquals(DType.UINT8, t.dtype());
            assertArrayEquals(new long[]{5, 4, 3}, t.shape());
            long[] v = t.toLongArray();
            for (int i = 0; i < v.length; i++) {
                assertEquals((i * 7 + 200) & 0xff, v[i]);
            }
        }
    }

    /** A header that claims two million rows with ten present: a limited read takes the rows it needs. */
    @Test
    void readsOnlyTheRowsAskedFor() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(16 + 10 * 12);
        b.putInt(0x00000803).putInt(2_000_000).putInt(4).putInt(3);
        b.put(java.util.Arrays.copyOfRange(images(10), 16, 16 + 120));
        Path p = dir.resolve("claims-idx3-ubyte.gz");
        Files.write(p, gzip(b.array()));
        assertArrayEquals(new long[]{2_000_000, 4, 3}, Idx.header(p).shape());
        Tensor t = Idx.read(p, 3);
        assertArrayEquals(new long[]{3, 4, 3}, t.shape());
        long[] v = t.toLongArray();
        for (int i = 0; i < v.length; i++) {
            assertEquals((i * 7 + 200) & 0xff, v[i]);
        }
        NppException e = assertThrows(NppException.class, () -> Idx.read(p));
        assertTrue(e.getMessage().contains("truncated IDX file"), e.getMessage());
        // a plain file is checked against its header's size before anything is allocated
        Path raw = dir.resolve("claims-idx3-ubyte");
        Files.write(raw, b.array());
        e = assertThrows(NppException.class, () -> Idx.read(raw, 3));
        assertTrue(e.getMessage().contains("needs 24000016 bytes, the file has 136"), e.getMessage());
    }

    @Test
    void convertsBigEndianInts() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4 + 4 + 12);
        b.putInt(0x00000C01).putInt(3).putInt(1).putInt(-5).putInt(1 << 20);
        Path p = dir.resolve("ints.idx");
        Files.write(p, b.array());
        Tensor t = Idx.read(p);
        assertEquals(DType.INT32, t.dtype());
        assertArrayEquals(new long[]{1, -5, 1 << 20}, t.toLongArray());
    }

    @Test
    void errorsNameFileAndProblem() throws IOException {
        byte[] raw = images(5);
        Path cut = dir.resolve("cut.gz");
        byte[] gz = gzip(raw);
        Files.write(cut, java.util.Arrays.copyOf(gz, gz.length - 20));
        NppException e = assertThrows(NppException.class, () -> Idx.read(cut));
        assertTrue(e.getMessage().contains("cut.gz") && e.getMessage().contains("truncated"), e.getMessage());

        Path shortRaw = dir.resolve("short");
        Files.write(shortRaw, java.util.Arrays.copyOf(raw, raw.length - 1));
        e = assertThrows(NppException.class, () -> Idx.read(shortRaw));
        assertTrue(e.getMessage().contains("short") && e.getMessage().contains("truncated IDX file"), e.getMessage());

        Path magic = dir.resolve("magic");
        Files.write(magic, new byte[]{1, 2, 8, 1, 0, 0, 0, 0});
        e = assertThrows(NppException.class, () -> Idx.read(magic));
        assertTrue(e.getMessage().contains("magic") && e.getMessage().contains("bad magic"), e.getMessage());

        Path type = dir.resolve("type");
        Files.write(type, new byte[]{0, 0, 0x42, 1, 0, 0, 0, 0});
        e = assertThrows(NppException.class, () -> Idx.read(type));
        assertTrue(e.getMessage().contains("unknown IDX element type 0x42"), e.getMessage());

        e = assertThrows(NppException.class, () -> Idx.read(dir.resolve("none.gz")));
        assertTrue(e.getMessage().contains("none.gz") && e.getMessage().contains("not found"), e.getMessage());
    }

    @Test
    void realFashionMnistTestLabelsIfInstalled() {
        Path labels = Path.of("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz");
        assumeTrue(Files.exists(labels), "Debian's dataset-fashion-mnist is not installed");
        Tensor t = Idx.read(labels);
        assertArrayEquals(new long[]{10000}, t.shape());
        int[] counts = new int[10];
        for (long v : t.toLongArray()) {
            counts[(int) v]++;
        }
        // the Fashion-MNIST test split is balanced: 1,000 images per class
        assertArrayEquals(new int[]{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}, counts);
    }
}
