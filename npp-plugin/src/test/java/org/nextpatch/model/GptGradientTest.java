package org.nextpatch.model;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import org.junit.jupiter.api.Test;
import org.nextpatch.config.GptConfig;

import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Finite-difference check of the NPP loss gradient (spec 4) through the whole transformer, in float64
 * on a tiny configuration (d 16, 2 layers, 2 heads of 8, vocab 12, 3 classes, 4x4 grid, FFN 32), at
 * patch sides 1 and 2. Central differences with step 1e-6 against autograd; tolerance: absolute error
 * <= 1e-7 + 1e-5 x |gradient| for every checked coordinate (3 per parameter tensor).
 */
class GptGradientTest {

    @Test
    void lossGradientMatchesFiniteDifferences() {
        GptConfig c = TinyGpt.config();
        try (Gpt gpt = new Gpt(c, TinyGpt.randomWeights(c, 3), Device.cpu(), "test", DataType.FLOAT64);
             NDManager m = gpt.manager().newSubManager()) {
            NDArray tokens = m.create(new long[]{1, 5, 5, 11, 0, 3, 7, 2, 9, 9, 4, 6, 8, 10, 1, 2,
                    3, 3, 0, 1, 11, 10, 2, 4, 6, 5, 7, 8, 9, 0, 1, 2}, new Shape(2, 16));
            NDArray labels = m.create(new long[]{2, 3}); // 3 = null class
            for (int p : new int[]{1, 2}) {
                gpt.zeroGradients();
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    NDArray loss = gpt.loss(tokens, labels, p, false);
                    assertEquals(DataType.FLOAT64, loss.getDataType());
                    gc.backward(loss);
                }
                SplittableRandom pick = new SplittableRandom(p);
                int checked = 0;
                for (Map.Entry<String, NDArray> e : gpt.parameters().entrySet()) {
                    NDArray w = e.getValue();
                    double[] grad;
                    try (NDArray g = w.getGradient()) {
                        grad = g.toDoubleArray();
                    }
                    long[] shape = w.getShape().getShape();
                    for (int n = 0; n < 3; n++) {
                        int flat = pick.nextInt(grad.length);
                        NDIndex at = index(shape, flat);
                        double orig = w.getDouble(index(shape, flat).getIndices().stream().mapToLong(x -> ((ai.djl.ndarray.index.dim.NDIndexFixed) x).getIndex()).toArray());
                        double h = 1e-6;
                        w.set(at, orig + h);
                        double up = lossValue(gpt, tokens, labels, p);
                        w.set(at, orig - h);
                        double down = lossValue(gpt, tokens, labels, p);
                        w.set(at, orig);
                        double fd = (up - down) / (2 * h);
                        double tol = 1e-7 + 1e-5 * Math.abs(grad[flat]);
                        assertTrue(Math.abs(fd - grad[flat]) <= tol, e.getKey() + "[" + flat + "] p=" + p
                                + ": autograd " + grad[flat] + " vs finite difference " + fd);
                        checked++;
                    }
                }
                assertEquals(3 * gpt.parameters().size(), checked);
            }
        }
    }

    private static double lossValue(Gpt gpt, NDArray tokens, NDArray labels, int p) {
        try (NDManager s = tokens.getManager().newSubManager()) {
            NDArray t = tokens.duplicate();
            t.attach(s);
            return gpt.loss(t, labels, p, false).getDouble();
        }
    }

    private static NDIndex index(long[] shape, int flat) {
        long[] idx = new long[shape.length];
        for (int d = shape.length - 1; d >= 0; d--) {
            idx[d] = flat % shape[d];
            flat /= shape[d];
        }
        return new NDIndex(idx);
    }
}
