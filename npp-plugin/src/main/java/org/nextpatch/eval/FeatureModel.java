package org.nextpatch.eval;

import org.nextpatch.eval.OnnxFeatureModel.Kind;
import org.nextpatch.util.NppException;
import org.nextpatch.util.Progress;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The network whose features the ADM metrics compare, playing the part of the evaluator's
 * Inception graph: it takes uint8 NHWC images as stored (any size; it resizes and scales them
 * itself) and gives per image pool features (FID, precision/recall), spatial features (sFID) and
 * logits (Inception Score), or a subset of them.
 * <p>
 * Two sources: {@link OnnxFeatureModel} (an ONNX model, e.g. the Fashion-MNIST feature network) and
 * {@link #inceptionGraph(Path)}, ADM's own TensorFlow graph {@code classify_image_graph_def.pb} run
 * by TensorFlow Java, which gives the published tables' numbers.
 */
public interface FeatureModel extends AutoCloseable {

    /** Whether the model provides a kind of feature. */
    boolean has(Kind k);

    /** Why a kind is unavailable, for the note printed when a metric is skipped. */
    String whyMissing(Kind k);

    /**
     * Features of one batch of uint8 NHWC images.
     *
     * @param shape  {@code [N, H, W, C]}
     * @param source names the images in error messages (a file name)
     */
    Map<Kind, Features> run(byte[] nhwc, long[] shape, String source);

    /** What identifies the model in an evaluation's provenance (file name, SHA-256, ...), in order. */
    Map<String, String> provenance();

    /** Remarks an evaluation with this model should carry (e.g. a graph that is not ADM's own). */
    default List<String> notes() {
        return List.of();
    }

    /**
     * Features of every image of a batch, computed {@code batchSize} images at a time with a
     * progress bar.
     */
    default Map<Kind, Features> extract(ImageBatch images, int batchSize, String task) {
        Map<Kind, List<Features>> parts = new EnumMap<>(Kind.class);
        long n = images.count();
        long[] shape = {0, images.height(), images.width(), images.channels()};
        try (Progress p = Progress.start(task, n, "img")) {
            for (long start = 0; start < n; start += batchSize) {
                int b = (int) Math.min(batchSize, n - start);
                shape[0] = b;
                run(images.read(start, b), shape, images.name())
                        .forEach((k, f) -> parts.computeIfAbsent(k, x -> new ArrayList<>()).add(f));
                p.step(b);
            }
        }
        Map<Kind, Features> result = new EnumMap<>(Kind.class);
        parts.forEach((k, l) -> result.put(k, Features.concat(l)));
        return result;
    }

    @Override
    void close();

    /**
     * ADM's Inception graph ({@code classify_image_graph_def.pb}, see {@link InceptionGraphModel})
     * run by TensorFlow Java. TensorFlow is an optional dependency of npp-plugin: without it on the
     * class path this is one clear error saying what to add, and no TensorFlow class is loaded before.
     *
     * @param graphFile the GraphDef file
     * @throws NppException when TensorFlow Java or its natives are missing, or the file is not usable
     */
    static FeatureModel inceptionGraph(Path graphFile) {
        try {
            Class.forName("org.tensorflow.Graph", false, FeatureModel.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw new NppException(graphFile + ": running ADM's Inception graph needs TensorFlow Java, which is not on the"
                    + " class path: add " + InceptionGraphModel.DEPENDENCIES + " (docs/tribuo-guide.md)");
        }
        try {
            return new InceptionGraphModel(graphFile);
        } catch (LinkageError e) {
            throw new NppException(graphFile + ": TensorFlow Java cannot load its native library (" + e
                    + "): add " + InceptionGraphModel.DEPENDENCIES + " for this platform", e);
        }
    }

    /** The provenance entries of a model file: its name and SHA-256. */
    static Map<String, String> fileProvenance(String key, Path file, String sha256) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put(key, String.valueOf(file.getFileName()));
        m.put(key + "-sha256", sha256);
        return m;
    }
}
