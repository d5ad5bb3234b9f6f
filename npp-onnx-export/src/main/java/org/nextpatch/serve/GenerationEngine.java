package org.nextpatch.serve;

import org.nextpatch.sample.SamplingSettings;

import java.util.List;

/**
 * What the server runs: one batch of token rows, and PNGs for token rows. Called from the batcher's
 * single worker thread only. {@link OnnxEngine} is the ONNX Runtime implementation.
 */
public interface GenerationEngine extends AutoCloseable {

    /**
     * Tokens for a batch.
     *
     * @param classes  class of each row
     * @param uniforms row-major [N, T]: row i's random numbers
     * @param settings one set of sampling settings for the whole batch
     * @return tokens [N, T]
     */
    long[][] tokens(long[] classes, float[] uniforms, SamplingSettings settings);

    /** PNG files of decoded token rows, in order (only when the model has a decoder). */
    List<byte[]> pngs(long[][] tokens);

    @Override
    void close();
}
