package org.nextpatch.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** What {@link Autograd} works around in DJL 0.33's PyTorch engine, and that it does. */
class AutogradTest {

    /** libtorch's grad mode is per thread and on in a new thread; noGrad turns it off there and restores it. */
    @Test
    void gradModeIsPerThreadAndNoGradRestoresIt() throws Exception {
        Engine.getEngine("PyTorch");
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            List<Boolean> seen = pool.submit(() -> {
                List<Boolean> s = new ArrayList<>();
                s.add(JniUtils.isGradMode());
                try (Autograd.Scope off = Autograd.noGrad()) {
                    s.add(JniUtils.isGradMode());
                }
                s.add(JniUtils.isGradMode());
                return s;
            }).get(1, TimeUnit.MINUTES);
            assertEquals(List.of(true, false, true), seen, "grad mode in a new thread: at first, in noGrad, after");
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * Two threads recording gradients 20 times each: DJL allows one collector per process, so without
     * the recording lock the second throws "A PtGradientCollector is already collecting".
     */
    @Test
    void recordingLetsThreadsTakeTurnsWithTheCollector() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            CyclicBarrier start = new CyclicBarrier(2);
            List<Future<Float>> runs = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                float factor = r + 2;
                runs.add(pool.submit(() -> {
                    start.await();
                    try (Autograd.Scope off = Autograd.noGrad(); NDManager m = NDManager.newBaseManager()) {
                        NDArray x = m.create(new float[]{1, 2, 3});
                        x.setRequiresGradient(true);
                        NDArray f = m.create(factor);
                        for (int i = 0; i < 20; i++) {
                            try (Autograd.Scope rec = Autograd.recording();
                                 GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                                gc.backward(x.mul(x).mul(f).sum());
                            }
                            assertFalse(JniUtils.isGradMode(), "grad mode is off again after the collector");
                        }
                        // 20 accumulated gradients of factor * x^2: 20 * 2 * factor * x
                        return x.getGradient().toFloatArray()[2];
                    }
                }));
            }
            assertEquals(20 * 2 * 2 * 3f, runs.get(0).get(1, TimeUnit.MINUTES));
            assertEquals(20 * 2 * 3 * 3f, runs.get(1).get(1, TimeUnit.MINUTES));
        } finally {
            pool.shutdownNow();
        }
    }
}
