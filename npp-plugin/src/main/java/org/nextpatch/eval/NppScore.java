package org.nextpatch.eval;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.nextpatch.data.CodeDirectory;
import org.nextpatch.model.Gpt;
import org.nextpatch.npp.PatchGrouping;
import org.nextpatch.util.NppException;
import org.nextpatch.util.Progress;

/**
 * The mean NPP loss of a model over every (image, augmentation) row of a code directory, without
 * dropout: what {@code npp score} prints and what the fixture's {@code codes/scores.json} defines.
 */
public final class NppScore {
    private NppScore() {}

    /**
     * @param batchSize rows per forward pass
     * @return the mean over rows of each row's NPP loss at patch side p (accumulated in double)
     */
    public static double score(Gpt gpt, CodeDirectory codes, int patchSide, int batchSize) {
        int t = gpt.config().blockSize();
        if (codes.tokens() != t) {
            throw new NppException("--code-path " + codes.root() + ": codes have " + codes.tokens()
                    + " tokens per image but the model's block_size is " + t
                    + " (check --image-size / --downsample-size against the model)");
        }
        PatchGrouping.patchGridSide(gpt.config().gridSide(), patchSide);
        if (batchSize <= 0) {
            throw new org.nextpatch.util.BadValueException("--batch-size must be positive, got " + batchSize);
        }
        int aug = codes.augmentations();
        long rows = codes.rows();
        long[] tokBuf = new long[batchSize * t];
        long[] labBuf = new long[batchSize];
        int filled = 0;
        double sum = 0;
        try (Progress progress = Progress.start("score", rows, "row")) {
            for (int n = 0; n < codes.images(); n++) {
                long[] all = codes.codes(n);
                long label = codes.label(n);
                if (label < 0 || label >= gpt.config().numClasses()) {
                    throw new NppException("--code-path " + codes.root() + ": image " + codes.fileIndex(n) + " has label "
                            + label + " outside the model's classes 0.." + (gpt.config().numClasses() - 1));
                }
                for (int a = 0; a < aug; a++) {
                    System.arraycopy(all, a * t, tokBuf, filled * t, t);
                    labBuf[filled++] = label;
                    if (filled == batchSize) {
                        sum += batchLossSum(gpt, tokBuf, labBuf, filled, patchSide);
                        progress.step(filled);
                        filled = 0;
                    }
                }
            }
            if (filled > 0) {
                sum += batchLossSum(gpt, tokBuf, labBuf, filled, patchSide);
                progress.step(filled);
            }
        }
        return sum / rows;
    }

    private static double batchLossSum(Gpt gpt, long[] tokens, long[] labels, int n, int patchSide) {
        int t = gpt.config().blockSize();
        try (NDManager m = gpt.manager().newSubManager()) {
            NDArray tk = m.create(java.util.Arrays.copyOf(tokens, n * t), new Shape(n, t));
            NDArray lb = m.create(java.util.Arrays.copyOf(labels, n));
            float[] losses = gpt.perExampleLoss(tk, lb, patchSide).toFloatArray();
            double s = 0;
            for (float l : losses) {
                s += l;
            }
            return s;
        }
    }
}
