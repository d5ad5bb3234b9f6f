package org.nextpatch.eval;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.eval.OnnxFeatureModel.Kind;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Npz;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;
import org.nextpatch.util.RegularFiles;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The ADM evaluator's procedure ({@code evaluations/evaluator.py} of guided-diffusion, which the
 * LlamaGen and NPP papers report): activations of the reference batch and the sample batch;
 * statistics read from the archive ({@code mu}, {@code sigma}, {@code mu_s}, {@code sigma_s}) when
 * present, computed from the activations otherwise; then Inception Score, FID, sFID, precision and
 * recall, printed in that order with the evaluator's wording. A metric whose features the model
 * does not provide is skipped with a note instead of being faked.
 */
public final class AdmEvaluator {
    private static final Logger LOG = LogManager.getLogger(AdmEvaluator.class);

    /**
     * The metrics of one evaluation; null where skipped.
     *
     * @param notes      why metrics were skipped, and remarks of the feature model
     * @param provenance what traces the numbers back, in order: the feature model (file name,
     *                   SHA-256), {@code batch-size}, the reference ({@code reference},
     *                   {@code reference-images}, {@code reference-statistics}: {@code precomputed}
     *                   or {@code computed}) and the samples ({@code samples}, {@code sample-images})
     */
    public record Report(Double inceptionScore, Double fid, Double sfid, Double precision, Double recall,
                         List<String> notes, Map<String, String> provenance) {

        /** The evaluator's output lines, e.g. {@code FID: 3.2081}, for the metrics computed. */
        public List<String> lines() {
            List<String> out = new ArrayList<>();
            add(out, "Inception Score", inceptionScore);
            add(out, "FID", fid);
            add(out, "sFID", sfid);
            add(out, "Precision", precision);
            add(out, "Recall", recall);
            return out;
        }

        private static void add(List<String> out, String name, Double v) {
            if (v != null) {
                out.add(name + ": " + PyFloat.repr(v));
            }
        }
    }

    /** One side of the comparison: its images (may be null) and precomputed statistics (may be empty). */
    private record Side(String name, ImageBatch images, Map<String, Tensor> stats) {}

    private AdmEvaluator() {}

    /**
     * FID, precision and recall from precomputed feature matrices (no Inception Score or sFID:
     * those need logits and spatial features).
     */
    public static Report fromFeatures(Features ref, Features sample) {
        if (ref.d() != sample.d()) {
            throw new NppException("reference features have " + ref.d() + " columns, sample features " + sample.d());
        }
        double fid = Frechet.distance(FeatureStats.of(sample), FeatureStats.of(ref));
        PrecisionRecall.Result pr = PrecisionRecall.compute(ref, sample);
        Map<String, String> prov = new LinkedHashMap<>();
        prov.put("reference-features", String.valueOf(ref.n()));
        prov.put("sample-features", String.valueOf(sample.n()));
        return new Report(null, fid, null, pr.precision(), pr.recall(), List.of(), prov);
    }

    /**
     * Computes the features of a batch of images; the default runs the feature model here, batch by
     * batch. A distributed caller (the Spark job) computes the same batches elsewhere and returns
     * them in index order.
     */
    @FunctionalInterface
    public interface FeatureExtractor {
        /** Features of every image of {@code images}, in order. */
        Map<Kind, Features> extract(ImageBatch images, String task);
    }

    /**
     * Evaluates a sample archive against a reference archive (both ADM-style {@code .npz}).
     *
     * @param model     the feature network, e.g. {@link FeatureModel#inceptionGraph(Path)} for the
     *                  published tables' numbers
     * @param batchSize images per model run ({@link InceptionGraphModel#ADM_BATCH_SIZE} is ADM's)
     */
    public static Report evaluate(Path refFile, Path sampleFile, FeatureModel model, int batchSize) {
        return evaluate(refFile, sampleFile, model, batchSize, (images, task) -> model.extract(images, batchSize, task));
    }

    /**
     * As {@link #evaluate(Path, Path, FeatureModel, int)}, with the features computed by {@code extractor}
     * in batches of {@code batchSize}.
     */
    public static Report evaluate(Path refFile, Path sampleFile, FeatureModel model, int batchSize, FeatureExtractor extractor) {
        RegularFiles.requireRegular(refFile, "reference batch");
        RegularFiles.requireRegular(sampleFile, "sample batch");
        try (Npz.Reader ref = Npz.open(refFile); Npz.Reader sam = Npz.open(sampleFile)) {
            Side r = side(refFile, ref, false);
            Side s = side(sampleFile, sam, true);
            return evaluate(r, s, model, batchSize, extractor);
        }
    }

