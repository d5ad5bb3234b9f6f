package org.nextpatch.data;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Spec section 8 (training reads): random augmentation per access, half from the sibling, deterministic. */
class CodeSamplerTest {

    /** 50 images, 10 augmentations in the main set and 10 in the sibling; a read writes a code naming its source. */
    static final class Fake implements CodeSet {
        @Override public int size() { return 50; }
        @Override public int tokens() { return 1; }
        @Override public int augmentations(int image) { return 10; }
        @Override public boolean hasSibling() { return true; }
        @Override public int siblingAugmentations(int image) { return 10; }
        @Override public int label(int image) { return image % 7; }
        @Override public void read(int image, int aug, boolean sibling, long[] out, int offset) {
            out[offset] = (sibling ? 1000 : 0) + aug;
        }
    }

    @Test
    void deterministicAugmentationsHalfFromSibling() {
        CodeSampler a = new CodeSampler(new Fake(), 42, 0.2);
        CodeSampler b = new CodeSampler(new Fake(), 42, 0.2);
        assertEquals(10, a.heldOutImages().length);
        Set<Integer> train = new HashSet<>();
        for (int i : a.trainImages()) {
            train.add(i);
        }
        for (int i : a.heldOutImages()) {
            assertFalse(train.contains(i), "held-out image " + i + " is also a training image");
        }
        assertArrayEquals(a.epochOrder(3), b.epochOrder(3));
        assertFalse(Arrays.equals(a.epochOrder(3), a.epochOrder(4)));
        int sibling = 0;
        int n = 4000;
        int[] augCount = new int[10];
        long[] x = new long[1];
        long[] y = new long[1];
        for (int pos = 0; pos < n; pos++) {
            int label = a.draw(pos / 40, pos % 40, pos % 50, x, 0);
            b.draw(pos / 40, pos % 40, pos % 50, y, 0);
            assertEquals(x[0], y[0]);
            assertEquals((pos % 50) % 7, label);
            if (x[0] >= 1000) {
                sibling++;
            }
            augCount[(int) (x[0] % 1000)]++;
        }
        // binomial(4000, 0.5): sd 32, so +-160 is 5 sd
        assertTrue(Math.abs(sibling - n / 2) < 160, "sibling reads " + sibling + " of " + n);
        for (int c : augCount) {
            assertTrue(Math.abs(c - n / 10) < 100, "augmentation counts " + Arrays.toString(augCount));
        }
    }
}
