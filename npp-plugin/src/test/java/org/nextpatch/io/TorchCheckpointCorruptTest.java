package org.nextpatch.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.Fixtures;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.tensor.ZipArchiveWriter;
import org.nextpatch.util.NppException;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every error path of the checkpoint reader names the file and what is wrong. */
class TorchCheckpointCorruptTest {
    @TempDir
    Path dir;

    /** A hand-assembled pickle program (protocol 2). */
    static final class Program {
        final ByteArrayOutputStream b = new ByteArrayOutputStream();

        Program op(int... bytes) {
            for (int x : bytes) {
                b.write(x);
            }
            return this;
        }

        Program str(String s) {
            byte[] u = s.getBytes(StandardCharsets.UTF_8);
            op('X', u.length, 0, 0, 0);
            b.writeBytes(u);
            return this;
        }

        Program global(String m, String n) {
            op('c');
            b.writeBytes((m + "\n" + n + "\n").getBytes(StandardCharsets.US_ASCII));
            return this;
        }

        Program integer(int v) {
            return op('J', v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff);
        }

        Program tuple(int... v) {
            op('(');
            for (int x : v) {
                integer(x);
            }
            return op('t');
        }

        /** {"w": _rebuild_tensor_v2(storage('0', storageType, numel), offset, size, stride, False, OrderedDict())} */
        static Program tensor(String storageType, int numel, int offset, int[] size, int[] stride) {
            Program p = new Program().op(0x80, 2, '}').str("w");
            p.global("torch._utils", "_rebuild_tensor_v2").op('(');
            p.op('(').str("storage").global("torch", storageType).str("0").str("cpu").integer(numel).op('t', 'Q');
            p.integer(offset).tuple(size).tuple(stride).op(0x89).global("collections", "OrderedDict").op(')', 'R');
            return p.op('t', 'R', 's', '.');
        }

        byte[] bytes() {
            return b.toByteArray();
        }
    }

    private Path archive(String name, byte[] pickle, byte[] storage) {
        Path p = dir.resolve(name);
        try (ZipArchiveWriter z = new ZipArchiveWriter(p)) {
            z.entry("ck/data.pkl", pickle);
            if (storage != null) {
                z.entry("ck/data/0", storage);
            }
            z.entry("ck/version", "3\n".getBytes(StandardCharsets.US_ASCII));
            z.commit();
        }
        return p;
    }

    private static void assertError(Path file, String what) {
        NppException e = assertThrows(NppException.class, () -> TorchCheckpoint.load(file));
        String m = e.getMessage();
        assertTrue(m.contains(file.getFileName().toString()) && m.contains(what), "message: " + m);
        assertTrue(!m.contains("\n"), "one line: " + m);
    }

    @Test
    void handBuiltProgramLoads() {
        // the builder itself is right: a valid 2x2 view with offset 1 in a 6-element storage
        byte[] data = new byte[24];
        for (int i = 0; i < 6; i++) {
            data[4 * i + 3] = 0x3f; // floats 0.5 .. 0.99 in the high byte pattern
            data[4 * i + 2] = (byte) (i * 16);
        }
        Path p = archive("ok.pt", Program.tensor("FloatStorage", 6, 1, new int[]{2, 2}, new int[]{1, 2}).bytes(), data);
        Tensor t = StateDicts.select(TorchCheckpoint.load(p), false).get("w");
        float[] all = Tensor.ofBytes(org.nextpatch.tensor.DType.FLOAT32, new long[]{6}, data).toFloatArray();
        // element [i][j] = storage[1 + i + 2j]
        assertArrayEquals(new float[]{all[1], all[3], all[2], all[4]}, t.toFloatArray(), 0f);
    }

    @Test
    void tensorWithPythonAttributesRebuildsPlainTensor() {
        // torch >= 2 pickles tensors with attributes as _rebuild_from_type_v2(_rebuild_tensor_v2, Tensor, (args), state)
        Program p = new Program().op(0x80, 2, '}').str("w");
        p.global("torch._tensor", "_rebuild_from_type_v2").op('(');
        p.global("torch._utils", "_rebuild_tensor_v2").global("torch", "Tensor");
        p.op('(').op('(').str("storage").global("torch", "IntStorage").str("0").str("cpu").integer(3).op('t', 'Q');
        p.integer(0).tuple(3).tuple(1).op(0x89).global("collections", "OrderedDict").op(')', 'R', 't');
        p.op('}').op('t', 'R', 's', '.');
        byte[] data = {1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0};
        Tensor t = StateDicts.select(TorchCheckpoint.load(archive("attr.pt", p.bytes(), data)), false).get("w");
        assertArrayEquals(new long[]{1, 2, 3}, t.toLongArray());
    }

