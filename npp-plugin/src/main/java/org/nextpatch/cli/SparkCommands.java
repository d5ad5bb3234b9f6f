package org.nextpatch.cli;

import org.nextpatch.spark.SparkExtract;
import org.nextpatch.spark.SparkRunner;

/**
 * The command-line side of the Spark jobs: turns a command's flags into a job's settings and prints
 * what the plain command prints. Loaded only when {@code --spark-master} is given, so the command
 * line works without Spark on the class path.
 */
final class SparkCommands {
    private SparkCommands() {}

    static int extract(ExtractCodesCommand c) {
        SparkOptions o = c.spark;
        SparkExtract.Spec spec = new SparkExtract.Spec(o.raw("--data-path"), o.raw("--labels-path"), o.raw("--code-path"),
                o.raw("--vq-ckpt"), c.vq.config() == null ? null : c.vq.config().toJson().toString(),
                c.vq.device, c.imageSize, c.tenCrop, c.cropRange, c.batchSize, c.limit);
        try (SparkRunner spark = SparkRunner.start(c.spark.master, c.spark.partitions, "extract-codes")) {
            SparkExtract.Result r = SparkExtract.run(spark, spec);
            System.out.printf("%d images encoded, %d already there, %d unreadable -> %s (Spark %s, %d partition(s) run, %d complete before)%n",
                    r.written(), r.alreadyThere(), r.unreadable().size(), r.codesDir(), spark.master(), r.partitionsRun(),
                    r.partitionsSkipped());
        }
        return 0;
    }
}
