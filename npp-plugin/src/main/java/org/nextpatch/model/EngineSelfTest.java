package org.nextpatch.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * A numerical self-test of the engine on this machine: the float32 ops the project's models use,
 * forward and backward, each against the same computation in float64 (which libtorch runs with its
 * own reference kernels, not oneDNN's). Small sizes, a second or two in all.
 *
 * <p>The convolution input gradient is checked twice: through {@link Convolutions#conv2d} (what the
 * project runs; a failure there is a problem) and through the library's kernel as it is (a failure
 * there is the known oneDNN fault, reported as a note because the project avoids it).
 */
public final class EngineSelfTest {
    /** Output-channel counts around the SIMD blocks (8 for AVX2, 16 for AVX-512). */
    public static final int[] CONV_CHANNELS = {1, 3, 8, 15, 16, 17};
    /** Largest error allowed, relative to the largest magnitude of the float64 result. */
    public static final double TOLERANCE = 1e-4;

    private static int verifiedAtThreads = -1;

    private EngineSelfTest() {}

    /**
     * One comparison.
     *
     * @param op       what was computed, e.g. "conv 3x3, 3 output channels: input gradient"
     * @param threads  the engine's intra-op thread count during the check
     * @param error    max |float32 - float64| / max |float64| (NaN when the float32 result had NaN)
     * @param avoided  true: the project does not use this path as it is (reported, not a problem)
     */
    public record Check(String op, int threads, double error, boolean avoided) {
        /** Whether the float32 result is within {@link #TOLERANCE}. */
        public boolean ok() {
            return error <= TOLERANCE;
        }

