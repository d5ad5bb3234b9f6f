package org.nextpatch.npp;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;
import org.nextpatch.util.NppException;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Spec 2 (patch grouping) and spec 4 (soft-label loss) against direct loops, for every p dividing G = 8. */
class PatchGroupingTest {

    @Test
    void meansAndTargetsForEveryPatchSide() {
        int g = 8, d = 3, b = 2;
        SplittableRandom r = new SplittableRandom(1);
        float[] emb = new float[b * g * g * d];
        for (int i = 0; i < emb.length; i++) emb[i] = (float) r.nextGaussian();
        long[] tok = new long[b * g * g];
        for (int i = 0; i < tok.length; i++) tok[i] = r.nextInt(50);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray e = m.create(emb, new Shape(b, g * g, d));
            NDArray t = m.create(tok, new Shape(b, g * g));
            for (int p : new int[]{1, 2, 4, 8}) {
                int gp = g / p;
                float[] got = PatchGrouping.patchEmbeddings(e, g, p).toFloatArray();
                long[] targets = PatchGrouping.patchTargets(t, g, p).toLongArray();
                assertEquals(b * gp * gp * d, got.length);
                for (int bi = 0; bi < b; bi++) {
                    for (int pr = 0; pr < gp; pr++) {
                        for (int pc = 0; pc < gp; pc++) {
                            int patch = pr * gp + pc; // raster order over the patch grid
                            long[] want = new long[p * p];
                            int n = 0;
                            for (int i = 0; i < p; i++) {
                                for (int j = 0; j < p; j++) {
                                    want[n++] = tok[bi * g * g + (pr * p + i) * g + (pc * p + j)];
                                }
                            }
                            long[] have = java.util.Arrays.copyOfRange(targets, (bi * gp * gp + patch) * p * p, (bi * gp * gp + patch + 1) * p * p);
                            java.util.Arrays.sort(want);
                            java.util.Arrays.sort(have);
                            assertArrayEquals(want, have, "p=" + p + " patch " + patch);
                            for (int k = 0; k < d; k++) {
                                double s = 0;
                                for (int i = 0; i < p; i++) {
                                    for (int j = 0; j < p; j++) {
                                        s += emb[(bi * g * g + (pr * p + i) * g + (pc * p + j)) * d + k];
                                    }
                                }
                                assertEquals(s / (p * p), got[(bi * gp * gp + patch) * d + k], 1e-6, "p=" + p);
                            }
                        }
                    }
                }
            }
            NppException ex = assertThrows(NppException.class, () -> PatchGrouping.patchEmbeddings(e, g, 3));
            assertTrue(ex.getMessage().contains("--patch-side 3"), ex.getMessage());
        }
    }

    /** Soft-label cross-entropy with a repeated token in a patch (it counts twice), in double. */
    @Test
    void softLabelLoss() {
        float[] logits = {0.5f, -1f, 2f, 0f, 1f, 1f, -0.5f, 3f}; // [1, 2, 4]
        long[] targets = {2, 2, 0, 1, 3, 3, 3, 0};                  // [1, 2, 4]: patch 0 = {2,2,0,1}
        try (NDManager m = NDManager.newBaseManager()) {
            float got = NppLoss.loss(m.create(logits, new Shape(1, 2, 4)), m.create(targets, new Shape(1, 2, 4))).getFloat();
            double total = 0;
            for (int k = 0; k < 2; k++) {
                double z = 0;
                for (int v = 0; v < 4; v++) z += Math.exp(logits[k * 4 + v]);
                for (int t = 0; t < 4; t++) total += -(logits[k * 4 + (int) targets[k * 4 + t]] - Math.log(z));
            }
            assertEquals(total / 8, got, 1e-6);
        }
    }
}
