package org.nextpatch.cli;

import org.nextpatch.spark.SparkSupport;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.util.List;

/**
 * {@code --spark-master} and {@code --partitions}: run a command as an Apache Spark job (docs/spark.md).
 * Without {@code --spark-master} the command runs as it always has, in this JVM without Spark.
 */
public final class SparkOptions {

    @Option(names = "--spark-master", paramLabel = "URL",
            description = "Run as a Spark job: local[N] (this machine, N threads), spark://HOST:PORT, yarn or k8s://... "
                    + "Paths may then be Hadoop URIs (file://, hdfs://, s3a://). See docs/spark.md.")
    String master;

    @Option(names = "--partitions", defaultValue = "0", paramLabel = "N",
            description = "With --spark-master: split the work into N tasks (default ${DEFAULT-VALUE}: Spark's default parallelism).")
    int partitions;

    @Spec(Spec.Target.MIXEE)
    CommandSpec mixee;

    /**
     * A path option as typed: a Hadoop URI such as {@code hdfs://nn/x} would lose a slash as a
     * {@link java.nio.file.Path}. Null when the option was not given.
     */
    String raw(String option) {
        OptionSpec o = mixee.findOption(option);
        List<String> v = o == null ? List.of() : o.originalStringValues();
        return v.isEmpty() ? null : v.get(v.size() - 1);
    }

    /** A positional path parameter as typed. */
    String rawPositional(int index) {
        for (PositionalParamSpec p : mixee.positionalParameters()) {
            if (p.index().min() == index && !p.originalStringValues().isEmpty()) {
                return p.originalStringValues().get(0);
            }
        }
        return null;
    }

    /** Whether the command runs on Spark; checks the flags and that Spark can be loaded. */
    boolean enabled() {
        if (master == null) {
            if (partitions != 0) {
                throw new NppCommand.UsageException("--partitions needs --spark-master");
            }
            return false;
        }
        if (partitions < 0) {
            throw new NppCommand.UsageException("--partitions must be positive, got " + partitions);
        }
        if (!SparkSupport.available()) {
            throw new NppCommand.UsageException("--spark-master needs Apache Spark on the class path: run through ./npp "
                    + "(which adds npp-plugin/target/spark-lib) or spark-submit (docs/spark.md)");
        }
        return true;
    }
}
