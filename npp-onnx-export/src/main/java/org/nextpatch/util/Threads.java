package org.nextpatch.util;

/**
 * The one thread setting of both engines: intra-op threads for libtorch (DJL) and ONNX Runtime.
 * <p>
 * {@value #PROPERTY} (system property) or {@value #ENV} (environment) sets it; otherwise it is
 * {@value #DEFAULT}, whatever the machine and its load. Fixed because results depend on the count
 * (kernels split sums by it, so float rounding differs): a default that followed the load gave the
 * same command other weights and other FID on a busy machine (issue 21). One thread because it was
 * never far from the best in the measurements (docs/benchmarks.md, "Threads": at worst 1.6x slower on
 * a quiet 2-core machine at batch 32) while more threads than free cores made small models up to
 * 95x slower (libtorch's busy-waiting OpenMP workers), and because a JVM that trains and predicts on
 * several threads at once then uses one core per thread. Runs at the same count are bit-identical
 * on CPU; a run or a reproduction at another count than recorded says so (the model's provenance
 * {@code intra-op-threads}, a checkpoint's {@code intra_op_threads}).
 * <p>
 * The one exception is ONNX Runtime's GPT sampling ({@link #onnxSampling()}): its logits and tokens
 * are bit-identical at any thread count (tested: {@code OnnxThreadsTest}), so its default may follow
 * the load: one thread when the machine is busy, one per CPU otherwise.
 */
public final class Threads {
    /** System property naming the intra-op thread count. */
    public static final String PROPERTY = "npp.threads";
    /** Environment variable naming the intra-op thread count (the property wins). */
    public static final String ENV = "NPP_THREADS";
    /** The count when none is configured. */
    public static final int DEFAULT = 1;

    private Threads() {}

    /** The intra-op thread count to use: the configured one, else {@value #DEFAULT}. */
    public static int intraOp() {
        int c = configured();
        return c > 0 ? c : DEFAULT;
    }

    /**
     * ONNX Runtime's intra-op threads for GPT sampling: the configured count, else one thread when the
     * machine is busy (1-minute load average at least half the CPUs this JVM may use) and one per CPU
     * otherwise ({@link Runtime#availableProcessors()} respects a container's CPU quota).
     */
    public static int onnxSampling() {
        int c = configured();
        return c > 0 ? c : loadAware(Runtime.getRuntime().availableProcessors(), loadAverage());
    }

    /** One thread on a busy machine, else one per CPU. */
    static int loadAware(int cpus, double load) {
        return cpus <= 1 || load >= cpus / 2.0 ? 1 : cpus;
    }

    /** The 1-minute load average (Linux {@code /proc/loadavg}; the OS bean elsewhere; 0 when unknown). */
    static double loadAverage() {
        double l = java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        return l < 0 ? 0 : l;
    }

    /** The configured thread count ({@value #PROPERTY}, else {@value #ENV}), or 0 when none is. */
    public static int configured() {
        String v = System.getProperty(PROPERTY);
        String from = "-D" + PROPERTY;
        if (v == null || v.isBlank()) {
            v = System.getenv(ENV);
            from = ENV;
        }
        if (v == null || v.isBlank()) {
            return 0;
        }
        try {
            int n = Integer.parseInt(v.trim());
            if (n < 1) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new NppException(from + "=" + v + ": expected a positive number of threads");
        }
    }
}
