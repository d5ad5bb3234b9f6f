package org.nextpatch.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import org.junit.jupiter.api.Test;
import org.nextpatch.util.NppException;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Non-finite losses and gradients: named, blamed on the right cause, and not spread by zeroing. */
class DivergenceGuardTest {

    /** Two parameters; the second gets a NaN gradient from sqrt(-1) when {@code poison}. */
    private static Map<String, NDArray> params(NDManager m, boolean poison) {
        NDArray a = m.create(new float[]{1f, 2f});
        NDArray b = m.create(new float[]{poison ? -1f : 4f});
        a.setRequiresGradient(true);
        b.setRequiresGradient(true);
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            gc.backward(a.square().sum().add(b.sqrt().sum()));
        }
        Map<String, NDArray> p = new LinkedHashMap<>();
        p.put("layer.weight", a);
        p.put("head.bias", b);
        return p;
    }

    @Test
    void zeroingFillsSoANanGradientDoesNotSurvive() {
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> p = params(m, true);
            assertFalse(Gradients.allFinite(p.values()));
            Gradients.zero(p.values());
            assertTrue(Gradients.allFinite(p.values()));
            assertEquals(0.0, Gradients.globalNorm(p.values()));
        }
    }

    @Test
    void firstStepFailureNamesTheTensorAndDoesNotBlameTheLearningRate() {
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> p = params(m, true);
            DivergenceGuard g = new DivergenceGuard("train-vq", 0);
            NppException e = assertThrows(NppException.class,
                    () -> g.check(0, 1.5, Gradients.globalNorm(p.values()), p));
            String msg = e.getMessage();
            assertTrue(msg.contains("step 0") && msg.contains("head.bias"), msg);
            assertTrue(msg.contains("npp doctor") && !msg.contains("lower --lr"), msg);
            assertTrue(msg.contains("last checkpoint written is intact"), msg);
        }
    }

    @Test
    void risingLossBlamesTheLearningRateSteadyLossDoesNot() {
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> good = params(m, false);
            DivergenceGuard rising = new DivergenceGuard("train", 0);
            long s = 0;
            for (double loss : List.of(2.0, 1.8, 3.5, 9.0)) {
                rising.check(s++, loss, 1.0, good);
            }
            String msg = assertThrows(NppException.class, () -> rising.check(99, Double.NaN, Double.NaN, good)).getMessage();
            assertTrue(msg.contains("lower --lr") && msg.contains("step 99"), msg);

            DivergenceGuard steady = new DivergenceGuard("train", 0);
            long step = 0;
            for (double loss : List.of(2.0, 1.9, 1.85, 1.84)) {
                steady.check(step++, loss, 1.0, good);
            }
            String msg2 = assertThrows(NppException.class, () -> steady.check(4, Double.POSITIVE_INFINITY, 1.0, good)).getMessage();
            assertTrue(!msg2.contains("lower --lr") && msg2.contains("npp doctor"), msg2);
        }
    }
}
