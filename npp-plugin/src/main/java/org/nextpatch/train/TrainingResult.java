package org.nextpatch.train;

import org.nextpatch.config.GptConfig;
import org.nextpatch.tensor.Tensor;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;

/**
 * What a training run produced.
 *
 * @param config         the model configuration that was trained (dropouts as trained)
 * @param weights        final weights as an upstream state dict (host copies)
 * @param emaWeights     EMA weights, or null without {@code --ema}
 * @param steps          per-step metrics of the whole run (earlier ones read back when resumed)
 * @param epochs         per-epoch metrics of this invocation
 * @param lastCheckpoint the final checkpoint file
 * @param stepsDone      optimizer steps completed in total
 * @param seconds        wall time of this invocation
 */
public record TrainingResult(GptConfig config, LinkedHashMap<String, Tensor> weights,
                             LinkedHashMap<String, Tensor> emaWeights, List<TrainingListener.StepMetrics> steps,
                             List<TrainingListener.EpochMetrics> epochs, Path lastCheckpoint, long stepsDone,
                             double seconds) {

    /** The last held-out loss, NaN when there is none. */
    public double finalHeldOutLoss() {
        for (int i = epochs.size() - 1; i >= 0; i--) {
            if (!Double.isNaN(epochs.get(i).heldOutLoss())) {
                return epochs.get(i).heldOutLoss();
            }
        }
        return Double.NaN;
    }
}
