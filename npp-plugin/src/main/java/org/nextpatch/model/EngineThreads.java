package org.nextpatch.model;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.util.Threads;

import java.util.Optional;

/**
 * Hands the project's thread setting ({@link Threads}) to libtorch before the DJL engine starts: DJL's
 * PyTorch engine reads {@value #DJL_PROPERTY} once, when it is created. A value the user set
 * ({@value #DJL_PROPERTY} or {@code OMP_NUM_THREADS}) is left alone. Every class that can be the
 * first to touch the engine calls {@link #apply()} in its static initialiser.
 * <p>
 * Results on CPU are bit-identical only at the same count, so whatever compares a run with a recorded
 * one (a model's provenance, a checkpoint) says when the counts differ: {@link #mismatch}.
 */
public final class EngineThreads {
    /** DJL's system property for libtorch's intra-op threads. */
    public static final String DJL_PROPERTY = "ai.djl.pytorch.num_threads";

    private static final Logger LOG = LogManager.getLogger(EngineThreads.class);

    private EngineThreads() {}

    /** Sets {@value #DJL_PROPERTY} from {@link Threads#intraOp()} unless the user chose a value. */
    public static synchronized void apply() {
        if (System.getProperty(DJL_PROPERTY) != null || System.getenv("OMP_NUM_THREADS") != null) {
            return;
        }
        System.setProperty(DJL_PROPERTY, Integer.toString(Threads.intraOp()));
    }

    /** libtorch's intra-op thread count in this process (starts the engine if it has not started). */
    public static int current() {
        apply();
        Engine.getEngine("PyTorch"); // loads the native library before JniUtils is called
        return JniUtils.getNumThreads();
    }

    /**
     * A note, also logged as a warning, when this process runs libtorch at another thread count than
     * a recorded result was made with: retraining or resuming here then gives other numbers.
     *
     * @param recorded the recorded count (0 or less: not recorded, no note)
     * @param what     what was recorded, for the message (e.g. "model m.tribuo was trained")
     * @return the note, or empty when the counts agree or nothing was recorded
     */
    public static Optional<String> mismatch(long recorded, String what) {
        if (recorded <= 0) {
            return Optional.empty();
        }
        int now = current();
        if (recorded == now) {
            return Optional.empty();
        }
        String note = what + " with " + recorded + " intra-op thread(s), this process uses " + now
                + ": results are bit-identical only at the same count (set NPP_THREADS=" + recorded + " to reproduce them)";
        LOG.warn(note);
        return Optional.of(note);
    }
}
