package org.nextpatch.spark;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The split of a job into batch-aligned partitions (no Spark needed). */
class PartitionsTest {

    @Test
    void rangesCoverEverythingOnBatchBoundaries() {
        for (int n : new int[]{1, 7, 36, 100, 1001}) {
            for (int bs : new int[]{1, 4, 32}) {
                for (int p : new int[]{1, 2, 3, 8, 64}) {
                    List<Partitions.Range> r = Partitions.split(n, bs, p);
                    int batches = (n + bs - 1) / bs;
                    assertEquals(Math.min(p, batches), r.size(), n + "/" + bs + "/" + p);
                    int next = 0;
                    int min = Integer.MAX_VALUE;
                    int max = 0;
                    for (int k = 0; k < r.size(); k++) {
                        Partitions.Range x = r.get(k);
                        assertEquals(k, x.partition());
                        assertEquals(next, x.from(), "contiguous");
                        assertTrue(x.size() > 0, "non-empty");
                        assertEquals(0, x.from() % bs, "starts on a batch boundary");
                        int b = (x.size() + bs - 1) / bs;
                        min = Math.min(min, b);
                        max = Math.max(max, b);
                        next = x.to();
                    }
                    assertEquals(n, next, "covers [0, n)");
                    assertTrue(max - min <= 1, "balanced to one batch");
                }
            }
        }
        assertEquals(List.of(), Partitions.split(0, 4, 3));
        assertThrows(IllegalArgumentException.class, () -> Partitions.split(10, 0, 3));
    }
}
