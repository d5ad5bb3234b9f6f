package org.nextpatch.cli;

import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.eval.AdmEvaluator;
import org.nextpatch.eval.OnnxFeatureModel;
import org.nextpatch.spark.SparkEvaluate;
import org.nextpatch.spark.SparkExtract;
import org.nextpatch.spark.SparkRunner;
import org.nextpatch.spark.SparkSample;
import org.nextpatch.util.DirLock;

import java.util.Locale;

/**
 * The command-line side of the Spark jobs: turns a command's flags into a job's settings and prints
 * what the plain command prints. Loaded only when {@code --spark-master} is given, so the command
 * line works without Spark on the class path.
 */
final class SparkCommands {
    private SparkCommands() {}

    static int extract(ExtractCodesCommand c) {
        SparkOptions o = c.spark;
        boolean local = !o.raw("--code-path").contains(":/");
        // a local code directory: locked against other writers, as the plain command does
        try (DirLock lock = local ? DirLock.acquire(c.codePath, "--code-path " + c.codePath) : null) {
            return extract(c, o, local);
        }
    }

    private static int extract(ExtractCodesCommand c, SparkOptions o, boolean local) {
        org.nextpatch.data.ExtractionRecord record = null;
        if (local && !o.raw("--vq-ckpt").contains(":/")) {
            // local folders: the same extraction record as the plain command, checked and written on the driver
            record = org.nextpatch.data.ExtractionRecord.of(new org.nextpatch.data.CodeExtractor.Settings(c.imageSize, c.tenCrop,
                    c.cropRange, c.codePath, c.batchSize), c.vq.vqCkpt);
            record.claim(c.codePath, -1);
        }
        SparkExtract.Spec spec = new SparkExtract.Spec(o.raw("--data-path"), o.raw("--labels-path"), o.raw("--code-path"),
                o.raw("--vq-ckpt"), c.vq.config() == null ? null : c.vq.config().toJson().toString(),
                c.vq.device, c.imageSize, c.tenCrop, c.cropRange, c.batchSize, c.limit);
        try (SparkRunner spark = SparkRunner.start(c.spark.master, c.spark.partitions, "extract-codes")) {
            SparkExtract.Result r = SparkExtract.run(spark, spec);
            if (record != null) {
                int encoded = r.written() + r.alreadyThere();
                record.finish(c.codePath, encoded + r.unreadable().size(), encoded, r.unreadable());
            }
            System.out.printf("%d images encoded, %d already there, %d unreadable -> %s (Spark %s, %d partition(s) run, %d complete before)%n",
                    r.written(), r.alreadyThere(), r.unreadable().size(), r.codesDir(), spark.master(), r.partitionsRun(),
                    r.partitionsSkipped());
        }
        return 0;
    }

    static int sample(SampleCommand c, SamplingSettings settings, long[] labels) {
        SparkOptions o = c.spark;
        if (c.onnxDir != null && o.raw("--onnx-dir").contains(":/")) {
            throw new NppCommand.UsageException("--onnx-dir " + o.raw("--onnx-dir") + ": with --spark-master it is a local folder "
                    + "that every executor sees at the same path (a shared file system), not a Hadoop URI");
        }
        boolean local = !o.raw("--out").contains(":/");
        // a local output folder: locked against other writers, as the plain command does
        try (DirLock lock = local ? DirLock.acquire(c.out, "--out " + c.out) : null) {
            return sample(c, o, settings, labels);
        }
    }

    private static int sample(SampleCommand c, SparkOptions o, SamplingSettings settings, long[] labels) {
        SparkSample.Spec spec = new SparkSample.Spec(o.raw("--gpt-ckpt"), c.gpt.config().toJson().toString(), c.gpt.useEma,
                c.gpt.device, c.engine, c.onnxThreads, SparkSample.Sampling.of(settings), c.seed, c.batchSize, labels, o.raw("--vq-ckpt"),
                c.vqConfig == null ? null : org.nextpatch.config.VqConfig.fromJson(c.vqConfig).toJson().toString(),
                c.gpt.downsample(), o.raw("--out"), c.onnxDir == null ? null : c.onnxDir.toString(), c.overwrite);
        // an export folder is checked against the checkpoint before Spark starts
        SparkSample.OnnxFolder onnx = SparkSample.onnxFolder(spec);
        try (SparkRunner spark = SparkRunner.start(o.master, o.partitions, "sample")) {
            SparkSample.Result r = SparkSample.run(spark, spec, onnx);
            var out = c.spec.commandLine().getOut();
            out.printf(Locale.ROOT, "sampled %d images in %.2f s: %.2f images/s (%s, Spark %s, %d partition(s) run, %d complete before)%n",
                    r.samples(), r.seconds(), r.samples() / Math.max(r.seconds(), 1e-9), c.engine, spark.master(),
                    r.partitionsRun(), r.partitionsSkipped());
            out.println("wrote " + r.samples() + " samples to " + c.out);
            out.flush();
        }
        return 0;
    }

    static AdmEvaluator.Report evaluate(EvaluateCommand c) {
        SparkOptions o = c.spark;
        java.util.EnumMap<OnnxFeatureModel.Kind, String> names = new java.util.EnumMap<>(OnnxFeatureModel.Kind.class);
        names.put(OnnxFeatureModel.Kind.POOL, c.poolOutput);
        names.put(OnnxFeatureModel.Kind.SPATIAL, c.spatialOutput);
        names.put(OnnxFeatureModel.Kind.LOGITS, c.logitsOutput);
        boolean graph = c.inceptionPb != null;
        SparkEvaluate.Spec spec = new SparkEvaluate.Spec(o.rawPositional(0), o.rawPositional(1),
                o.raw(graph ? "--inception-pb" : "--feature-model"), names, c.spatialChannels, c.spatialLayout.equals("nchw"),
                c.batchSize(), graph);
        try (SparkRunner spark = SparkRunner.start(o.master, o.partitions, "evaluate")) {
            return SparkEvaluate.run(spark, spec);
        }
    }
}
