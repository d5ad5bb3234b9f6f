package org.nextpatch.spark;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The provenance of a Spark run, written beside its outputs as {@value #FILE}: the command's
 * settings (the same the plain command uses) plus where it ran: master, partitions, Spark version
 * and application id, and how many partitions ran or were found complete.
 */
final class RunRecord {
    /** The record's file name. */
    static final String FILE = "spark-run.json";

    private RunRecord() {}

    static void write(SparkRunner spark, String uri, Map<String, Object> settings, int partitionsRun, int partitionsSkipped) {
        Map<String, Object> r = new LinkedHashMap<>(settings);
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("master", spark.master());
        s.put("partitions", spark.partitions());
        s.put("partitions_run", partitionsRun);
        s.put("partitions_complete_before", partitionsSkipped);
        s.put("spark_version", spark.context().version());
        s.put("application_id", spark.applicationId());
        r.put("spark", s);
        Storage.writeString(uri, Json.write(r), "output");
    }
}
