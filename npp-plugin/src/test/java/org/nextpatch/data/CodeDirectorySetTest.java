package org.nextpatch.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.Fixtures;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Tensor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** CodeDirectorySet over the fixture's code directory and a made-up _ten_crop_105 sibling (spec section 8). */
class CodeDirectorySetTest {

    @Test
    void readsFixtureCodesAndSibling(@TempDir Path tmp) throws Exception {
        Path fixture = Fixtures.file("codes");
        CodeDirectorySet plain = CodeDirectorySet.open(fixture, 64);
        assertEquals(6, plain.size());
        assertEquals(16, plain.tokens());
        assertEquals(10, plain.augmentations(0));
        assertFalse(plain.hasSibling());
        long[] all = Npy.read(fixture.resolve("imagenet64_codes/3.npy")).toLongArray();
        long[] out = new long[16];
        plain.read(3, 7, false, out, 0);
        assertArrayEquals(Arrays.copyOfRange(all, 7 * 16, 8 * 16), out);
        assertEquals(Npy.read(fixture.resolve("imagenet64_labels/3.npy")).toLongArray()[0], plain.label(3));

        // a ten_crop directory with a _105 sibling whose codes are the fixture's + 1
        Path main = tmp.resolve("codes_ten_crop");
        Path sib = tmp.resolve("codes_ten_crop_105");
        for (Path d : new Path[]{main, sib}) {
            for (String sub : new String[]{"imagenet64_codes", "imagenet64_labels"}) {
                Files.createDirectories(d.resolve(sub));
                for (int i = 0; i < 6; i++) {
                    Tensor t = Npy.read(fixture.resolve(sub + "/" + i + ".npy"));
                    if (d == sib && sub.endsWith("codes")) {
                        long[] v = t.toLongArray();
                        for (int j = 0; j < v.length; j++) {
                            v[j] += 1;
                        }
                        t = Tensor.ofLongs(t.shape(), v);
                    }
                    Npy.write(d.resolve(sub + "/" + i + ".npy"), t);
                }
            }
        }
        CodeDirectorySet withSibling = CodeDirectorySet.open(main, 64);
        assertTrue(withSibling.hasSibling());
        withSibling.read(3, 7, true, out, 0);
        for (int j = 0; j < 16; j++) {
            assertEquals(all[7 * 16 + j] + 1, out[j]);
        }
        withSibling.read(3, 7, false, out, 0);
        assertArrayEquals(Arrays.copyOfRange(all, 7 * 16, 8 * 16), out);
    }
}
