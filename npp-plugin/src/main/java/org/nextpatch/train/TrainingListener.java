package org.nextpatch.train;

import java.nio.file.Path;

/**
 * Callbacks of a training run (all optional). The Tribuo trainer, the demo and tests use them to
 * watch a run without parsing logs. Called on the training thread.
 */
public interface TrainingListener {

    /** After every optimizer step. */
    default void onStep(StepMetrics m) {}

    /** After every epoch (with the held-out loss when there is a held-out split). */
    default void onEpoch(EpochMetrics m) {}

    /** After a checkpoint was written. */
    default void onCheckpoint(Path file, long step) {}

    /**
     * One optimizer step.
     *
     * @param step          0-based global optimizer step
     * @param epoch         0-based epoch
     * @param patchSide     patch side p of the step's stage
     * @param loss          mean training loss over the step's micro-batches (with dropouts)
     * @param lr            learning rate used
     * @param gradNorm      global gradient norm before clipping
     * @param seconds       wall time of the step
     * @param tokensPerSec  image tokens per second of the step
     */
    record StepMetrics(long step, int epoch, int patchSide, double loss, double lr, double gradNorm,
                       double seconds, double tokensPerSec) {}

    /**
     * One epoch.
     *
     * @param epoch       0-based epoch
     * @param lastStep    global step of the epoch's last optimizer step
     * @param patchSide   patch side of the epoch
     * @param trainLoss   mean training loss over the epoch's steps
     * @param heldOutLoss next-token (p = 1) loss on the held-out images without dropout; NaN if none
     * @param seconds     wall time of the epoch (training and held-out evaluation)
     */
    record EpochMetrics(int epoch, long lastStep, int patchSide, double trainLoss, double heldOutLoss, double seconds) {}
}
