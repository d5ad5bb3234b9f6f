package org.nextpatch.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Keys and values of every layer for incremental decoding: preallocated {@code [rows, H, maxLen, hd]}
 * arrays written in place, so a decode step costs no copy of the history.
 */
public final class KvCache implements AutoCloseable {
    private final NDManager manager;
    private final NDArray[] keys;
    private final NDArray[] values;
    private final int maxLen;

    KvCache(NDManager parent, int layers, long rows, int heads, int maxLen, int headDim, DataType dtype) {
        this.manager = parent.newSubManager();
        this.maxLen = maxLen;
        this.keys = new NDArray[layers];
        this.values = new NDArray[layers];
        Shape shape = new Shape(rows, heads, maxLen, headDim);
        for (int i = 0; i < layers; i++) {
            keys[i] = manager.zeros(shape, dtype);
            values[i] = manager.zeros(shape, dtype);
        }
    }

    /** Capacity in positions. */
    public int maxLen() {
        return maxLen;
    }

    /**
     * Writes {@code k, v [rows, H, n, hd]} at positions {@code start .. start+n-1} of a layer and
     * returns the keys and values of positions {@code 0 .. start+n-1}, owned by {@code k}'s manager.
     */
    NDArray[] update(int layer, int start, NDArray k, NDArray v) {
        long n = k.getShape().get(2);
        if (start + n > maxLen) {
            throw new IllegalArgumentException("KV cache of " + maxLen + " positions is full");
        }
        NDIndex at = new NDIndex().addAllDim().addAllDim().addSliceDim(start, start + n);
        keys[layer].set(at, k);
        values[layer].set(at, v);
        NDIndex upTo = new NDIndex().addAllDim().addAllDim().addSliceDim(0, start + n);
        NDArray ks = keys[layer].get(upTo);
        NDArray vs = values[layer].get(upTo);
        // The slices would join the cache's scope (their first operand); hand them to the step's scope.
        ks.attach(k.getManager());
        vs.attach(k.getManager());
        return new NDArray[]{ks, vs};
    }

    @Override
    public void close() {
        manager.close();
    }
}
