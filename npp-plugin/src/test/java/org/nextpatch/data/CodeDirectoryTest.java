package org.nextpatch.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.Fixtures;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Spec 8: the upstream code layout, read from the fixture and from small hand-made directories. */
class CodeDirectoryTest {

    @Test
    void readsTheFixtureLayout() {
        CodeDirectory d = CodeDirectory.open(Fixtures.file("codes"), 64);
        assertEquals(6, d.images());
        assertEquals(10, d.augmentations());
        assertEquals(16, d.tokens());
        assertEquals(60, d.rows());
        assertEquals(60, d.rowList().size());
        long[] raw = Npy.read(Fixtures.file("codes/imagenet64_codes/3.npy")).toLongArray();
        assertArrayEquals(Arrays.copyOfRange(raw, 5 * 16, 6 * 16), d.codes(3, 5));
        assertEquals(Npy.read(Fixtures.file("codes/imagenet64_labels/3.npy")).toLongArray()[0], d.label(3));
        assertTrue(d.tenCrop105().isEmpty());
    }

    private static void write(Path root, int size, long index, long[] codes, int aug, int t, long label) {
        Npy.write(root.resolve("imagenet" + size + "_codes").resolve(index + ".npy"), Tensor.ofLongs(new long[]{1, aug, t}, codes));
        Npy.write(root.resolve("imagenet" + size + "_labels").resolve(index + ".npy"), Tensor.ofLongs(new long[]{1}, new long[]{label}));
    }

    @Test
    void numericOrderAndTenCropSibling(@TempDir Path tmp) throws Exception {
        Path main = tmp.resolve("imagenet_code_c2i_flip_ten_crop");
        Path sib = tmp.resolve("imagenet_code_c2i_flip_ten_crop_105");
        for (Path p : new Path[]{main, sib}) {
            Files.createDirectories(p.resolve("imagenet32_codes"));
            Files.createDirectories(p.resolve("imagenet32_labels"));
        }
        for (long i : new long[]{0, 2, 10}) {
            write(main, 32, i, new long[]{i, i, i, i, i + 1, i + 1, i + 1, i + 1}, 2, 4, i % 3);
            write(sib, 32, i, new long[]{100 + i, 0, 0, 0, 0, 0, 0, 0}, 2, 4, i % 3);
        }
        CodeDirectory d = CodeDirectory.open(main, 32);
        assertEquals(3, d.images());
        assertEquals(10, d.fileIndex(2)); // numeric, not lexicographic ("10" < "2")
        assertArrayEquals(new long[]{11, 11, 11, 11}, d.codes(2, 1));
        assertEquals(1, d.label(2));
        CodeDirectory s = d.tenCrop105().orElseThrow();
        assertEquals(110, s.codes(2, 0)[0]);
        assertFalse(s.tenCrop105().isPresent());
    }

    @Test
    void clearErrors(@TempDir Path tmp) throws Exception {
        NppException e = assertThrows(NppException.class, () -> CodeDirectory.open(Fixtures.file("codes"), 256));
        assertTrue(e.getMessage().contains("imagenet256_codes") && e.getMessage().contains("found imagenet64_codes"), e.getMessage());
        Files.createDirectories(tmp.resolve("imagenet16_codes"));
        Files.createDirectories(tmp.resolve("imagenet16_labels"));
        Npy.write(tmp.resolve("imagenet16_codes/0.npy"), Tensor.ofLongs(new long[]{1, 1, 1}, new long[]{0}));
        NppException m = assertThrows(NppException.class, () -> CodeDirectory.open(tmp, 16));
        assertTrue(m.getMessage().contains("missing label file"), m.getMessage());
        assertThrows(NppException.class, () -> CodeDirectory.open(tmp.resolve("nope"), 16));
    }
}
