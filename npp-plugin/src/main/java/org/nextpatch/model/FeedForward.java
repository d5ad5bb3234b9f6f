package org.nextpatch.model;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;

/** SwiGLU feed-forward {@code w2(silu(w1 x) * w3 x)} with output dropout (spec 6.2). No biases. */
public final class FeedForward {
    private final NDArray w1;
    private final NDArray w2;
    private final NDArray w3;
    private final float dropout;

    FeedForward(NDArray w1, NDArray w2, NDArray w3, double dropout) {
        this.w1 = w1;
        this.w2 = w2;
        this.w3 = w3;
        this.dropout = (float) dropout;
    }

    NDArray forward(NDArray x, boolean training) {
        NDArray a = Linear.linear(x, w1).singletonOrThrow();
        NDArray gate = a.mul(Activation.sigmoid(a)); // silu
        NDArray h = gate.mul(Linear.linear(x, w3).singletonOrThrow());
        NDArray out = Linear.linear(h, w2).singletonOrThrow();
        if (training && dropout > 0) {
            out = Dropout.dropout(out, dropout, true).singletonOrThrow();
        }
        return out;
    }
}
