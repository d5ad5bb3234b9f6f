package org.nextpatch.train;

import org.nextpatch.data.CodeSampler;
import org.nextpatch.util.NppException;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Reads the global batch of an optimizer step (tokens and labels of every row, in order) on one
 * background thread, so that file reads overlap the previous step's computation. Which images and
 * augmentations a step reads depends only on (seed, step) through {@link CodeSampler}.
 */
final class BatchLoader implements AutoCloseable {
    /**
     * One step's rows.
     *
     * @param images the image index of each row
     * @param tokens row-major {@code [B * T]}
     * @param labels {@code [B]}
     */
    record Batch(int[] images, long[] tokens, long[] labels) {}

    private final CodeSampler sampler;
    private final int stepsPerEpoch;
    private final int batch;
    private final int tokens;
    private final ExecutorService pool = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "npp-batch-loader");
        t.setDaemon(true);
        return t;
    });
    private int orderEpoch = -1;
    private int[] order;

    BatchLoader(CodeSampler sampler, int stepsPerEpoch, int batch, int tokens) {
        this.sampler = sampler;
        this.stepsPerEpoch = stepsPerEpoch;
        this.batch = batch;
        this.tokens = tokens;
    }

    /** Starts reading the batch of global optimizer step {@code step}. */
    Future<Batch> submit(long step) {
        return pool.submit(() -> read(step));
    }

    /** The batch of a submitted read; the reader's failure is rethrown as it was (NppException) where possible. */
    static Batch await(Future<Batch> f) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new NppException("training interrupted while reading data", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new NppException("cannot read training data: " + e.getCause(), e.getCause());
        }
    }

    private Batch read(long step) {
        int epoch = (int) (step / stepsPerEpoch);
        int inEpoch = (int) (step % stepsPerEpoch);
        if (epoch != orderEpoch) { // only the loader thread touches the order
            order = sampler.epochOrder(epoch);
            orderEpoch = epoch;
        }
        int[] images = new int[batch];
        long[] tok = new long[batch * tokens];
        long[] lab = new long[batch];
        for (int j = 0; j < batch; j++) {
            int pos = inEpoch * batch + j;
            images[j] = order[pos];
            lab[j] = sampler.draw(epoch, pos, order[pos], tok, j * tokens);
        }
        return new Batch(images, tok, lab);
    }

    @Override
    public void close() {
        pool.shutdownNow();
    }
}
