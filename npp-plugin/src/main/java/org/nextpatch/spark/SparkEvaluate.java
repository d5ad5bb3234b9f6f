package org.nextpatch.spark;

import org.apache.spark.util.LongAccumulator;
import org.nextpatch.eval.AdmEvaluator;
import org.nextpatch.eval.FeatureModel;
import org.nextpatch.eval.Features;
import org.nextpatch.eval.ImageBatch;
import org.nextpatch.eval.OnnxFeatureModel;
import org.nextpatch.eval.OnnxFeatureModel.Kind;
import org.nextpatch.tensor.Npz;
import org.nextpatch.util.NppException;

import java.io.Serializable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code npp evaluate REF.npz SAMPLES.npz --spark-master URL} (with {@code --feature-model} or
 * {@code --inception-pb}): the feature model runs in Spark
 * tasks over contiguous, batch-aligned row ranges of each archive (the plain command's batches, on
 * the executor's cached ONNX Runtime session); the driver gathers the features in index order and
 * computes the metrics with the plain command's code, so they are the same numbers.
 */
public final class SparkEvaluate {
    private SparkEvaluate() {}

    /**
     * The job's settings; paths as typed (local paths or Hadoop URIs).
     *
     * @param featureModel   the ONNX feature model, or ADM's Inception graph when {@code inceptionGraph}
     * @param outputs        output name per kind ({@code pool}, {@code spatial}, {@code logits}; ONNX only)
     * @param inceptionGraph whether {@code featureModel} is ADM's TensorFlow graph ({@code --inception-pb})
     */
    public record Spec(String ref, String samples, String featureModel, EnumMap<Kind, String> outputs,
                       int spatialChannels, boolean spatialNchw, int batchSize, boolean inceptionGraph) implements Serializable {

        /** The flag that names the feature model, for messages. */
        String modelFlag() {
            return inceptionGraph ? "--inception-pb" : "--feature-model";
        }

        /** Opens the feature model from a local copy of its file. */
        FeatureModel open(Path local) {
            return inceptionGraph ? FeatureModel.inceptionGraph(local)
                    : new OnnxFeatureModel(local, outputs, spatialChannels, spatialNchw);
        }
    }

    private record Task(Spec spec, String model, String modelHash, String archive, String archiveVersion) implements Serializable {}

    /** One partition's features, per kind name: values and width. */
    private record Part(int partition, HashMap<String, float[]> values, HashMap<String, Integer> widths) implements Serializable {}

    /** Evaluates on {@code spark}; the report is what the plain command prints. */
    public static AdmEvaluator.Report run(SparkRunner spark, Spec spec) {
        String ref = Storage.qualify(spec.ref());
        String sam = Storage.qualify(spec.samples());
        String model = Storage.qualify(spec.featureModel());
        for (String[] f : new String[][]{{ref, "REF.npz"}, {sam, "SAMPLES.npz"}, {model, spec.modelFlag()}}) {
            Storage.requireFile(f[0], f[1]);
        }
        String modelHash = Storage.sha256(model, spec.modelFlag());
        String refVersion = Storage.sha256(ref, "REF.npz");
        String samVersion = Storage.sha256(sam, "SAMPLES.npz");
        Path localRef = Storage.localCopy(ref, refVersion, "REF.npz");
        Path localSam = Storage.localCopy(sam, samVersion, "SAMPLES.npz");
        Map<String, String[]> byName = new HashMap<>();
        byName.put(localRef.toString(), new String[]{ref, refVersion});
        byName.put(localSam.toString(), new String[]{sam, samVersion});
        try (FeatureModel fm = spec.open(Storage.localCopy(model, modelHash, spec.modelFlag()))) {
            return AdmEvaluator.evaluate(localRef, localSam, fm, spec.batchSize(), (images, task) -> {
                String[] src = byName.get(images.name());
                if (src == null) {
                    throw new IllegalStateException("unknown image batch " + images.name());
                }
                return features(spark, new Task(spec, model, modelHash, src[0], src[1]), images, task);
            });
        }
    }

    private static Map<Kind, Features> features(SparkRunner spark, Task task, ImageBatch images, String name) {
        List<Partitions.Range> ranges = Partitions.split(Math.toIntExact(images.count()), task.spec().batchSize(), spark.partitions());
        List<Part> parts;
        try (DriverProgress p = new DriverProgress(spark, name, images.count(), "img")) {
            LongAccumulator acc = p.accumulator();
            parts = new ArrayList<>(SparkFailures.collect(() -> spark.context().parallelize(ranges, ranges.size())
                    .map(r -> runPartition(task, r, acc)).collect()));
        }
        parts.sort(Comparator.comparingInt(Part::partition));
        Map<Kind, Features> out = new EnumMap<>(Kind.class);
        for (String k : parts.get(0).values().keySet()) {
            List<Features> list = new ArrayList<>();
            for (Part part : parts) {
                int d = part.widths().get(k);
                float[] v = part.values().get(k);
                list.add(new Features(v.length / d, d, v));
            }
            out.put(Kind.valueOf(k), Features.concat(list));
        }
        return out;
    }

    /** One task: the features of rows {@code [from, to)} of one archive, in the plain command's batches. */
    private static Part runPartition(Task task, Partitions.Range r, LongAccumulator acc) {
        Spec s = task.spec();
        Path local = Storage.localCopy(task.archive(), task.archiveVersion(), "npz");
        String key = "features|" + task.model() + "|" + task.modelHash() + "|" + s.inceptionGraph() + "|" + s.outputs()
                + "|" + s.spatialChannels() + "|" + s.spatialNchw();
        Map<String, List<Features>> got = new HashMap<>();
        try (ExecutorCache.Lease<FeatureModel> fm = ExecutorCache.borrow(key,
                () -> s.open(Storage.localCopy(task.model(), task.modelHash(), s.modelFlag())));
             Npz.Reader reader = Npz.open(local)) {
            ImageBatch images = ImageBatch.ofNpz(local, reader);
            long[] shape = {0, images.height(), images.width(), images.channels()};
            for (int start = r.from(); start < r.to(); start += s.batchSize()) {
                int b = Math.min(s.batchSize(), r.to() - start);
                shape[0] = b;
                fm.get().run(images.read(start, b), shape, task.archive())
                        .forEach((k, f) -> got.computeIfAbsent(k.name(), x -> new ArrayList<>()).add(f));
                acc.add(b);
                if (start == r.from()) {
                    FaultInjection.maybeFail(r.partition());
                }
            }
        } catch (RuntimeException e) {
            if (e instanceof NppException) {
                throw e;
            }
            throw new NppException(task.archive() + ": " + e.getMessage(), e);
        }
        HashMap<String, float[]> values = new HashMap<>();
        HashMap<String, Integer> widths = new HashMap<>();
        got.forEach((k, l) -> {
            Features f = Features.concat(l);
            values.put(k, f.data());
            widths.put(k, f.d());
        });
        return new Part(r.partition(), values, widths);
    }
}
