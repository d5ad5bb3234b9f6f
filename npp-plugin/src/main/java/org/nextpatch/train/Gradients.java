package org.nextpatch.train;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;

import java.util.Collection;

/**
 * Gradient bookkeeping DJL leaves to the caller: the global L2 norm, clipping to a maximum norm the
 * way {@code torch.nn.utils.clip_grad_norm_} does, and zeroing between optimizer steps. Every
 * {@code getGradient()} handle taken here is closed here (each call makes a new one).
 */
public final class Gradients {
    private Gradients() {}

    /** The L2 norm of all gradients together (one host sync). */
    public static double globalNorm(Collection<NDArray> params) {
        NDArray total = null;
        for (NDArray p : params) {
            try (NDArray g = p.getGradient(); NDArray sq = g.square(); NDArray s = sq.sum()) {
                if (total == null) {
                    total = s.duplicate();
                } else {
                    total.addi(s.toDevice(total.getDevice(), false));
                }
            }
        }
        if (total == null) {
            return 0;
        }
        try (NDArray t = total) {
            return Math.sqrt(t.getFloat());
        }
    }

    /**
     * Scales every gradient by {@code min(1, maxNorm / (norm + 1e-6))}, as torch's
     * {@code clip_grad_norm_}, and returns the norm before clipping. {@code maxNorm <= 0} only measures.
     */
    public static double clipGlobalNorm(Collection<NDArray> params, double maxNorm) {
        double norm = globalNorm(params);
        if (maxNorm > 0) {
            double coef = maxNorm / (norm + 1e-6);
            if (coef < 1) {
                scale(params, (float) coef);
            }
        }
        return norm;
    }

    /** Multiplies every gradient in place. */
    public static void scale(Collection<NDArray> params, float factor) {
        for (NDArray p : params) {
            try (NDArray g = p.getGradient()) {
                g.muli(factor);
            }
        }
    }

    /**
     * Sets every gradient to zero (they accumulate over backward passes until then) by filling, not
     * by multiplying: 0 x NaN is NaN, so one bad gradient would otherwise poison the rest of a run.
     */
    public static void zero(Collection<NDArray> params) {
        for (NDArray p : params) {
            JniUtils.zeroGrad((PtNDArray) p);
        }
    }

    /** Whether every gradient is finite (one host sync per parameter; for diagnostics). */
    public static boolean allFinite(Collection<NDArray> params) {
        return Double.isFinite(globalNorm(params));
    }
}
