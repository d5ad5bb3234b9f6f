package org.nextpatch.spark;

import org.apache.spark.TaskContext;

/**
 * A test-only hook: with the system property {@value #PROPERTY} set to a partition number, the
 * first attempt of that partition fails after its first batch has been written, so tests can check
 * that Spark's retry completes the output without half-written or duplicate files. Read in the
 * task's JVM, so it acts in local mode (where the tests run); nothing sets it outside tests.
 */
public final class FaultInjection {
    /** The system property naming the partition whose first attempt fails. */
    public static final String PROPERTY = "npp.spark.test.failPartition";

    private static final java.util.concurrent.atomic.AtomicInteger INJECTED = new java.util.concurrent.atomic.AtomicInteger();

    private FaultInjection() {}

    /** Failures injected in this JVM so far (tests check that the retry really happened). */
    public static int injected() {
        return INJECTED.get();
    }

    /** Throws in the first attempt of the chosen partition. */
    static void maybeFail(int partition) {
        String v = System.getProperty(PROPERTY);
        TaskContext tc = TaskContext.get();
        if (v != null && tc != null && tc.attemptNumber() == 0 && Integer.parseInt(v.trim()) == partition) {
            INJECTED.incrementAndGet();
            throw new IllegalStateException("injected failure in the first attempt of partition " + partition
                    + " (" + PROPERTY + ")");
        }
    }
}
