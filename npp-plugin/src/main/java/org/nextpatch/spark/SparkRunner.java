package org.nextpatch.spark;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.nextpatch.util.NppException;

/**
 * A Spark context for one job. The master decides where the work runs: {@code local[N]} in this
 * JVM (tests, one machine), {@code spark://}, {@code yarn} or {@code k8s://} on a cluster; the code
 * is the same. Settings given to {@code spark-submit} or as {@code spark.*} system properties win
 * over the defaults set here.
 */
public final class SparkRunner implements AutoCloseable {
    private static final Logger LOG = LogManager.getLogger(SparkRunner.class);

    private final String master;
    private final int partitions;
    private final JavaSparkContext jsc;

    private SparkRunner(String master, int partitions, JavaSparkContext jsc) {
        this.master = master;
        this.partitions = partitions;
        this.jsc = jsc;
    }

    /**
     * Starts Spark.
     *
     * @param master     the master URL ({@code --spark-master})
     * @param partitions the partitions asked for ({@code --partitions}; 0: the default parallelism)
     * @param job        names the application
     */
    public static SparkRunner start(String master, int partitions, String job) {
        if (master == null || master.isBlank()) {
            throw new NppException("--spark-master: empty master URL");
        }
        if (partitions < 0) {
            throw new NppException("--partitions must be positive, got " + partitions);
        }
        SparkConf conf = new SparkConf().setMaster(master).setAppName("npp " + job);
        if (isLocal(master)) {
            // in-process: nothing to reach from outside, and progress updates every two seconds
            conf.setIfMissing("spark.driver.host", "127.0.0.1");
            conf.setIfMissing("spark.driver.bindAddress", "127.0.0.1");
            conf.setIfMissing("spark.executor.heartbeatInterval", "2s");
        }
        // our own progress bar replaces Spark's console one
        conf.setIfMissing("spark.ui.showConsoleProgress", "false");
        JavaSparkContext jsc;
        try {
            jsc = new JavaSparkContext(conf);
        } catch (Exception e) {
            // SparkException is checked in Java but thrown from Scala code that does not declare it
            String m = e.getMessage() == null ? e.toString() : e.getMessage().lines().findFirst().orElse(e.toString());
            throw new NppException("--spark-master " + master + ": Spark cannot start: " + m, e);
        }
        LOG.info("Spark {} started: master {}, application {}", jsc.version(), master, jsc.sc().applicationId());
        return new SparkRunner(master, partitions, jsc);
    }

    static boolean isLocal(String master) {
        return master.startsWith("local");
    }

    /** The context. */
    public JavaSparkContext context() {
        return jsc;
    }

    /** The master URL. */
    public String master() {
        return master;
    }

    /** Partitions to split a job into: {@code --partitions}, else Spark's default parallelism. */
    public int partitions() {
        return partitions > 0 ? partitions : jsc.defaultParallelism();
    }

    /** The application id, for provenance. */
    public String applicationId() {
        return jsc.sc().applicationId();
    }

    @Override
    public void close() {
        jsc.stop();
        if (isLocal(master)) {
            // the executors were this JVM: free the models they cached
            ExecutorCache.clear();
        }
    }
}
