package org.nextpatch.rope;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Spec 6.4 (and 3): the 2-D rotary table, quirks included. */
class Rope2dTest {

    @Test
    void shapeAndZeroClassRow() {
        Rope2d r = Rope2d.build(4, 16, 10000, 1);
        assertEquals(17, r.rows());
        assertEquals(8, r.pairs());
        float[] c = r.cos();
        float[] s = r.sin();
        assertEquals(17 * 8, c.length);
        for (int j = 0; j < 8; j++) {
            // class row: cos = 0 AND sin = 0 (not the identity rotation)
            assertEquals(0f, c[j]);
            assertEquals(0f, s[j]);
        }
        // first grid cell (0,0): identity rotation
        for (int j = 0; j < 8; j++) {
            assertEquals(1f, c[8 + j]);
            assertEquals(0f, s[8 + j]);
        }
    }

    @Test
    void rowsThenColumnsWithUpstreamFrequencies() {
        int side = 5, hd = 64;
        Rope2d r = Rope2d.build(side, hd, 10000, 1);
        float[] c = r.cos();
        float[] s = r.sin();
        int half = hd / 2, quarter = hd / 4;
        for (int row = 0; row < side; row++) {
            for (int col = 0; col < side; col++) {
                int pos = 1 + row * side + col;
                for (int k = 0; k < quarter; k++) {
                    double theta = Math.pow(10000, -(double) k / quarter); // spec: base^(-k/(hd/4))
                    assertEquals(Math.cos(row * theta), c[pos * half + k], 2e-6);
                    assertEquals(Math.sin(row * theta), s[pos * half + k], 2e-6);
                    assertEquals(Math.cos(col * theta), c[pos * half + quarter + k], 2e-6);
                    assertEquals(Math.sin(col * theta), s[pos * half + quarter + k], 2e-6);
                }
            }
        }
        float[] inter = r.interleaved();
        assertEquals(c[3 * half + 5], inter[2 * (3 * half + 5)]);
        assertEquals(s[3 * half + 5], inter[2 * (3 * half + 5) + 1]);
    }

    @Test
    void applyRotatesInterleavedPairs() {
        Rope2d r = Rope2d.build(3, 8, 10000, 1);
        float[] x = {1, 2, 3, 4, 5, 6, 7, 8};
        int pos = 1 + 2 * 3 + 1; // (row 2, col 1)
        float[] y = x.clone();
        r.apply(y, 0, pos);
        float[] c = r.cos(), s = r.sin();
        for (int j = 0; j < 4; j++) {
            float cc = c[pos * 4 + j], ss = s[pos * 4 + j];
            assertEquals(x[2 * j] * cc - x[2 * j + 1] * ss, y[2 * j], 1e-6);
            assertEquals(x[2 * j + 1] * cc + x[2 * j] * ss, y[2 * j + 1], 1e-6);
        }
        // pair 0 rotates by row * theta_0 = 2 rad
        assertEquals(Math.cos(2) * 1 - Math.sin(2) * 2, y[0], 1e-6);
        float[] z = x.clone();
        r.apply(z, 0, 0);
        for (float v : z) {
            assertEquals(0f, v); // class position: q and k vanish
        }
    }

    @Test
    void rejectsBadHeadDim() {
        assertThrows(IllegalArgumentException.class, () -> Rope2d.build(4, 6, 10000, 1));
    }
}
