package org.nextpatch.train;

import ai.djl.ndarray.NDArray;
import org.nextpatch.util.NppException;

import java.util.Locale;
import java.util.Map;

/**
 * Stops a training run at the first non-finite loss or gradient, before the optimizer applies it (so
 * the weights and the last checkpoint stay good), with a message that names the step, the first
 * parameter whose gradient is not finite, and the likelier cause. The learning rate is blamed only
 * when the numbers point at it: the loss had been rising, or the gradient norm had grown large.
 */
public final class DivergenceGuard {
    private final String command;
    private final long firstStep;
    private double minLoss = Double.POSITIVE_INFINITY;
    private double lastLoss = Double.NaN;
    private double minNorm = Double.POSITIVE_INFINITY;
    private double lastNorm = Double.NaN;

    /**
     * @param command   the command, for messages ("train", "train-vq")
     * @param firstStep the step this run starts at (0, or the resumed step)
     */
    public DivergenceGuard(String command, long firstStep) {
        this.command = command;
        this.firstStep = firstStep;
    }

    /**
     * Checks one step's loss and global gradient norm ({@link Gradients#globalNorm}) before the
     * optimizer step; throws an {@link NppException} describing the failure when either is not finite.
     */
    public void check(long step, double loss, double gradNorm, Map<String, NDArray> params) {
        if (Double.isFinite(loss) && Double.isFinite(gradNorm)) {
            minLoss = Math.min(minLoss, loss);
            lastLoss = loss;
            minNorm = Math.min(minNorm, gradNorm);
            lastNorm = gradNorm;
            return;
        }
        throw new NppException(message(step, loss, gradNorm, firstNonFiniteGradient(params)));
    }

    String message(long step, double loss, double gradNorm, String badTensor) {
        StringBuilder m = new StringBuilder(command).append(": ");
        if (Double.isFinite(loss)) {
            m.append(String.format(Locale.ROOT, "the gradient became non-finite at step %d (loss %.4g)", step, loss));
        } else {
            m.append("the loss became ").append(loss).append(" at step ").append(step);
        }
        if (badTensor != null) {
            m.append("; first non-finite gradient: ").append(badTensor);
        }
        m.append("; ");
        boolean lossRising = Double.isFinite(lastLoss) && lastLoss > 1.5 * minLoss + 1e-3;
        boolean normExploding = Double.isFinite(lastNorm) && lastNorm > 100 * minNorm;
        if (step == firstStep) {
            m.append("this is the run's first step, before any update, so the learning rate is not the cause: "
                    + "the engine's numerics (run 'npp doctor') or the input data are");
        } else if (lossRising || normExploding) {
            m.append(String.format(Locale.ROOT, "the loss had risen from %.4g to %.4g and the gradient norm from %.3g to %.3g: "
                    + "the learning rate is likely too high (lower --lr)", minLoss, lastLoss, minNorm, lastNorm));
        } else if (Double.isFinite(loss)) {
            m.append("a finite loss with a non-finite gradient points at the engine's numerics (run 'npp doctor'), "
                    + "not at the learning rate");
        } else {
            m.append(String.format(Locale.ROOT, "the loss was steady until then (last %.4g, lowest %.4g): "
                    + "a numerical fault (run 'npp doctor') or bad input data is likelier than the learning rate",
                    lastLoss, minLoss));
        }
        return m.append("; the last checkpoint written is intact").toString();
    }

    /** The name of the first parameter whose gradient holds NaN or infinity, or null. */
    static String firstNonFiniteGradient(Map<String, NDArray> params) {
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            try (NDArray g = e.getValue().getGradient(); NDArray nan = g.isNaN(); NDArray inf = g.isInfinite();
                 NDArray bad = nan.logicalOr(inf); NDArray any = bad.any()) {
                if (any.getBoolean()) {
                    return e.getKey();
                }
            }
        }
        return null;
    }
}
