package org.nextpatch.spark;

/**
 * Whether Apache Spark is on the class path. Spark is a provided dependency: {@code ./npp} adds it
 * for local runs and a cluster brings its own, but a library consumer may have none. This class
 * touches no Spark type, so callers can ask before loading the jobs.
 */
public final class SparkSupport {
    private SparkSupport() {}

    /** True when Spark's core classes can be loaded. */
    public static boolean available() {
        try {
            Class.forName("org.apache.spark.api.java.JavaSparkContext", false, SparkSupport.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }
}
