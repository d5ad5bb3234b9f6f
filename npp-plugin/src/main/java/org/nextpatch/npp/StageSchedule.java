package org.nextpatch.npp;

import org.nextpatch.util.NppException;

import java.util.Arrays;

/**
 * The coarse-to-fine patch schedule of NPP (spec section 5): which patch size each training epoch
 * uses.
 * <p>
 * {@code --patch-level N} picks the tokens-per-patch list (2 -> [4, 1], 3 -> [16, 4, 1],
 * 4 -> [64, 16, 4, 1], anything else -> [1]); with {@code E} epochs and {@code --epoch-rate r} the
 * stage end epochs (exclusive) are {@code int(E * r^i)} for {@code i = 0..N-1}, listed in reverse so
 * they ascend. Epoch {@code e} uses the first stage whose end is greater than {@code e}. This is the
 * upstream code's rule, quirks included: with small {@code E} a stage can be empty (its end equals
 * the previous one) and is then skipped.
 */
public final class StageSchedule {
    private final int epochs;
    private final int patchLevel;
    private final double epochRate;
    private final int[] tokensPerPatch;
    private final int[] stageEnds;

    private StageSchedule(int epochs, int patchLevel, double epochRate) {
        if (epochs <= 0) {
            throw new org.nextpatch.util.BadValueException("--epochs must be positive, got " + epochs);
        }
        if (!(epochRate > 0 && epochRate <= 1)) {
            throw new org.nextpatch.util.BadValueException("--epoch-rate must be in (0, 1], got " + epochRate);
        }
        this.epochs = epochs;
        this.patchLevel = patchLevel;
        this.epochRate = epochRate;
        this.tokensPerPatch = tokensPerPatchList(patchLevel);
        int n = tokensPerPatch.length;
        this.stageEnds = new int[n];
        for (int i = 0; i < n; i++) {
            // Python int() truncates toward zero; the product is non-negative here.
            stageEnds[n - 1 - i] = (int) (epochs * Math.pow(epochRate, i));
        }
    }

    /**
     * The schedule for a run.
     *
     * @param epochs     total epochs E
     * @param patchLevel {@code --patch-level}
     * @param epochRate  {@code --epoch-rate}, in (0, 1]
     */
    public static StageSchedule of(int epochs, int patchLevel, double epochRate) {
        return new StageSchedule(epochs, patchLevel, epochRate);
    }

    /** Plain next-token training for {@code epochs} epochs (one stage, one token per patch). */
    public static StageSchedule nextToken(int epochs) {
        return new StageSchedule(epochs, 1, 0.5);
    }

    /** The tokens-per-patch list of a patch level, coarse to fine; [1] for unknown levels. */
    public static int[] tokensPerPatchList(int patchLevel) {
        return switch (patchLevel) {
            case 2 -> new int[]{4, 1};
            case 3 -> new int[]{16, 4, 1};
            case 4 -> new int[]{64, 16, 4, 1};
            default -> new int[]{1};
        };
    }

    /** Total epochs. */
    public int epochs() {
        return epochs;
    }

    /** The patch level this schedule was built from. */
    public int patchLevel() {
        return patchLevel;
    }

    /** The epoch rate this schedule was built from. */
    public double epochRate() {
        return epochRate;
    }

    /** Number of stages (including empty ones). */
    public int stageCount() {
        return tokensPerPatch.length;
    }

    /** Tokens per patch of each stage, coarse to fine (a copy). */
    public int[] tokensPerPatch() {
        return tokensPerPatch.clone();
    }

    /** Exclusive end epoch of each stage, ascending (a copy). */
    public int[] stageEndEpochs() {
        return stageEnds.clone();
    }

    /** First epoch of stage {@code i} (the previous stage's end, 0 for the first). */
    public int stageStartEpoch(int i) {
        return i == 0 ? 0 : stageEnds[i - 1];
    }

    /** Exclusive end epoch of stage {@code i}. */
    public int stageEndEpoch(int i) {
        return stageEnds[i];
    }

    /** The stage that epoch {@code e} belongs to: the first whose end is greater than {@code e}. */
    public int stageOf(int epoch) {
        if (epoch < 0 || epoch >= epochs) {
            throw new IllegalArgumentException("epoch " + epoch + " outside 0.." + (epochs - 1));
        }
        for (int i = 0; i < stageEnds.length; i++) {
            if (stageEnds[i] > epoch) {
                return i;
            }
        }
        throw new IllegalStateException("no stage for epoch " + epoch); // unreachable: the last end is E
    }

    /** Tokens per patch used in epoch {@code e}. */
    public int tokensPerPatchAt(int epoch) {
        return tokensPerPatch[stageOf(epoch)];
    }

    /** Patch side (square root of tokens per patch) used in epoch {@code e}. */
    public int patchSideAt(int epoch) {
        return sideOf(tokensPerPatchAt(epoch));
    }

    /** Patch side of stage {@code i}. */
    public int patchSide(int stage) {
        return sideOf(tokensPerPatch[stage]);
    }

    /** Tokens per patch of every epoch, in order. */
    public int[] tokensPerPatchByEpoch() {
        int[] out = new int[epochs];
        for (int e = 0; e < epochs; e++) {
            out[e] = tokensPerPatchAt(e);
        }
        return out;
    }

    /**
     * Checks that every patch side of this schedule divides the token grid side.
     *
     * @param gridSide G, the token grid side
     * @throws NppException naming {@code --patch-level} when a patch does not fit the grid
     */
    public void checkGrid(int gridSide) {
        for (int tpp : tokensPerPatch) {
            int p = sideOf(tpp);
            if (gridSide % p != 0) {
                throw new NppException("--patch-level " + patchLevel + " needs patch side " + p
                        + " to divide the token grid side " + gridSide);
            }
        }
    }

    /**
     * Training cost relative to plain next-token training for the same epochs, weighting each epoch
     * by its sequence length {@code (G/p)^2} (spec section 5: 0.625 for level 2, rate 0.5).
     * Attention's quadratic part makes the real saving somewhat larger; per-step overheads make it
     * smaller.
     *
     * @param gridSide G, the token grid side
     */
    public double relativeCost(int gridSide) {
        double full = (double) gridSide * gridSide;
        double cost = 0;
        for (int e = 0; e < epochs; e++) {
            int g = gridSide / patchSideAt(e);
            cost += g * (double) g / full;
        }
        return cost / epochs;
    }

    private static int sideOf(int tokensPerPatch) {
        int p = (int) Math.round(Math.sqrt(tokensPerPatch));
        if (p * p != tokensPerPatch) {
            throw new IllegalStateException("tokens per patch " + tokensPerPatch + " is not a square");
        }
        return p;
    }

    @Override
    public String toString() {
        return "StageSchedule{epochs=" + epochs + ", tokensPerPatch=" + Arrays.toString(tokensPerPatch)
                + ", stageEnds=" + Arrays.toString(stageEnds) + "}";
    }
}
