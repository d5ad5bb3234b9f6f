package org.nextpatch.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.util.NppException;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The shipped Fashion-MNIST test split and the loader's sources. */
class FashionMnistTest {

    @Test
    void shippedTestSplitIsTheRealOne() throws Exception {
        // the shipped files are byte-identical to upstream's (hashes in the resource README)
        try (InputStream in = FashionMnist.class.getResourceAsStream(FashionMnist.RESOURCE_DIR + "t10k-labels-idx1-ubyte.gz")) {
            byte[] sha = MessageDigest.getInstance("SHA-256").digest(in.readAllBytes());
            assertEquals("8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05", HexFormat.of().formatHex(sha));
        }
        LabelledImages test = FashionMnist.shippedTest();
        assertEquals(10000, test.n());
        assertEquals(28, test.height());
        assertEquals(28, test.width());
        assertArrayEquals(new int[]{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}, FashionMnist.classCounts(test));
        // upstream's first test labels: Ankle boot, Pullover, Trouser, Trouser, Shirt
        assertArrayEquals(new int[]{9, 2, 1, 1, 6}, java.util.Arrays.copyOf(test.labels(), 5));
        assertEquals("Ankle boot", test.classNames().get(test.labels()[0]));
    }

    @Test
    void directoryWithOnlyTheTestSplit(@TempDir Path dir) throws Exception {
        for (String f : new String[]{"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}) {
            try (InputStream in = FashionMnist.class.getResourceAsStream(FashionMnist.RESOURCE_DIR + f)) {
                Files.copy(in, dir.resolve(f));
            }
        }
        FashionMnist.Dataset ds = FashionMnist.load(dir);
        assertFalse(ds.train().isPresent());
        assertEquals(10000, ds.test().n());
        assertTrue(ds.source().contains(dir.toString()));
    }

    @Test
    void installedDatasetHasBothSplits() {
        Path system = Path.of(FashionMnist.SYSTEM_DIR);
        if (!Files.isRegularFile(system.resolve("train-labels-idx1-ubyte.gz"))) {
            return; // dataset-fashion-mnist not installed here: nothing to check
        }
        FashionMnist.Dataset ds = FashionMnist.load(null);
        assertEquals(60000, ds.train().orElseThrow().n());
        assertEquals(10000, ds.test().n());
    }

    @Test
    void clearErrors(@TempDir Path dir) {
        NppException e = assertThrows(NppException.class, () -> FashionMnist.load(dir));
        assertTrue(e.getMessage().contains("t10k-images-idx3-ubyte"), e.getMessage());
        e = assertThrows(NppException.class, () -> FashionMnist.load(dir.resolve("nope")));
        assertTrue(e.getMessage().contains("not a directory"), e.getMessage());
    }
}
