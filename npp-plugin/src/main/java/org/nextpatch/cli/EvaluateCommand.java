package org.nextpatch.cli;

import org.nextpatch.eval.AdmEvaluator;
import org.nextpatch.eval.FeatureModel;
import org.nextpatch.eval.Features;
import org.nextpatch.eval.InceptionGraphModel;
import org.nextpatch.eval.OnnxFeatureModel;
import org.nextpatch.eval.OnnxFeatureModel.Kind;
import org.nextpatch.util.NppException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code npp evaluate}: the ADM evaluator's metrics (Inception Score, FID, sFID, precision, recall)
 * of a sample batch against a reference batch, or FID / precision / recall of two precomputed
 * feature matrices.
 */
@Command(name = "evaluate", mixinStandardHelpOptions = true,
        description = {
                "Evaluate samples like the ADM evaluator: REF.npz SAMPLES.npz (arr_0 uint8 NHWC images; the reference "
                        + "may carry precomputed mu, sigma, mu_s, sigma_s), features from ADM's own Inception graph "
                        + "(--inception-pb, the published tables' numbers) or an ONNX feature model; "
                        + "prints Inception Score, FID, sFID, Precision, Recall.",
                "Or: --ref-features A.npy --sample-features B.npy (float32 [N, D]); prints FID, Precision, Recall."})
public final class EvaluateCommand implements Callable<Integer> {

    /** Where train-feature-net writes its model; the default feature model when it exists. */
    public static final Path DEFAULT_FEATURE_MODEL = Path.of("results", "feature-net", "feature-net.onnx");

    @Parameters(index = "0", arity = "0..1", paramLabel = "REF.npz", description = "Reference batch.")
    Path ref;

    @Parameters(index = "1", arity = "0..1", paramLabel = "SAMPLES.npz", description = "Sample batch (arr_0: uint8 [N, H, W, C]).")
    Path samples;

    @Option(names = "--ref-features", paramLabel = "A.npy", description = "Reference feature matrix, float32 [N, D].")
    Path refFeatures;

    @Option(names = "--sample-features", paramLabel = "B.npy", description = "Sample feature matrix, float32 [M, D].")
    Path sampleFeatures;

    @Option(names = "--feature-model", paramLabel = "FILE.onnx",
            description = "ONNX feature model: input uint8/float32 [N, H, W, C] images (0..255), outputs named by the "
                    + "--*-output options (an Inception-v3 export for ImageNet; the one train-feature-net writes for "
                    + "Fashion-MNIST). Default: " + "results/feature-net/feature-net.onnx when it exists.")
    Path featureModel;

    @Option(names = "--inception-pb", paramLabel = "classify_image_graph_def.pb",
            description = "ADM's TensorFlow Inception graph (from " + InceptionGraphModel.ADM_URL + ", about 96 MB, "
                    + "yours to download): features exactly as the ADM evaluator computes them, with TensorFlow Java. "
                    + "Replaces --feature-model and the --*-output options.")
    Path inceptionPb;

    @Option(names = "--batch-size", description = "Images per feature-model run (default 64, ADM's, with --inception-pb; "
            + "100 otherwise).")
    Integer batchSize;

    @Option(names = "--pool-output", defaultValue = "pool", paramLabel = "NAME",
            description = "Output with the pool features for FID and precision/recall (default ${DEFAULT-VALUE}).")
    String poolOutput;

    @Option(names = "--spatial-output", defaultValue = "spatial", paramLabel = "NAME",
            description = "Output with the spatial features for sFID (default ${DEFAULT-VALUE}).")
    String spatialOutput;

    @Option(names = "--logits-output", defaultValue = "logits", paramLabel = "NAME",
            description = "Output with the class logits for the Inception Score (default ${DEFAULT-VALUE}).")
    String logitsOutput;

    @Option(names = "--spatial-channels", defaultValue = "7", paramLabel = "C",
            description = "Channels kept of a 4-D spatial output, as the evaluator keeps 7 of mixed_6/conv (default ${DEFAULT-VALUE}; 0 keeps all). A 2-D output is used as it is.")
    int spatialChannels;

    @Option(names = "--spatial-layout", defaultValue = "nhwc", paramLabel = "nhwc|nchw",
            description = "Layout of a 4-D spatial output (default ${DEFAULT-VALUE}, TensorFlow's).")
    String spatialLayout;

    @Mixin
    SparkOptions spark;

    @Spec
    CommandSpec spec;

    /** The batch size used: the option's, else ADM's 64 with the graph, else 100. */
    int batchSize() {
        return batchSize != null ? batchSize : inceptionPb != null ? InceptionGraphModel.ADM_BATCH_SIZE : 100;
    }

