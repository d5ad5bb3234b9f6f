package org.nextpatch.model;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;

import java.util.concurrent.locks.ReentrantLock;

/**
 * Autograd when several threads of one JVM use the engine. Three things in DJL 0.33's PyTorch engine
 * are not per thread, or not where a caller expects:
 * <ul>
 * <li>{@code PtGradientCollector} keeps a static flag: one collector per process at a time; a second,
 * on any thread, throws "A PtGradientCollector is already collecting".</li>
 * <li>libtorch's grad mode is per thread and on in every new thread; DJL turns it off only on the
 * thread that created the engine. On any other thread an optimizer's in-place update of a parameter
 * fails ("a leaf Variable that requires grad is being used in an in-place operation"), and inference
 * records graphs (and takes {@link Convolutions}' gradient path).</li>
 * <li>torch's default generator (dropout, class dropout) is one per process: a run that seeds it and
 * then draws from it must not interleave with another.</li>
 * </ul>
 * Hence {@link #noGrad()} turns grad mode off on the calling thread for a block (inference, optimizer
 * updates, a whole training run), and {@link #recording()} holds the process-wide lock under which a
 * thread seeds the generator, runs the forward passes that draw from it and records and
 * back-propagates gradients. Nothing else waits for it: inference, optimizer steps, checkpoints and
 * data loading of other threads run in parallel.
 */
public final class Autograd {
    static {
        EngineThreads.apply(); // before this class can start the DJL engine
    }

    /** Fair, so that concurrent trainings take turns step by step. */
    private static final ReentrantLock RECORDING = new ReentrantLock(true);

    private Autograd() {}

    /** A block that restores what it changed when closed. */
    public interface Scope extends AutoCloseable {
        @Override
        void close();
    }

    /** Grad mode off on the calling thread until the scope closes (then as it was). */
    public static Scope noGrad() {
        Engine.getEngine("PyTorch"); // loads the native library before JniUtils is called
        boolean before = JniUtils.isGradMode();
        if (before) {
            JniUtils.setGradMode(false);
        }
        return () -> JniUtils.setGradMode(before);
    }

    /**
     * The process-wide gradient-recording lock, held until the scope closes: the only time a
     * {@code GradientCollector} may be open and torch's generator seeded and drawn from. Re-entrant.
     */
    public static Scope recording() {
        RECORDING.lock();
        return RECORDING::unlock;
    }
}
