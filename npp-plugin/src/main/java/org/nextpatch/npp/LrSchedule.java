package org.nextpatch.npp;

import org.nextpatch.util.NppException;

/**
 * The learning rate of every optimizer step (spec section 5).
 * <p>
 * With {@code --scheduler}: one cycle per stage of the {@link StageSchedule}, restarting at every
 * stage boundary. Within a stage of {@code N} steps, step {@code s} (from 0) gets
 * <ul>
 *   <li>{@code lr * s / W} while {@code s < W}, where {@code W = warmup_epochs * steps_per_epoch}
 *       (so step 0 of every stage trains at rate 0);</li>
 *   <li>{@code lr} until the last {@code D = decay_ratio * N} steps (D is not rounded);</li>
 *   <li>then a linear decay {@code lr - (lr - end_lr) * (s - (N - D)) / D}, which stops short of
 *       {@code end_lr} because the stage ends first.</li>
 * </ul>
 * Without {@code --scheduler} every step uses {@code lr} (as in LlamaGen).
 */
public final class LrSchedule {
    private final StageSchedule stages;
    private final int stepsPerEpoch;
    private final boolean enabled;
    private final double warmupEpochs;
    private final double decayRatio;
    private final double lr;
    private final double endLr;

    /**
     * @param stages        the stage schedule
     * @param stepsPerEpoch optimizer steps per epoch
     * @param enabled       {@code --scheduler}; false gives a constant rate
     * @param warmupEpochs  {@code --warmup-epochs}
     * @param decayRatio    {@code --decay-ratio}, fraction of a stage's steps spent decaying
     * @param lr            peak rate {@code --lr}
     * @param endLr         {@code --end-lr}, where the decay would end
     */
    public LrSchedule(StageSchedule stages, int stepsPerEpoch, boolean enabled, double warmupEpochs,
                      double decayRatio, double lr, double endLr) {
        if (stepsPerEpoch <= 0) {
            throw new NppException("an epoch must have at least one optimizer step (is the global batch larger than the data?)");
        }
        if (warmupEpochs < 0) {
            throw new org.nextpatch.util.BadValueException("--warmup-epochs must be >= 0, got " + warmupEpochs);
        }
        if (!(decayRatio >= 0 && decayRatio <= 1)) {
            throw new org.nextpatch.util.BadValueException("--decay-ratio must be in [0, 1], got " + decayRatio);
        }
        this.stages = stages;
        this.stepsPerEpoch = stepsPerEpoch;
        this.enabled = enabled;
        this.warmupEpochs = warmupEpochs;
        this.decayRatio = decayRatio;
        this.lr = lr;
        this.endLr = endLr;
    }

    /** A constant rate (no {@code --scheduler}). */
    public static LrSchedule constant(StageSchedule stages, int stepsPerEpoch, double lr) {
        return new LrSchedule(stages, stepsPerEpoch, false, 0, 0, lr, lr);
    }

    /** Optimizer steps per epoch. */
    public int stepsPerEpoch() {
        return stepsPerEpoch;
    }

    /** Total optimizer steps of the run. */
    public long totalSteps() {
        return (long) stepsPerEpoch * stages.epochs();
    }

    /** The rate of global optimizer step {@code step} (0-based, counted over the whole run). */
    public double lr(long step) {
        if (!enabled) {
            return lr;
        }
        int epoch = (int) Math.min(step / stepsPerEpoch, stages.epochs() - 1L);
        int stage = stages.stageOf(epoch);
        long start = (long) stages.stageStartEpoch(stage) * stepsPerEpoch;
        long n = (long) (stages.stageEndEpoch(stage) - stages.stageStartEpoch(stage)) * stepsPerEpoch;
        return inStage(step - start, n);
    }

    /** The rate of step {@code s} of a stage with {@code n} steps. */
    double inStage(long s, long n) {
        double w = warmupEpochs * stepsPerEpoch;
        double d = decayRatio * n;
        if (s < w) {
            return lr * s / w;
        }
        double decayStart = n - d;
        if (s < decayStart) {
            return lr;
        }
        return lr - (lr - endLr) * (s - decayStart) / d;
    }
}
