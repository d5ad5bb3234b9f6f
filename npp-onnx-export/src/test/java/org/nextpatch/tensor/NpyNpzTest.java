package org.nextpatch.tensor;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.util.NppException;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** .npy/.npz round trips for every type, streaming by rows, ZIP64 records, and the error paths. */
class NpyNpzTest {
    @TempDir
    Path dir;

    /** A tensor of every type with varied (random) bytes; bool gets 0/1. */
    static Tensor sample(DType t, long... shape) {
        int n = (int) Tensor.numel(shape);
        byte[] b = new byte[n * t.bytes()];
        new Random(t.ordinal() * 31L + n).nextBytes(b);
        if (t == DType.BOOL) {
            for (int i = 0; i < b.length; i++) {
                b[i] = (byte) (b[i] & 1);
            }
        }
        return Tensor.ofBytes(t, shape, b);
    }

    @Test
    void npyRoundTripEveryType() {
        for (DType t : DType.values()) {
            if (t == DType.BFLOAT16) {
                assertThrows(NppException.class, () -> Npy.write(dir.resolve("bf.npy"), sample(t, 2)));
                continue;
            }
            for (long[] shape : List.of(new long[]{}, new long[]{0}, new long[]{5}, new long[]{3, 4}, new long[]{2, 3, 1, 2})) {
                Tensor x = sample(t, shape);
                Path p = dir.resolve(t + ".npy");
                Npy.write(p, x);
                Tensor y = Npy.read(p);
                assertTrue(x.contentEquals(y), t + " " + java.util.Arrays.toString(shape));
            }
        }
    }

