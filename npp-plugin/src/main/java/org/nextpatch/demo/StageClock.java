package org.nextpatch.demo;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * Times the stages of a pipeline: wall time and the process's CPU time (all threads, native ones
 * included). The CPU time matters on a shared machine: wall time there depends on the other users,
 * while CPU seconds say what the stage would cost on an idle one (wall >= CPU / cores).
 */
public final class StageClock {
    private static final Logger LOG = LogManager.getLogger(StageClock.class);

    /**
     * One timed stage.
     *
     * @param name        what ran
     * @param wallSeconds elapsed time
     * @param cpuSeconds  process CPU time used (NaN when the JVM cannot tell)
     */
    public record Stage(String name, double wallSeconds, double cpuSeconds) {}

    private final List<Stage> stages = new ArrayList<>();

    /** Runs a stage and records its times. */
    public <T> T time(String name, Supplier<T> body) {
        long w0 = System.nanoTime();
        double c0 = processCpuSeconds();
        LOG.info("stage: {}", name);
        try {
            return body.get();
        } finally {
            Stage s = new Stage(name, (System.nanoTime() - w0) / 1e9, processCpuSeconds() - c0);
            stages.add(s);
            LOG.info(String.format(Locale.ROOT, "stage %s done: %.1f s wall, %.1f s CPU", name, s.wallSeconds(), s.cpuSeconds()));
        }
    }

    /** Runs a stage without a result. */
    public void run(String name, Runnable body) {
        time(name, () -> {
            body.run();
            return null;
        });
    }

    /** The stages so far, in order. */
    public List<Stage> stages() {
        return List.copyOf(stages);
    }

    /** Sum of the stages' wall times. */
    public double totalWall() {
        return stages.stream().mapToDouble(Stage::wallSeconds).sum();
    }

    /** Sum of the stages' CPU times. */
    public double totalCpu() {
        return stages.stream().mapToDouble(Stage::cpuSeconds).sum();
    }

    /** CPU seconds used by this process so far (NaN when unavailable). */
    public static double processCpuSeconds() {
        var os = ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean sun) {
            long ns = sun.getProcessCpuTime();
            return ns < 0 ? Double.NaN : ns / 1e9;
        }
        return Double.NaN;
    }
}
