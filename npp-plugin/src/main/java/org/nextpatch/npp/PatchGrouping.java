package org.nextpatch.npp;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import org.nextpatch.util.NppException;

/**
 * Next Patch Prediction's input and target grouping (spec 2 and 4).
 * <p>
 * The {@code G x G} token grid (raster order) is cut into non-overlapping {@code p x p} patches,
 * themselves in raster order over the {@code Gp x Gp} patch grid ({@code Gp = G / p}). A patch's
 * input is the arithmetic mean of its tokens' embeddings; its target is the multiset of its tokens.
 * With {@code p = 1} both are the identity (plain next-token prediction).
 */
public final class PatchGrouping {
    private PatchGrouping() {}

    /** The patch grid side {@code G / p}; fails with a clear message when p does not divide G. */
    public static int patchGridSide(int gridSide, int patchSide) {
        if (patchSide <= 0 || gridSide % patchSide != 0) {
            throw new org.nextpatch.util.BadValueException("--patch-side " + patchSide + " must be a positive divisor of the token grid side "
                    + gridSide);
        }
        return gridSide / patchSide;
    }

    /**
     * Mean of the token embeddings of every patch.
     *
     * @param embeddings {@code [B, G*G, d]} token embeddings in raster order
     * @return {@code [B, Gp*Gp, d]} patch embeddings in raster order over the patch grid
     */
    public static NDArray patchEmbeddings(NDArray embeddings, int gridSide, int patchSide) {
        int gp = patchGridSide(gridSide, patchSide);
        if (patchSide == 1) {
            return embeddings;
        }
        Shape s = embeddings.getShape();
        long b = s.get(0);
        long d = s.get(2);
        // [B, R, i, C, j, d]: token (R*p+i, C*p+j) -> [B, R, C, i*j, d], then average the p*p tokens
        // (DJL's PyTorch mean reduces one axis at a time).
        return embeddings.reshape(b, gp, patchSide, gp, patchSide, d)
                .transpose(0, 1, 3, 2, 4, 5)
                .reshape(b, (long) gp * gp, (long) patchSide * patchSide, d)
                .mean(new int[]{2});
    }

    /**
     * The tokens of every patch.
     *
     * @param tokens {@code [B, G*G]} int64 in raster order
     * @return {@code [B, Gp*Gp, p*p]}: row {@code P} lists the tokens of patch {@code P} (order inside a
     * patch is irrelevant to the loss)
     */
    public static NDArray patchTargets(NDArray tokens, int gridSide, int patchSide) {
        int gp = patchGridSide(gridSide, patchSide);
        long b = tokens.getShape().get(0);
        if (patchSide == 1) {
            return tokens.reshape(b, (long) gridSide * gridSide, 1);
        }
        return tokens.reshape(b, gp, patchSide, gp, patchSide)
                .transpose(0, 1, 3, 2, 4)
                .reshape(b, (long) gp * gp, (long) patchSide * patchSide);
    }
}
