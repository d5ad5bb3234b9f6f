package org.nextpatch.model;

import org.nextpatch.util.Threads;

/**
 * Hands the project's thread setting ({@link Threads}) to libtorch before the DJL engine starts: DJL's
 * PyTorch engine reads {@value #DJL_PROPERTY} once, when it is created. A value the user set
 * ({@value #DJL_PROPERTY} or {@code OMP_NUM_THREADS}) is left alone. Every class that can be the
 * first to touch the engine calls {@link #apply()} in its static initialiser.
 */
public final class EngineThreads {
    /** DJL's system property for libtorch's intra-op threads. */
    public static final String DJL_PROPERTY = "ai.djl.pytorch.num_threads";

    private EngineThreads() {}

    /** Sets {@value #DJL_PROPERTY} from {@link Threads#intraOp()} unless the user chose a value. */
    public static synchronized void apply() {
        if (System.getProperty(DJL_PROPERTY) != null || System.getenv("OMP_NUM_THREADS") != null) {
            return;
        }
        System.setProperty(DJL_PROPERTY, Integer.toString(Threads.intraOp()));
    }
}
