package org.nextpatch.model;

import ai.djl.ndarray.NDArray;

/** Pre-norm transformer block: {@code h = x + Attn(norm(x))}, {@code out = h + FFN(norm(h))}. */
public final class Block {
    private final RmsNorm attentionNorm;
    private final Attention attention;
    private final RmsNorm ffnNorm;
    private final FeedForward feedForward;
    private final int index;

    Block(int index, RmsNorm attentionNorm, Attention attention, RmsNorm ffnNorm, FeedForward feedForward) {
        this.index = index;
        this.attentionNorm = attentionNorm;
        this.attention = attention;
        this.ffnNorm = ffnNorm;
        this.feedForward = feedForward;
    }

    NDArray forward(NDArray x, RopeTable rope, int start, NDArray mask, KvCache cache, boolean training) {
        NDArray h = x.add(attention.forward(attentionNorm.forward(x), rope, start, mask, cache, index, training));
        return h.add(feedForward.forward(ffnNorm.forward(h), training));
    }
}