    /** Evaluates images held in memory (e.g. the demo's samples) against a reference batch. */
    public static Report evaluate(ImageBatch ref, ImageBatch samples, FeatureModel model, int batchSize) {
        return evaluate(new Side(ref.name(), ref, Map.of()), new Side(samples.name(), samples, Map.of()), model,
                batchSize, (images, task) -> model.extract(images, batchSize, task));
    }

    private static Side side(Path file, Npz.Reader reader, boolean imagesRequired) {
        Map<String, Tensor> stats = new java.util.HashMap<>();
        for (String key : new String[]{"mu", "sigma", "mu_s", "sigma_s"}) {
            if (reader.names().contains(key)) {
                stats.put(key, reader.read(key));
            }
        }
        ImageBatch images = null;
        if (reader.names().contains(Npz.SAMPLES) || imagesRequired || !stats.containsKey("mu")) {
            images = ImageBatch.ofNpz(file, reader);
        }
        return new Side(file.toString(), images, stats);
    }

    private static Report evaluate(Side ref, Side sam, FeatureModel model, int batchSize, FeatureExtractor extractor) {
        List<String> notes = new ArrayList<>(model.notes());
        Map<Kind, Features> refActs = Collections.emptyMap();
        if (ref.images() != null) {
            LOG.info("computing reference batch activations...");
            refActs = extractor.extract(ref.images(), "reference features");
            refActs.values().forEach(f -> f.requireFinite(ref.name() + ": reference features"));
        }
        LOG.info("computing/reading reference batch statistics...");
        FeatureStats refPool = stats(ref, "mu", "sigma", refActs.get(Kind.POOL));
        FeatureStats refSpatial = stats(ref, "mu_s", "sigma_s", refActs.get(Kind.SPATIAL));
        LOG.info("computing sample batch activations...");
        Map<Kind, Features> samActs = extractor.extract(sam.images(), "sample features");
        samActs.values().forEach(f -> f.requireFinite(sam.name() + ": sample features"));
        LOG.info("computing/reading sample batch statistics...");
        FeatureStats samPool = stats(sam, "mu", "sigma", samActs.get(Kind.POOL));
        FeatureStats samSpatial = stats(sam, "mu_s", "sigma_s", samActs.get(Kind.SPATIAL));
        LOG.info("Computing evaluations...");

        Double is = null;
        if (samActs.containsKey(Kind.LOGITS)) {
            is = InceptionScore.fromLogits(samActs.get(Kind.LOGITS));
        } else {
            notes.add("Inception Score skipped: " + model.whyMissing(Kind.LOGITS));
        }
        Double fid = frechet("FID", samPool, refPool, ref, sam, model, Kind.POOL, "mu", notes);
        Double sfid = frechet("sFID", samSpatial, refSpatial, ref, sam, model, Kind.SPATIAL, "mu_s", notes);
        Double precision = null;
        Double recall = null;
        if (!model.has(Kind.POOL)) {
            notes.add("Precision and Recall skipped: " + model.whyMissing(Kind.POOL));
        } else if (!refActs.containsKey(Kind.POOL)) {
            notes.add("Precision and Recall skipped: " + ref.name() + " has no '" + Npz.SAMPLES
                    + "' reference images, only precomputed statistics");
        } else {
            checkWidth(ref, "reference", refActs.get(Kind.POOL), samActs.get(Kind.POOL));
            PrecisionRecall.Result pr = PrecisionRecall.compute(refActs.get(Kind.POOL), samActs.get(Kind.POOL));
            precision = pr.precision();
            recall = pr.recall();
        }
        Map<String, String> prov = new LinkedHashMap<>(model.provenance());
        prov.put("batch-size", String.valueOf(batchSize));
        prov.put("reference", ref.name());
        prov.put("reference-images", String.valueOf(ref.images() == null ? 0 : ref.images().count()));
        prov.put("reference-statistics", ref.stats().containsKey("mu") ? "precomputed" : "computed");
        prov.put("samples", sam.name());
        prov.put("sample-images", String.valueOf(sam.images().count()));
        return new Report(is, fid, sfid, precision, recall, List.copyOf(notes), Collections.unmodifiableMap(prov));
    }