        /** A problem the project cannot avoid. */
        public boolean problem() {
            return !ok() && !avoided;
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%-52s threads %d  error %.1e  %s", op, threads, error,
                    ok() ? "ok" : avoided ? "WRONG (library fault; the project avoids it)" : "WRONG");
        }
    }

    /** Every check, forward and backward, at 1 thread, the engine's current count and one per CPU. */
    public static List<Check> all() {
        return run(true, countsToCheck());
    }

    /** The gradient checks only (what training relies on), at the same thread counts. */
    public static List<Check> gradients() {
        return run(false, countsToCheck());
    }

    /**
     * Throws when the engine computes a gradient wrong in a way the project cannot avoid; the message
     * names the op. Training runs this once before its first step, at the engine's thread count only:
     * the count is the process's, and changing it would change what other threads compute meanwhile.
     *
     * @param what the command, for the message (e.g. "train-vq")
     */
    public static synchronized void requireCorrectGradients(String what) {
        Engine.getEngine("PyTorch"); // loads the native library before JniUtils is called
        int threads = JniUtils.getNumThreads();
        if (verifiedAtThreads == threads) {
            return; // once per process and thread count: the answer does not change
        }
        for (Check c : run(false, new int[]{Math.max(1, threads)})) {
            if (c.problem()) {
                throw new org.nextpatch.util.NppException(what + ": this machine's engine computes wrong gradients for "
                        + c.op() + " (error " + String.format(Locale.ROOT, "%.1e", c.error()) + " against float64 with "
                        + c.threads() + " threads); training would be silently wrong. Run 'npp doctor' for details.");
            }
        }
        verifiedAtThreads = threads;
    }

    /** One thread, the engine's current count, and one per CPU (the fault differs with the count). */
    private static int[] countsToCheck() {
        Engine.getEngine("PyTorch"); // loads the native library before JniUtils is called
        return java.util.stream.IntStream.of(1, JniUtils.getNumThreads(), Runtime.getRuntime().availableProcessors())
                .map(t -> Math.max(1, t)).distinct().sorted().toArray();
    }

    /** The checks at the given thread counts, holding the recording lock, with grad mode off outside it. */
    private static List<Check> run(boolean forward, int[] counts) {
        Engine.getEngine("PyTorch"); // loads the native library before JniUtils is called
        List<Check> out = new ArrayList<>();
        int threads = Math.max(1, JniUtils.getNumThreads());
        try (Autograd.Scope recording = Autograd.recording(); Autograd.Scope noGrad = Autograd.noGrad()) {
            for (int t : counts) {
                if (t != JniUtils.getNumThreads()) {
                    JniUtils.setNumThreads(t);
                }
                for (int o : CONV_CHANNELS) {
                    if (forward) {
                        out.add(new Check("conv 3x3, " + o + " output channels: forward", t,
                                compare(m -> conv(m, o, false, false)), false));
                    }
                    out.add(new Check("conv 3x3, " + o + " output channels: input gradient", t,
                            compare(m -> conv(m, o, true, false)), false));
                    out.add(new Check("conv 3x3, " + o + " output channels: weight gradient", t,
                            compare(m -> conv(m, o, false, true)), false));
                    out.add(new Check("conv 3x3, " + o + " output channels: input gradient, library kernel", t,
                            compare(m -> rawConvInputGradient(m, o)), true));
                }
                out.add(new Check("matmul: forward and gradients", t, compare(EngineSelfTest::matmul), false));
                out.add(new Check("layer norm: forward and input gradient", t, compare(EngineSelfTest::layerNorm), false));
                out.add(new Check("softmax: forward and input gradient", t, compare(EngineSelfTest::softmax), false));
            }
        } finally {
            if (JniUtils.getNumThreads() != threads) {
                JniUtils.setNumThreads(threads);
            }
        }
        return out;
    }

    /** Runs {@code f} in float32 and float64 on the same inputs and returns the relative error. */
    private static double compare(Function<Inputs, double[]> f) {
        double[] single;
        double[] dbl;
        try (NDManager m = NDManager.newBaseManager()) {
            single = f.apply(new Inputs(m, DataType.FLOAT32));
            dbl = f.apply(new Inputs(m, DataType.FLOAT64));
        }
        double scale = 0;
        double err = 0;
        for (int i = 0; i < dbl.length; i++) {
            scale = Math.max(scale, Math.abs(dbl[i]));
            double d = Math.abs(single[i] - dbl[i]);
            if (Double.isNaN(d)) {
                return Double.NaN;
            }
            err = Math.max(err, d);
        }
        return err / Math.max(scale, 1e-30);
    }

    /** A manager and a dtype; every call draws the same uniform values in [-1, 1) from a fixed seed. */
    private record Inputs(NDManager m, DataType type) {
        NDArray uniform(long seed, long... shape) {
            SplittableRandom r = new SplittableRandom(seed);
            long n = new Shape(shape).size();
            double[] v = new double[(int) n];
            for (int i = 0; i < v.length; i++) {
                v[i] = r.nextDouble() * 2 - 1;
            }
            return m.create(v, new Shape(shape)).toType(type, false);
        }
    }

    /** sum(conv(x) * r): its gradient with respect to x (or to the weight), or the forward values. */
    private static double[] conv(Inputs in, int outChannels, boolean inputGrad, boolean weightGrad) {
        NDArray x = in.uniform(1, 2, 32, 8, 8);
        NDArray w = in.uniform(2, outChannels, 32, 3, 3).mul(0.1);
        NDArray b = in.uniform(3, outChannels);
        NDArray r = in.uniform(4, 2, outChannels, 8, 8);
        if (!inputGrad && !weightGrad) {
            return Convolutions.conv2d(x, w, b, 1, 1).toType(DataType.FLOAT64, false).toDoubleArray();
        }
        NDArray target = inputGrad ? x : w;
        target.setRequiresGradient(true);
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            gc.backward(Convolutions.conv2d(x, w, b, 1, 1).mul(r).sum());
        }
        return target.getGradient().toType(DataType.FLOAT64, false).toDoubleArray();
    }

    private static double[] rawConvInputGradient(Inputs in, int outChannels) {
        NDArray x = in.uniform(1, 2, 32, 8, 8);
        NDArray w = in.uniform(2, outChannels, 32, 3, 3).mul(0.1);
        NDArray b = in.uniform(3, outChannels);
        NDArray r = in.uniform(4, 2, outChannels, 8, 8);
        x.setRequiresGradient(true);
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            gc.backward(Convolutions.raw(x, w, b, 1, 1).mul(r).sum());
        }
        return x.getGradient().toType(DataType.FLOAT64, false).toDoubleArray();
    }

    private static double[] matmul(Inputs in) {
        NDArray a = in.uniform(5, 4, 24, 40);
        NDArray w = in.uniform(6, 40, 56);
        NDArray r = in.uniform(7, 4, 24, 56);
        a.setRequiresGradient(true);
        w.setRequiresGradient(true);
        NDArray y;
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            y = a.matMul(w);
            gc.backward(y.mul(r).sum());
        }
        return concat(y, a.getGradient(), w.getGradient());
    }

    private static double[] layerNorm(Inputs in) {
        NDArray x = in.uniform(8, 6, 48).mul(3).add(0.5);
        NDArray gain = in.uniform(9, 48);
        NDArray shift = in.uniform(10, 48);
        NDArray r = in.uniform(11, 6, 48);
        x.setRequiresGradient(true);
        NDArray y;
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            y = LayerNorm.layerNorm(x, new Shape(48), gain, shift, 1e-5f).singletonOrThrow();
            gc.backward(y.mul(r).sum());
        }
        return concat(y, x.getGradient());
    }

    private static double[] softmax(Inputs in) {
        NDArray x = in.uniform(12, 6, 64).mul(4);
        NDArray r = in.uniform(13, 6, 64);
        x.setRequiresGradient(true);
        NDArray y;
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            y = x.softmax(-1);
            gc.backward(y.mul(r).sum());
        }
        return concat(y, x.getGradient());
    }

    private static double[] concat(NDArray... parts) {
        List<double[]> all = new ArrayList<>();
        int n = 0;
        for (NDArray p : parts) {
            double[] d = p.toType(DataType.FLOAT64, false).toDoubleArray();
            all.add(d);
            n += d.length;
        }
        double[] out = new double[n];
        int at = 0;
        for (double[] d : all) {
            System.arraycopy(d, 0, out, at, d.length);
            at += d.length;
        }
        return out;
    }
}
