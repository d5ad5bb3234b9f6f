package org.nextpatch.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;

/**
 * Causal multi-head self-attention with a fused {@code wqkv} projection split as [q | k | v], 2-D
 * RoPE on q and k, scale {@code 1/sqrt(hd)} and an output projection {@code wo} (spec 6.2). No biases.
 */
public final class Attention {
    private final NDArray wqkv;
    private final NDArray wo;
    private final int dim;
    private final int heads;
    private final int headDim;
    private final float attnDropout;
    private final float residDropout;

    private final NDArray scale;

    /** @param scale {@code 1/sqrt(hd)} as a 0-d array owned by the model (kept alive for backward) */
    Attention(NDArray wqkv, NDArray wo, int dim, int heads, double attnDropout, double residDropout, NDArray scale) {
        this.scale = scale;
        this.wqkv = wqkv;
        this.wo = wo;
        this.dim = dim;
        this.heads = heads;
        this.headDim = dim / heads;
        this.attnDropout = (float) attnDropout;
        this.residDropout = (float) residDropout;
    }

    /**
     * @param x        {@code [B, S, d]}, positions {@code start .. start+S-1}
     * @param rope     the stage's rotary table
     * @param mask     additive {@code [S, start+S]} causal mask, or null when every visible key is allowed
     * @param cache    key/value cache (null in training / teacher forcing)
     * @param layer    this block's index in the cache
     * @param training apply dropouts
     */
    NDArray forward(NDArray x, RopeTable rope, int start, NDArray mask, KvCache cache, int layer, boolean training) {
        Shape s = x.getShape();
        long b = s.get(0);
        long n = s.get(1);
        NDArray qkv = Linear.linear(x, wqkv).singletonOrThrow();
        NDList parts = qkv.split(new long[]{2L * dim}, 2);
        // q and k rotate with the same table: one rotation over their 2H heads, then split.
        NDList qk = rope.apply(parts.get(0).reshape(b, n, 2L * heads, headDim), start).split(2, 2);
        NDArray q = qk.get(0).transpose(0, 2, 1, 3);
        NDArray k = qk.get(1).transpose(0, 2, 1, 3);
        NDArray v = parts.get(1).reshape(b, n, heads, headDim).transpose(0, 2, 1, 3);
        if (cache != null) {
            NDArray[] kv = cache.update(layer, start, k, v);
            k = kv[0];
            v = kv[1];
        }
        NDArray scores = q.matMul(k.transpose(0, 1, 3, 2)).mul(scale);
        if (mask != null) {
            scores = scores.add(mask);
        }
        NDArray att = scores.softmax(-1);
        if (training && attnDropout > 0) {
            att = Dropout.dropout(att, attnDropout, true).singletonOrThrow();
        }
        NDArray out = att.matMul(v).transpose(0, 2, 1, 3).reshape(b, n, dim);
        out = Linear.linear(out, wo).singletonOrThrow();
        if (training && residDropout > 0) {
            out = Dropout.dropout(out, residDropout, true).singletonOrThrow();
        }
        return out;
    }
}