    private static void checkWidth(Side ref, String what, Features a, Features b) {
        if (a.d() != b.d()) {
            throw new NppException(ref.name() + ": " + what + " features have " + a.d() + " columns, sample features " + b.d());
        }
    }

    private static Double frechet(String metric, FeatureStats sam, FeatureStats ref, Side refSide, Side samSide,
                                  FeatureModel model, Kind kind, String muKey, List<String> notes) {
        if (sam == null || ref == null) {
            notes.add(metric + " skipped: " + (model.has(kind) ? refSide.name() + " has neither reference images nor '"
                    + muKey + "'" : model.whyMissing(kind)));
            return null;
        }
        if (sam.dim() != ref.dim()) {
            String src = refSide.stats().containsKey(muKey) ? "precomputed '" + muKey + "' of " + refSide.name()
                    : "reference features";
            throw new NppException(metric + ": " + src + " has " + ref.dim() + " dimensions but the sample features of "
                    + samSide.name() + " have " + sam.dim() + " (statistics made with another feature network?)");
        }
        return Frechet.distance(sam, ref);
    }

    /** Precomputed statistics of a side when present (validated), else those of its activations, else null. */
    private static FeatureStats stats(Side side, String muKey, String sigmaKey, Features acts) {
        Tensor mu = side.stats().get(muKey);
        Tensor sigma = side.stats().get(sigmaKey);
        if (mu != null && sigma != null) {
            if (mu.rank() != 1 || !mu.dtype().isFloating()) {
                throw new NppException(side.name() + ": '" + muKey + "' must be a floating-point vector [D], got " + mu);
            }
            long d = mu.shape()[0];
            if (sigma.rank() != 2 || sigma.shape()[0] != d || sigma.shape()[1] != d || !sigma.dtype().isFloating()) {
                throw new NppException(side.name() + ": '" + sigmaKey + "' must be a floating-point [" + d + ", " + d
                        + "] matrix to go with '" + muKey + "', got " + sigma);
            }
            if (org.nextpatch.tensor.NonFinite.count(mu) + org.nextpatch.tensor.NonFinite.count(sigma) > 0) {
                throw new NppException(side.name() + ": '" + muKey + "' or '" + sigmaKey + "' holds NaN or infinite values");
            }
            double[] flat = sigma.toDoubleArray();
            double[][] s = new double[(int) d][];
            for (int i = 0; i < d; i++) {
                s[i] = Arrays.copyOfRange(flat, (int) (i * d), (int) ((i + 1) * d));
            }
            return new FeatureStats(mu.toDoubleArray(), s);
        }
        if (mu != null || sigma != null) {
            throw new NppException(side.name() + ": has '" + (mu != null ? muKey : sigmaKey) + "' but not '"
                    + (mu != null ? sigmaKey : muKey) + "'");
        }
        return acts == null ? null : FeatureStats.of(acts);
    }

    /** Reads a float [N, D] feature matrix from a .npy file (for {@code --ref-features}). */
    public static Features readFeatures(Path file, String flag) {
        RegularFiles.requireRegular(file, flag);
        try (Npy.Reader r = Npy.open(file)) {
            Npy.Header h = r.header();
            if (h.shape().length != 2) {
                throw new NppException(flag + " " + file + ": expected a feature matrix [N, D], got shape " + Arrays.toString(h.shape()));
            }
            if (!h.dtype().isFloating()) {
                throw new NppException(flag + " " + file + ": expected float32 features, got " + h.dtype());
            }
            return Features.of(r.readAll(), flag + " " + file);
        }
    }

    /** The lines and notes, for logs. */
    static String describe(Report r) {
        return String.join("\n", r.lines()) + (r.notes().isEmpty() ? "" : "\n" + String.join("\n", r.notes()));
    }

    static EnumMap<Kind, String> names(String pool, String spatial, String logits) {
        EnumMap<Kind, String> m = new EnumMap<>(Kind.class);
        m.put(Kind.POOL, pool);
        m.put(Kind.SPATIAL, spatial);
        m.put(Kind.LOGITS, logits);
        return m;
    }
}