    @Test
    void headerLayoutIsNumpys() throws IOException {
        // numpy 1.x writes exactly this (64-byte aligned, newline-terminated) header for int64 (4,)
        String dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }";
        byte[] h = Npy.header(DType.INT64, new long[]{4});
        assertEquals(128, h.length);
        assertEquals(dict, new String(h, 10, dict.length(), StandardCharsets.ISO_8859_1));
        assertEquals('\n', h[127]);
        assertEquals(118, (h[8] & 0xff) | (h[9] & 0xff) << 8);
        assertTrue(new String(Npy.header(DType.UINT8, new long[]{2, 3}), StandardCharsets.ISO_8859_1).contains("'shape': (2, 3)"));
        assertTrue(new String(Npy.header(DType.FLOAT32, new long[]{}), StandardCharsets.ISO_8859_1).contains("'shape': ()"));
    }

    private Path npyWithHeader(String name, int major, String dict, byte[] data) throws IOException {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        o.write(new byte[]{(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', (byte) major, 0});
        byte[] d = (dict + "\n").getBytes(StandardCharsets.ISO_8859_1);
        if (major == 1) {
            o.write(d.length & 0xff);
            o.write(d.length >> 8);
        } else {
            o.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(d.length).array());
        }
        o.write(d);
        o.write(data);
        Path p = dir.resolve(name);
        Files.write(p, o.toByteArray());
        return p;
    }

    @Test
    void readsVersion2AndBigEndianHeaders() throws IOException {
        byte[] be = ByteBuffer.allocate(12).order(ByteOrder.BIG_ENDIAN).putInt(1).putInt(-2).putInt(70000).array();
        Path p = npyWithHeader("v2.npy", 2, "{'descr': '>i4', 'fortran_order': False, 'shape': (3,), }", be);
        Tensor t = Npy.read(p);
        assertEquals(DType.INT32, t.dtype());
        assertArrayEquals(new long[]{1, -2, 70000}, t.toLongArray());
    }

    @Test
    void npyErrorsNameFileAndProblem() throws IOException {
        Path fortran = npyWithHeader("f.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", new byte[16]);
        NppException e = assertThrows(NppException.class, () -> Npy.read(fortran));
        assertTrue(e.getMessage().contains("f.npy") && e.getMessage().contains("Fortran order"), e.getMessage());

        Path badType = npyWithHeader("c.npy", 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", new byte[8]);
        e = assertThrows(NppException.class, () -> Npy.read(badType));
        assertTrue(e.getMessage().contains("c.npy") && e.getMessage().contains("unsupported NumPy type '<c8'"), e.getMessage());

        Path badHeader = npyWithHeader("h.npy", 1, "{'descr': '<f4', 'shape': (2,), }", new byte[8]);
        e = assertThrows(NppException.class, () -> Npy.read(badHeader));
        assertTrue(e.getMessage().contains("h.npy") && e.getMessage().contains("bad .npy header"), e.getMessage());

        Path badShape = npyWithHeader("s.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", new byte[8]);
        e = assertThrows(NppException.class, () -> Npy.read(badShape));
        assertTrue(e.getMessage().contains("s.npy") && e.getMessage().contains("shape"), e.getMessage());

        Path badVersion = npyWithHeader("v.npy", 7, "{}", new byte[0]);
        e = assertThrows(NppException.class, () -> Npy.read(badVersion));
        assertTrue(e.getMessage().contains("v.npy") && e.getMessage().contains("version 7"), e.getMessage());

        Path magic = dir.resolve("m.npy");
        Files.write(magic, "not numpy at all".getBytes(StandardCharsets.US_ASCII));
        e = assertThrows(NppException.class, () -> Npy.read(magic));
        assertTrue(e.getMessage().contains("m.npy") && e.getMessage().contains("bad magic"), e.getMessage());

        Path full = dir.resolve("t.npy");
        Npy.write(full, sample(DType.FLOAT32, 4, 4));
        byte[] all = Files.readAllBytes(full);
        Files.write(full, java.util.Arrays.copyOf(all, all.length - 3));
        e = assertThrows(NppException.class, () -> Npy.read(full));
        assertTrue(e.getMessage().contains("t.npy") && e.getMessage().contains("truncated"), e.getMessage());

        Files.write(full, java.util.Arrays.copyOf(all, 20));
        e = assertThrows(NppException.class, () -> Npy.read(full));
        assertTrue(e.getMessage().contains("t.npy") && e.getMessage().contains("truncated .npy header"), e.getMessage());

        e = assertThrows(NppException.class, () -> Npy.read(dir.resolve("missing.npy")));
        assertTrue(e.getMessage().contains("missing.npy") && e.getMessage().contains("not found"), e.getMessage());
    }

    @Test
    void npyRowRanges() {
        Tensor x = sample(DType.INT64, 10, 3);
        Path p = dir.resolve("rows.npy");
        Npy.write(p, x);
        try (Npy.Reader r = Npy.open(p)) {
            assertEquals(10, r.header().rows());
            Tensor mid = r.readRows(4, 3);
            long[] all = x.toLongArray();
            assertArrayEquals(java.util.Arrays.copyOfRange(all, 12, 21), mid.toLongArray());
            assertThrows(NppException.class, () -> r.readRows(8, 3));
        }
    }

    @Test
    void npzRoundTripEveryTypeAndReadableByJavaZip() throws IOException {
        Map<String, Tensor> arrays = new LinkedHashMap<>();
        for (DType t : DType.values()) {
            if (t != DType.BFLOAT16) {
                arrays.put("a_" + t.name().toLowerCase(), sample(t, 3, 5));
            }
        }
        arrays.put("scalar", sample(DType.FLOAT64));
        arrays.put("empty", sample(DType.FLOAT32, 0, 4));
        Path p = dir.resolve("all.npz");
        Npz.write(p, arrays);
        Map<String, Tensor> back = Npz.read(p);
        assertEquals(arrays.keySet(), back.keySet());
        for (String k : arrays.keySet()) {
            assertTrue(arrays.get(k).contentEquals(back.get(k)), k);
        }
        // an independent zip reader (java.util.zip, which checks CRCs) sees the same .npy bytes
        try (ZipFile z = new ZipFile(p.toFile())) {
            for (String k : arrays.keySet()) {
                ZipEntry e = z.getEntry(k + ".npy");
                assertEquals(ZipEntry.STORED, e.getMethod());
                ByteArrayOutputStream expect = new ByteArrayOutputStream();
                Npy.writeTo(expect, arrays.get(k));
                assertArrayEquals(expect.toByteArray(), z.getInputStream(e).readAllBytes(), k);
            }
        }
        // every entry's data starts 64-byte aligned
        try (ZipArchive z = ZipArchive.open(p)) {
            assertEquals(arrays.size(), z.entries().size());
        }
        // nothing left behind but the archive
        try (var files = Files.list(dir)) {
            assertEquals(List.of(p), files.toList());
        }
    }

    @Test
    void writtenFilesAreOrdinaryReadableFiles() throws IOException {
        Path npy = dir.resolve("p.npy");
        Path npz = dir.resolve("p.npz");
        Npy.write(npy, sample(DType.UINT8, 2));
        Npz.write(npz, Map.of("arr_0", sample(DType.UINT8, 2)));
        org.junit.jupiter.api.Assumptions.assumeTrue(dir.getFileSystem().supportedFileAttributeViews().contains("posix"));
        for (Path p : List.of(npy, npz)) {
            // not the owner-only mode of the temporary file they were written through
            assertEquals("rw-r--r--", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(p)), p.toString());
        }
    }

    @Test
    void npzStreamingRowsAndRanges() {
        Path p = dir.resolve("samples.npz");
        Tensor all = sample(DType.UINT8, 7, 4, 4, 3);
        byte[] bytes = all.toByteArray();
        try (Npz.Writer w = new Npz.Writer(p)) {
            w.begin(Npz.SAMPLES, DType.UINT8, 7, 4, 4, 3);
            int row = 48;
            w.appendRows(Tensor.ofBytes(DType.UINT8, new long[]{2, 4, 4, 3}, java.util.Arrays.copyOfRange(bytes, 0, 2 * row)));
            assertFalse(Files.exists(p), "nothing at the target before commit");
            w.appendRows(Tensor.ofBytes(DType.UINT8, new long[]{5, 4, 4, 3}, java.util.Arrays.copyOfRange(bytes, 2 * row, 7 * row)));
            w.add("labels", Tensor.ofLongs(new long[]{7}, new long[]{0, 1, 2, 3, 4, 5, 6}));
            w.commit();
        }
        try (Npz.Reader r = Npz.open(p)) {
            assertEquals(List.of("arr_0", "labels"), r.names());
            assertArrayEquals(new long[]{7, 4, 4, 3}, r.header("arr_0").shape());
            assertTrue(all.contentEquals(r.read("arr_0")));
            Tensor part = r.readRows("arr_0", 3, 2);
            assertArrayEquals(java.util.Arrays.copyOfRange(bytes, 3 * 48, 5 * 48), part.toByteArray());
            NppException e = assertThrows(NppException.class, () -> r.readRows("arr_0", 6, 2));
            assertTrue(e.getMessage().contains("out of range"), e.getMessage());
            e = assertThrows(NppException.class, () -> r.read("nope"));
            assertTrue(e.getMessage().contains("samples.npz") && e.getMessage().contains("no array 'nope'"), e.getMessage());
        }
    }

    @Test
    void npzWriterFailureLeavesNothing() throws IOException {
        Path p = dir.resolve("bad.npz");
        assertThrows(NppException.class, () -> {
            try (Npz.Writer w = new Npz.Writer(p)) {
                w.begin("arr_0", DType.FLOAT32, 4, 2);
                w.appendRows(sample(DType.FLOAT32, 1, 2));
                w.commit(); // only 1 of 4 rows: refused
            }
        });
        assertThrows(NppException.class, () -> {
            try (Npz.Writer w = new Npz.Writer(p)) {
                w.begin("arr_0", DType.FLOAT32, 4, 2);
                w.appendRows(sample(DType.INT32, 1, 2)); // wrong type
            }
        });
        try (var files = Files.list(dir)) {
            assertEquals(List.of(), files.toList());
        }
    }

    @Test
    void readsDeflatedNpzFromJavaZip() throws IOException {
        // savez_compressed layout, written by an independent zip writer (java.util.zip, deflated)
        Tensor a = sample(DType.FLOAT32, 6, 5);
        Tensor b = sample(DType.INT64, 4);
        Path p = dir.resolve("c.npz");
        try (OutputStream f = Files.newOutputStream(p); ZipOutputStream z = new ZipOutputStream(f)) {
            for (Map.Entry<String, Tensor> e : Map.of("a", a, "b", b).entrySet()) {
                z.putNextEntry(new ZipEntry(e.getKey() + ".npy"));
                Npy.writeTo(z, e.getValue());
                z.closeEntry();
            }
        }
        try (Npz.Reader r = Npz.open(p)) {
            assertTrue(a.contentEquals(r.read("a")));
            assertTrue(b.contentEquals(r.read("b")));
            float[] fa = a.toFloatArray();
            assertArrayEquals(java.util.Arrays.copyOfRange(fa, 10, 20), r.readRows("a", 2, 2).toFloatArray());
            // forward reads continue one inflating stream; a read behind it starts again
            for (int row = 0; row < 6; row += 2) {
                assertArrayEquals(java.util.Arrays.copyOfRange(fa, row * 5, row * 5 + 10), r.readRows("a", row, 2).toFloatArray());
            }
            assertArrayEquals(java.util.Arrays.copyOfRange(fa, 5, 10), r.readRows("a", 1, 1).toFloatArray());
            assertTrue(b.contentEquals(r.read("b")));
            assertArrayEquals(java.util.Arrays.copyOfRange(fa, 25, 30), r.readRows("a", 5, 1).toFloatArray());
        }
    }

    @Test
    void zip64RecordsReadBackByBothReaders() throws IOException {
        Path p = dir.resolve("z64.zip");
        byte[] one = "hello".getBytes(StandardCharsets.US_ASCII);
        byte[] two = new byte[1000];
        new Random(1).nextBytes(two);
        try (ZipArchiveWriter w = new ZipArchiveWriter(p)) {
            w.forceZip64 = true;
            w.entry("x/one", one);
            w.entry("x/two", two);
            w.commit();
        }
        try (ZipArchive z = ZipArchive.open(p)) {
            assertArrayEquals(one, bytesOf(z.read("x/one")));
            ZipArchive.Entry e = z.entry("x/two");
            assertArrayEquals(two, bytesOf(z.map(e, 0, e.size())));
        }
        try (ZipFile z = new ZipFile(p.toFile())) {
            assertArrayEquals(two, z.getInputStream(z.getEntry("x/two")).readAllBytes());
        }
    }

    private static byte[] bytesOf(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }

    @Test
    void corruptArchivesNameFileAndProblem() throws IOException {
        Path good = dir.resolve("g.npz");
        Npz.write(good, Map.of("arr_0", sample(DType.UINT8, 50, 10)));
        byte[] all = Files.readAllBytes(good);

        Path cut = dir.resolve("cut.npz");
        Files.write(cut, java.util.Arrays.copyOf(all, all.length - 30));
        NppException e = assertThrows(NppException.class, () -> Npz.read(cut));
        assertTrue(e.getMessage().contains("cut.npz") && e.getMessage().contains("corrupt or truncated zip"), e.getMessage());

        Path half = dir.resolve("half.npz");
        Files.write(half, java.util.Arrays.copyOf(all, all.length / 2));
        e = assertThrows(NppException.class, () -> Npz.read(half));
        assertTrue(e.getMessage().contains("half.npz"), e.getMessage());

        Path junk = dir.resolve("junk.npz");
        Files.write(junk, new byte[100]);
        e = assertThrows(NppException.class, () -> Npz.read(junk));
        assertTrue(e.getMessage().contains("junk.npz") && e.getMessage().contains("no end-of-central-directory"), e.getMessage());

        // a flipped byte inside the directory's offset field points the entry outside the file
        Path moved = dir.resolve("moved.npz");
        byte[] m = all.clone();
        int eocd = m.length - 22;
        m[eocd + 16] = (byte) 0x7f;
        m[eocd + 19] = (byte) 0x7f;
        Files.write(moved, m);
        e = assertThrows(NppException.class, () -> Npz.read(moved));
        assertTrue(e.getMessage().contains("moved.npz") && e.getMessage().contains("central directory"), e.getMessage());
    }
}
