package org.nextpatch.model;

import ai.djl.ndarray.NDArray;

/**
 * RMSNorm (spec 6.2): {@code x * (mean(x^2) + eps)^(-1/2) * gain}, over the last axis, in float32.
 * The gain is a parameter named {@code <prefix>.weight}.
 */
public final class RmsNorm {
    private final NDArray weight;
    private final NDArray eps;
    private final NDArray minusHalf;

    /**
     * @param eps       epsilon as a 0-d array owned by the model
     * @param minusHalf the exponent -0.5 as a 0-d array owned by the model (DJL frees a Number operand
     *                  right after the op, but autograd still needs it in backward)
     */
    RmsNorm(NDArray weight, NDArray eps, NDArray minusHalf) {
        this.weight = weight;
        this.eps = eps;
        this.minusHalf = minusHalf;
    }

    /** Normalises {@code x [..., d]} (float32). */
    public NDArray forward(NDArray x) {
        // rsqrt is missing in DJL: pow(-0.5) is the same function.
        NDArray inv = x.square().mean(new int[]{-1}, true).add(eps).pow(minusHalf);
        return x.mul(inv).mul(weight);
    }
}