    @Test
    void shapeStrideOffsetOutOfBounds() {
        byte[] data = new byte[16]; // 4 floats
        assertError(archive("size.pt", Program.tensor("FloatStorage", 4, 0, new int[]{3, 3}, new int[]{3, 1}).bytes(), data),
                "out of bounds of the storage");
        assertError(archive("stride.pt", Program.tensor("FloatStorage", 4, 0, new int[]{2, 2}, new int[]{3, 1}).bytes(), data),
                "out of bounds of the storage");
        assertError(archive("offset.pt", Program.tensor("FloatStorage", 4, 3, new int[]{2}, new int[]{1}).bytes(), data),
                "out of bounds of the storage");
        assertError(archive("offset2.pt", Program.tensor("FloatStorage", 4, 9, new int[]{0}, new int[]{1}).bytes(), data),
                "offset out of bounds");
        assertError(archive("negstride.pt", Program.tensor("FloatStorage", 4, 3, new int[]{2}, new int[]{-1}).bytes(), data),
                "negative stride");
        assertError(archive("rank.pt", Program.tensor("FloatStorage", 4, 0, new int[]{2, 2}, new int[]{1}).bytes(), data),
                "differ in rank");
    }

    @Test
    void storageProblems() {
        byte[] prog = Program.tensor("FloatStorage", 4, 0, new int[]{4}, new int[]{1}).bytes();
        assertError(archive("missing.pt", prog, null), "storage entry ck/data/0 is missing");
        assertError(archive("short.pt", prog, new byte[12]), "has 12 bytes, but 4 elements of FLOAT32 need 16");
        assertError(archive("complex.pt", Program.tensor("ComplexFloatStorage", 1, 0, new int[]{1}, new int[]{1}).bytes(),
                new byte[8]), "storage type torch.ComplexFloatStorage is not supported");
    }

    @Test
    void pickleProblems() {
        assertError(archive("opcode.pt", new byte[]{(byte) 0x80, 2, (byte) 0xff}, null), "unknown pickle opcode 0xff at byte 2");
        assertError(archive("nostop.pt", new byte[]{(byte) 0x80, 2, '}'}, null), "data ends without a STOP opcode");
        assertError(archive("cutop.pt", new byte[]{(byte) 0x80, 2, 'J', 1}, null), "data ends in the middle of an opcode");
        assertError(archive("underflow.pt", new byte[]{(byte) 0x80, 2, 's', '.'}, null), "stack underflow");
        assertError(archive("memo.pt", new byte[]{(byte) 0x80, 2, 'h', 5, '.'}, null), "memo key 5 was never stored");
        assertError(archive("proto.pt", new byte[]{(byte) 0x80, 9, 'N', '.'}, null), "unsupported pickle protocol 9");
        assertError(archive("setitem.pt", new byte[]{(byte) 0x80, 2, ']', 'N', 'N', 's', '.'}, null), "SETITEM on a ArrayList, not a dict");
        assertError(archive("dictsub.pt", new Program().op(0x80, 2).global("easydict", "EasyDict").op(')', 'R', '(')
                .str("a").str("b").op('u', '.').bytes(), null), "fills an object of class easydict.EasyDict with dict items");
        assertError(archive("pid.pt", new Program().op(0x80, 2).str("x").op('Q', '.').bytes(), null), "unsupported persistent id");
        assertError(archive("longstr.pt", new byte[]{(byte) 0x80, 2, 'X', 100, 0, 0, 0, 'a', '.'}, null),
                "length of 100 runs past the end");
    }

    @Test
    void archiveProblems() throws Exception {
        byte[] good = Files.readAllBytes(Fixtures.file("gpt.pt"));

        Path cut = dir.resolve("cut.pt");
        Files.write(cut, Arrays.copyOf(good, good.length / 2));
        assertError(cut, "corrupt or truncated zip archive");

        Path cutTail = dir.resolve("cuttail.pt");
        Files.write(cutTail, Arrays.copyOf(good, good.length - 10));
        assertError(cutTail, "corrupt or truncated zip archive");

        Path empty = dir.resolve("empty.pt");
        Files.write(empty, new byte[0]);
        assertError(empty, "empty or truncated");

        Path magic = dir.resolve("magic.pt");
        Files.writeString(magic, "GIF89a and so on, certainly not a checkpoint");
        assertError(magic, "not a PyTorch checkpoint");

        assertError(dir.resolve("absent.pt"), "file not found");

        // a flipped byte inside data.pkl: the CRC check catches it
        Path flipped = dir.resolve("flipped.pt");
        byte[] f = good.clone();
        int at = indexOf(f, "tok_embeddings".getBytes(StandardCharsets.US_ASCII));
        f[at] ^= 0x20;
        Files.write(flipped, f);
        assertError(flipped, "CRC mismatch in entry gpt/data.pkl");

        Path noPkl = dir.resolve("nopkl.pt");
        try (ZipArchiveWriter z = new ZipArchiveWriter(noPkl)) {
            z.entry("x/version", "3\n".getBytes(StandardCharsets.US_ASCII));
            z.commit();
        }
        assertError(noPkl, "no data.pkl entry");
    }

    @Test
    void saveKeepsOldFileWhenItFails() throws Exception {
        Path p = dir.resolve("keep.pt");
        Map<String, Object> good = new LinkedHashMap<>();
        good.put("steps", 1L);
        TorchCheckpoint.save(p, good);
        byte[] before = Files.readAllBytes(p);
        Map<String, Object> bad = new LinkedHashMap<>();
        bad.put("steps", 2L);
        bad.put("what", new Object());
        assertThrows(NppException.class, () -> TorchCheckpoint.save(p, bad));
        assertArrayEquals(before, Files.readAllBytes(p));
        try (var files = Files.list(dir)) {
            assertTrue(files.toList().equals(List.of(p)), "no temporary files left");
        }
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new AssertionError("not found");
    }
}
