package org.nextpatch.spark;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * Splits the indices {@code [0, n)} of a job into contiguous ranges whose boundaries are multiples
 * of the batch size. Every partition then runs exactly the batches the plain command runs, so a
 * model sees the same inputs in the same groups and the results are bit for bit the same.
 */
public final class Partitions {
    private Partitions() {}

    /** One partition: its number and the indices {@code [from, to)}. */
    public record Range(int partition, int from, int to) implements Serializable {
        /** Number of indices. */
        public int size() {
            return to - from;
        }
    }

    /**
     * At most {@code partitions} non-empty ranges covering {@code [0, n)}, each a whole number of
     * batches (the last may end with a short batch), sizes differing by at most one batch.
     */
    public static List<Range> split(int n, int batchSize, int partitions) {
        if (batchSize < 1 || partitions < 1) {
            throw new IllegalArgumentException("batch size and partitions must be positive");
        }
        int batches = (n + batchSize - 1) / batchSize;
        int p = Math.max(1, Math.min(partitions, batches));
        List<Range> out = new ArrayList<>();
        for (int k = 0; k < p && batches > 0; k++) {
            int b0 = (int) ((long) batches * k / p);
            int b1 = (int) ((long) batches * (k + 1) / p);
            out.add(new Range(k, b0 * batchSize, Math.min(n, b1 * batchSize)));
        }
        return out;
    }
}
