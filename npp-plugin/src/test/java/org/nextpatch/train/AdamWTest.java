package org.nextpatch.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import org.junit.jupiter.api.Test;
import org.nextpatch.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * AdamW (torch.optim.AdamW semantics, decay on 2-D+ parameters only) and torch-style global-norm
 * clipping, against an independent double-precision implementation of the same update rules on a
 * small problem with analytic gradients: loss = sum(a * w^2) / 2 + sum(c * b), so dL/dw = a * w and
 * dL/db = c.
 */
class AdamWTest {
    private static final double LR = 0.05;
    private static final double B1 = 0.9;
    private static final double B2 = 0.95;
    private static final double EPS = 1e-8;
    private static final double WD = 0.1;

    @Test
    void matchesReferenceWithClippingAndStateRoundTrip() {
        float[] w0 = {0.5f, -1.0f, 2.0f, 0.25f, -0.75f, 1.5f};
        float[] a = {1f, 2f, 3f, 4f, 5f, 6f};
        float[] b0 = {0.1f, -0.2f, 0.3f};
        float[] c = {3f, -4f, 12f};
        double maxNorm = 5.0;
        // reference in double
        double[] w = toD(w0), b = toD(b0);
        double[] mw = new double[6], vw = new double[6], mb = new double[3], vb = new double[3];
        double[] refNorms = new double[4];
        for (int t = 1; t <= 4; t++) {
            double[] gw = new double[6];
            double[] gb = new double[3];
            double sq = 0;
            for (int i = 0; i < 6; i++) { gw[i] = a[i] * w[i]; sq += gw[i] * gw[i]; }
            for (int i = 0; i < 3; i++) { gb[i] = c[i]; sq += gb[i] * gb[i]; }
            double norm = Math.sqrt(sq);
            refNorms[t - 1] = norm;
            double coef = Math.min(1, maxNorm / (norm + 1e-6));
            for (int i = 0; i < 6; i++) { gw[i] *= coef; }
            for (int i = 0; i < 3; i++) { gb[i] *= coef; }
            refStep(w, gw, mw, vw, t, WD);
            refStep(b, gb, mb, vb, t, 0);
        }
        try (NDManager m = NDManager.newBaseManager()) {
            Engine.getInstance().setRandomSeed(1);
            NDArray pw = m.create(w0, new Shape(2, 3));
            NDArray pb = m.create(b0, new Shape(3));
            pw.setRequiresGradient(true);
            pb.setRequiresGradient(true);
            NDArray na = m.create(a, new Shape(2, 3));
            NDArray nc = m.create(c, new Shape(3));
            NDArray half2 = m.create(2f);
            Map<String, NDArray> params = new LinkedHashMap<>();
            params.put("b", pb); // 1-D first: torch numbers the decay group first anyway
            params.put("w", pw);
            AdamW opt = new AdamW(params, B1, B2, EPS, WD);
            assertEquals(List.of("w", "b"), opt.parameterOrder());
            for (int t = 1; t <= 4; t++) {
                if (t == 3) {
                    // restart from the exported state: the run must continue identically
                    Map<String, Object> sd = opt.stateDict(LR);
                    opt.close();
                    opt = new AdamW(params, B1, B2, EPS, WD);
                    opt.loadStateDict(sd, "test");
                    assertEquals(2, opt.steps());
                }
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    // scalars as NDArrays kept alive in m: DJL frees a Number operand that autograd still needs
                    NDArray loss = pw.mul(pw).mul(na).sum().div(half2).add(pb.mul(nc).sum());
                    gc.backward(loss);
                }
                double norm = Gradients.clipGlobalNorm(params.values(), maxNorm);
                assertEquals(refNorms[t - 1], norm, 1e-5 * refNorms[t - 1], "grad norm at step " + t);
                opt.step(LR);
                Gradients.zero(params.values());
            }
            assertClose(w, pw.toFloatArray());
            assertClose(b, pb.toFloatArray());
            Map<String, Object> sd = opt.stateDict(LR);
            @SuppressWarnings("unchecked")
            Map<Object, Object> state = (Map<Object, Object>) sd.get("state");
            @SuppressWarnings("unchecked")
            Map<String, Object> s0 = (Map<String, Object>) state.get(0L);
            assertEquals(4.0, ((Tensor) s0.get("step")).toDoubleArray()[0]);
            assertClose(mw, ((Tensor) s0.get("exp_avg")).toFloatArray());
            opt.close();
        }
    }

    /**
     * The same on a thread of its own: libtorch's grad mode is per thread and on in new threads, where
     * an in-place update of a parameter failed ("a leaf Variable that requires grad is being used in
     * an in-place operation") until {@link AdamW#step} turned it off for itself.
     */
    @Test
    void stepsOnAThreadOtherThanTheEnginesFirst() throws Exception {
        Throwable[] failed = new Throwable[1];
        Thread t = new Thread(() -> {
            try {
                matchesReferenceWithClippingAndStateRoundTrip();
            } catch (Throwable e) {
                failed[0] = e;
            }
        });
        t.start();
        t.join();
        if (failed[0] != null) {
            throw new AssertionError(failed[0]);
        }
    }

    /** torch.optim.AdamW's single-tensor update, in double. */
    private static void refStep(double[] p, double[] g, double[] m, double[] v, int t, double wd) {
        for (int i = 0; i < p.length; i++) {
            p[i] *= 1 - LR * wd;
            m[i] = B1 * m[i] + (1 - B1) * g[i];
            v[i] = B2 * v[i] + (1 - B2) * g[i] * g[i];
            double denom = Math.sqrt(v[i]) / Math.sqrt(1 - Math.pow(B2, t)) + EPS;
            p[i] -= LR / (1 - Math.pow(B1, t)) * m[i] / denom;
        }
    }

    private static void assertClose(double[] want, float[] got) {
        assertEquals(want.length, got.length);
        for (int i = 0; i < want.length; i++) {
            // float32 arithmetic against double: 1e-5 relative plus 1e-7 absolute
            assertEquals(want[i], got[i], 1e-5 * Math.abs(want[i]) + 1e-7, "element " + i);
        }
    }

    private static double[] toD(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }
}
