package org.nextpatch.sample;

import org.junit.jupiter.api.Test;
import org.nextpatch.util.RandomStreams;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The draw contract: one seeded generator per image, one float uniform per token. */
class UniformsTest {

    @Test
    void followsTheContract() {
        long seed = 42;
        float[] u = Uniforms.forImage(seed, 7, 16);
        SplittableRandom rng = RandomStreams.stream(seed, RandomStreams.Purpose.SAMPLE_TOKENS, 7);
        for (int t = 0; t < 16; t++) {
            assertEquals((float) rng.nextDouble(), u[t]);
            assertTrue(u[t] >= 0 && u[t] < 1);
        }
    }

    @Test
    void batchLayoutIsIndependentOfBatching() {
        float[] batch = Uniforms.forBatch(3, 10, 4, 5);
        for (int b = 0; b < 4; b++) {
            float[] one = Uniforms.forImage(3, 10 + b, 5);
            float[] row = java.util.Arrays.copyOfRange(batch, b * 5, b * 5 + 5);
            assertArrayEquals(one, row);
        }
        assertNotEquals(Uniforms.forImage(3, 0, 1)[0], Uniforms.forImage(4, 0, 1)[0]);
    }
}