    @Override
    public Integer call() {
        if (batchSize != null && batchSize < 1) {
            throw new NppCommand.UsageException("--batch-size must be positive");
        }
        if (inceptionPb != null) {
            if (featureModel != null) {
                throw new NppCommand.UsageException("give --inception-pb or --feature-model, not both");
            }
            if (refFeatures != null || sampleFeatures != null) {
                throw new NppCommand.UsageException("--inception-pb computes image features: give REF.npz SAMPLES.npz, not feature matrices");
            }
            for (String o : new String[]{"--pool-output", "--spatial-output", "--logits-output", "--spatial-channels", "--spatial-layout"}) {
                if (spec.commandLine().getParseResult().hasMatchedOption(o)) {
                    throw new NppCommand.UsageException(o + " is for --feature-model; --inception-pb reads ADM's tensors");
                }
            }
        }
        boolean featureMode = refFeatures != null || sampleFeatures != null;
        if (spark.enabled()) {
            if (featureMode) {
                throw new NppCommand.UsageException("--spark-master computes image features: give REF.npz SAMPLES.npz, not feature matrices");
            }
            if (ref == null || samples == null) {
                throw new NppCommand.UsageException("give REF.npz and SAMPLES.npz");
            }
            if (featureModel == null && inceptionPb == null) {
                throw new NppCommand.UsageException("--inception-pb or --feature-model is required with --spark-master");
            }
            if (!spatialLayout.equals("nhwc") && !spatialLayout.equals("nchw")) {
                throw new NppCommand.UsageException("--spatial-layout must be nhwc or nchw, got " + spatialLayout);
            }
            print(SparkCommands.evaluate(this));
            return 0;
        }
        if (featureMode) {
            if (refFeatures == null || sampleFeatures == null) {
                throw new NppCommand.UsageException("--ref-features and --sample-features go together");
            }
            if (ref != null || samples != null) {
                throw new NppCommand.UsageException("give either REF.npz SAMPLES.npz or --ref-features/--sample-features, not both");
            }
            Features a = AdmEvaluator.readFeatures(refFeatures, "--ref-features");
            Features b = AdmEvaluator.readFeatures(sampleFeatures, "--sample-features");
            if (a.d() != b.d()) {
                throw new NppException("--sample-features " + sampleFeatures + ": " + b.d()
                        + " feature columns, but --ref-features " + refFeatures + " has " + a.d());
            }
            print(AdmEvaluator.fromFeatures(a, b));
            return 0;
        }
        if (ref == null || samples == null) {
            throw new NppCommand.UsageException("give REF.npz and SAMPLES.npz, or --ref-features and --sample-features");
        }
        if (!spatialLayout.equals("nhwc") && !spatialLayout.equals("nchw")) {
            throw new NppCommand.UsageException("--spatial-layout must be nhwc or nchw, got " + spatialLayout);
        }
        if (inceptionPb != null) {
            try (FeatureModel fm = FeatureModel.inceptionGraph(inceptionPb)) {
                print(AdmEvaluator.evaluate(ref, samples, fm, batchSize()));
            }
            return 0;
        }
        Path model = featureModel;
        if (model == null) {
            if (!Files.isRegularFile(DEFAULT_FEATURE_MODEL)) {
                throw new NppCommand.UsageException("--feature-model is required (an ONNX Inception-v3 export for ImageNet; "
                        + "for Fashion-MNIST run 'npp train-feature-net' first, which writes " + DEFAULT_FEATURE_MODEL + ")");
            }
            model = DEFAULT_FEATURE_MODEL;
        }
        Map<Kind, String> names = new EnumMap<>(Kind.class);
        names.put(Kind.POOL, poolOutput);
        names.put(Kind.SPATIAL, spatialOutput);
        names.put(Kind.LOGITS, logitsOutput);
        try (OnnxFeatureModel fm = new OnnxFeatureModel(model, names, spatialChannels, spatialLayout.equals("nchw"))) {
            print(AdmEvaluator.evaluate(ref, samples, fm, batchSize()));
        }
        return 0;
    }

    static void print(AdmEvaluator.Report r) {
        for (String note : r.notes()) {
            System.err.println("note: " + note);
        }
        StringBuilder prov = new StringBuilder("provenance:");
        r.provenance().forEach((k, v) -> prov.append(' ').append(k).append('=').append(v));
        System.err.println(prov);
        for (String line : r.lines()) {
            System.out.println(line);
        }
        System.out.flush();
    }
}
