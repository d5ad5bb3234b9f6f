package org.nextpatch.util;

/**
 * The one thread setting of both engines: intra-op threads for libtorch (DJL) and ONNX Runtime.
 * <p>
 * {@value #PROPERTY} (system property) or {@value #ENV} (environment) sets it; otherwise
 * {@link #defaultThreads()} chooses, from measurements in docs/benchmarks.md ("Threads"). The engines'
 * own defaults (one busy-waiting OpenMP thread per core, host cores rather than the container's CPU
 * quota) made small models many times slower on a machine shared with other work.
 */
public final class Threads {
    /** System property naming the intra-op thread count. */
    public static final String PROPERTY = "npp.threads";
    /** Environment variable naming the intra-op thread count (the property wins). */
    public static final String ENV = "NPP_THREADS";

    private Threads() {}

    /** The intra-op thread count to use: the configured one, else the default. */
    public static int intraOp() {
        int c = configured();
        return c > 0 ? c : defaultThreads();
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

    /**
     * The default when nothing is configured: one thread when the machine is already busy (the
     * 1-minute load average is at least half the CPUs this JVM may use), else one per such CPU.
     * Measured (docs/benchmarks.md, "Threads"): on a loaded 2-core machine libtorch's own default was
     * many times slower than one thread, while on a quiet one two threads gained at most about 1.3x.
     * {@link Runtime#availableProcessors()} respects a container's CPU quota and affinity (the
     * engines' own defaults count the host's cores).
     */
    public static int defaultThreads() {
        int cpus = Math.max(1, Runtime.getRuntime().availableProcessors());
        return cpus == 1 || loadAverage() >= cpus / 2.0 ? 1 : cpus;
    }

    /** The 1-minute load average (Linux {@code /proc/loadavg}; the OS bean elsewhere; 0 when unknown). */
    static double loadAverage() {
        double l = java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        return l < 0 ? 0 : l;
    }
}
