package org.nextpatch.npp;

import ai.djl.ndarray.NDArray;

/**
 * The NPP soft-label loss (spec 4): the logits of patch position {@code k} are scored against every
 * token of patch {@code k}, and cross-entropy is averaged over all (example, patch, token-in-patch)
 * triples. Equivalent to cross-entropy against the average of the tokens' one-hot vectors; with
 * {@code p = 1} it is plain next-token cross-entropy. Computed in float32.
 */
public final class NppLoss {
    private NppLoss() {}

    /**
     * @param logits  {@code [B, L, V]} float32, position {@code k} predicts patch {@code k}
     * @param targets {@code [B, L, p*p]} int64 tokens of each patch ({@link PatchGrouping#patchTargets})
     * @return the scalar mean loss (differentiable with respect to the logits)
     */
    public static NDArray loss(NDArray logits, NDArray targets) {
        NDArray logp = logits.logSoftmax(-1);
        // gather picks log p[b, k, t] for every token t of patch k; a repeated token counts twice.
        return logp.gather(targets, 2).mean().neg();
    }

    /** Per-example mean loss {@code [B]} (for scoring files row by row). */
    public static NDArray perExample(NDArray logits, NDArray targets) {
        NDArray logp = logits.logSoftmax(-1);
        NDArray picked = logp.gather(targets, 2);
        return picked.reshape(picked.getShape().get(0), -1).mean(new int[]{1}).neg();
    }
}
