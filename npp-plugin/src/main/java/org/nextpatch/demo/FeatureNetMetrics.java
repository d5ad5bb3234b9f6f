package org.nextpatch.demo;

import org.nextpatch.eval.FeatureNet;
import org.nextpatch.eval.FeatureStats;
import org.nextpatch.eval.Features;
import org.nextpatch.eval.Frechet;
import org.nextpatch.eval.ImageBatch;
import org.nextpatch.eval.OnnxFeatureModel;
import org.nextpatch.eval.OnnxFeatureModel.Kind;

import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Map;

/**
 * FID and class agreement through an ONNX feature network (the one {@link FeatureNet#exportOnnx}
 * writes): the evaluator's Frechet distance ({@link Frechet}) between the pool features of two image
 * sets, and the share of generated images the network classifies as the class they were generated for.
 */
public final class FeatureNetMetrics implements AutoCloseable {
    private final OnnxFeatureModel model;

    /** Pool and logits features of a set of images. */
    public record Feats(Features pool, Features logits) {}

    /** Opens an exported feature network. */
    public FeatureNetMetrics(Path onnx) {
        Map<Kind, String> names = new EnumMap<>(Kind.class);
        names.put(Kind.POOL, FeatureNet.POOL);
        names.put(Kind.LOGITS, FeatureNet.LOGITS);
        model = new OnnxFeatureModel(onnx, names, 0, false);
    }

    /** Features of {@code n} uint8 NHWC images. */
    public Feats features(String name, byte[] nhwc, int n, int height, int width, int channels) {
        Map<Kind, Features> f = model.extract(ImageBatch.of(name, nhwc, n, height, width, channels), 500,
                "features " + name);
        return new Feats(f.get(Kind.POOL), f.get(Kind.LOGITS));
    }

    /** The Frechet distance between the pool features of two sets. */
    public static double fid(Feats a, Feats b) {
        return Frechet.distance(FeatureStats.of(a.pool()), FeatureStats.of(b.pool()));
    }

    /** Share of images whose largest logit is the given class. */
    public static double classAgreement(Feats f, long[] labels) {
        Features l = f.logits();
        int correct = 0;
        for (int i = 0; i < l.n(); i++) {
            int best = 0;
            for (int c = 1; c < l.d(); c++) {
                if (l.data()[i * l.d() + c] > l.data()[i * l.d() + best]) {
                    best = c;
                }
            }
            if (best == labels[i]) {
                correct++;
            }
        }
        return l.n() == 0 ? Double.NaN : (double) correct / l.n();
    }

    @Override
    public void close() {
        model.close();
    }
}
