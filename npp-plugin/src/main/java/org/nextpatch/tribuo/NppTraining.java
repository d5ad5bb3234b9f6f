package org.nextpatch.tribuo;

import ai.djl.engine.Engine;
import com.oracle.labs.mlrg.olcut.provenance.Provenance;
import com.oracle.labs.mlrg.olcut.provenance.primitives.DoubleProvenance;
import com.oracle.labs.mlrg.olcut.provenance.primitives.LongProvenance;
import com.oracle.labs.mlrg.olcut.provenance.primitives.StringProvenance;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.config.GptConfig;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.data.InMemoryCodeSet;
import org.nextpatch.train.NppTrainingLoop;
import org.nextpatch.train.TrainConfig;
import org.nextpatch.train.TrainingListener;
import org.nextpatch.train.TrainingResult;
import org.tribuo.Dataset;
import org.tribuo.Example;
import org.tribuo.ImmutableFeatureMap;
import org.tribuo.provenance.DatasetProvenance;
import org.tribuo.provenance.ModelProvenance;
import org.tribuo.provenance.TrainerProvenance;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.util.Comparator;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Optional;
import java.util.Map;
import java.util.stream.Stream;

/**
 * One {@link NppTrainer#train} call: turns a Tribuo dataset into the training loop's in-memory
 * data, runs the project's training loop with the trainer's {@link TrainConfig}, and wraps the
 * result as an {@link NppModel} with a full {@link ModelProvenance}.
 */
final class NppTraining {
    private static final Logger LOG = LogManager.getLogger(NppTraining.class);

    /** Instance provenance keys added to every NPP model. */
    static final String DJL_VERSION = "djl-version";
    static final String PYTORCH_VERSION = "pytorch-version";
    static final String DEVICE = "device";
    static final String RUN_SEED = "run-seed";
    static final String STEPS = "optimizer-steps";
    static final String FINAL_LOSS = "final-train-loss";
    static final String TRAIN_SECONDS = "train-seconds";
    static final String NPP_VERSION = "npp-version";
    static final String GIT_COMMIT = "npp-git-commit";

    static final String INTRA_OP_THREADS = "intra-op-threads";
    static final String VOCAB_SIZE = "vocab-size";
    static final String NUM_CLASSES = "num-classes";
    static final String GRID_SIDE = "grid-side";

    private NppTraining() {
    }

    /** The tokens and classes of a dataset, checked. */
    /**
     * The training images: {@code codes[image][augmentation][token]} and one class per image.
     * Examples that all carry the metadata {@value CodeDirectorySource#IMAGE_KEY} are grouped by it,
     * so the stored augmentations of one image stay one image (the loop draws one of them per
     * epoch, as upstream training does); otherwise every example is an image of its own.
     */
    record Data(long[][][] codes, int[] labels, int gridSide, int vocabSeen, int classesSeen) {
        int images() {
            return codes.length;
        }

        int examples() {
            int n = 0;
            for (long[][] c : codes) {
                n += c.length;
            }
            return n;
        }
    }

    static Data collect(NppTrainer trainer, Dataset<TokenGrid> dataset) {
        int n = dataset.size();
        if (n == 0) {
            throw new IllegalArgumentException("cannot train an NPP model on an empty dataset");
        }
        long[][] tokens = new long[n][];
        long[] labels = new long[n];
        int side = -1;
        int vocab = 0;
        int classes = 0;
        int i = 0;
        for (Example<TokenGrid> ex : dataset) {
            TokenGrid g = ex.getOutput();
            if (g.isUnknown()) {
                throw new IllegalArgumentException("example " + i + " has no token grid (unknown output); "
                        + "NppTrainer needs a ground-truth grid for every example");
            }
            if (side < 0) {
                side = g.side();
            } else if (g.side() != side) {
                throw new IllegalArgumentException("example " + i + " has a " + g.side() + "x" + g.side()
                        + " grid, the ones before are " + side + "x" + side);
            }
            int k;
            try {
                k = trainer.classOf(ex);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("example " + i + ": " + e.getMessage(), e);
            }
            tokens[i] = g.tokensAsLongs();
            labels[i] = k;
            vocab = Math.max(vocab, g.maxToken() + 1);
            classes = Math.max(classes, k + 1);
            i++;
        }
        return group(dataset, tokens, labels, side, vocab, classes);
    }

    private static Data group(Dataset<TokenGrid> dataset, long[][] tokens, long[] labels, int side, int vocab,
                              int classes) {
        List<Object> ids = new ArrayList<>(tokens.length);
        for (Example<TokenGrid> ex : dataset) {
            Optional<Object> id = ex.getMetadataValue(CodeDirectorySource.IMAGE_KEY);
            if (id.isEmpty()) {
                ids = null;
                break;
            }
            ids.add(id.get());
        }
        Map<Object, List<Integer>> byImage = new LinkedHashMap<>();
        for (int i = 0; i < tokens.length; i++) {
            byImage.computeIfAbsent(ids == null ? (Object) i : ids.get(i), k -> new ArrayList<>()).add(i);
        }
        long[][][] codes = new long[byImage.size()][][];
        int[] lab = new int[byImage.size()];
        int img = 0;
        for (Map.Entry<Object, List<Integer>> e : byImage.entrySet()) {
            List<Integer> members = e.getValue();
            codes[img] = new long[members.size()][];
            lab[img] = (int) labels[members.get(0)];
            for (int a = 0; a < members.size(); a++) {
                int i = members.get(a);
                if (labels[i] != lab[img]) {
                    throw new IllegalArgumentException("examples " + members.get(0) + " and " + i + " are crops of image "
                            + e.getKey() + " but have classes " + lab[img] + " and " + labels[i]);
                }
                codes[img][a] = tokens[i];
            }
            img++;
        }
        return new Data(codes, lab, side, vocab, classes);
    }

    static NppModel run(NppTrainer trainer, Dataset<TokenGrid> dataset, Data data,
                        Map<String, Provenance> runProvenance, TrainerProvenance trainerProvenance, long runSeed) {
        Path configured = trainer.configuredResultsDir();
        Path results;
        try {
            results = configured != null ? configured : Files.createTempDirectory("npp-tribuo-");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a temporary results directory", e);
        }
        try {
            TrainConfig config = trainer.toTrainConfig(data.gridSide(), data.vocabSeen(), data.classesSeen(),
                    recordedSize(dataset, CodeDirectorySource.VOCAB_SIZE),
                    recordedSize(dataset, CodeDirectorySource.NUM_CLASSES), runSeed, results);
            GptConfig model = config.model();
            LOG.info("Training NPP model ({} parameters) on {} images of {}x{} tokens, {} classes, device {}",
                    model.parameterCount(), data.images(), data.gridSide(), data.gridSide(),
                    model.numClasses(), config.device());
            long start = System.nanoTime();
            LoopResult r = runLoop(config, data, trainer.useEma());
            double seconds = (System.nanoTime() - start) / 1e9;

            Map<String, Provenance> instance = new HashMap<>(runProvenance);
            instance.put(DJL_VERSION, new StringProvenance(DJL_VERSION, Engine.getDjlVersion()));
            instance.put(PYTORCH_VERSION, new StringProvenance(PYTORCH_VERSION, pytorchVersion()));
            instance.put(DEVICE, new StringProvenance(DEVICE, config.device() + " ("
                    + NppModel.djlDevice(config.device()) + ")"));
            instance.put(RUN_SEED, new LongProvenance(RUN_SEED, runSeed));
            instance.put(STEPS, new LongProvenance(STEPS, r.steps()));
            instance.put(FINAL_LOSS, new DoubleProvenance(FINAL_LOSS, r.finalLoss()));
            instance.put(TRAIN_SECONDS, new DoubleProvenance(TRAIN_SECONDS, Math.round(seconds * 1000) / 1000.0));
            // what was trained, resolved (the trainer's fields record the request, e.g. -1 = from the data)
            instance.put(VOCAB_SIZE, new LongProvenance(VOCAB_SIZE, model.vocabSize()));
            instance.put(NUM_CLASSES, new LongProvenance(NUM_CLASSES, model.numClasses()));
            instance.put(GRID_SIDE, new LongProvenance(GRID_SIDE, model.gridSide()));
            instance.put(NPP_VERSION, new StringProvenance(NPP_VERSION, org.nextpatch.util.BuildInfo.version()));
            instance.put(GIT_COMMIT, new StringProvenance(GIT_COMMIT, org.nextpatch.util.BuildInfo.commit()));
            // results are bit-identical for the same seed and thread count (RecordedThreads compares it)
            // size and SHA-256 of the trained weights (saving inline as float32 keeps the provenance equal)
            instance.putAll(NppModelFile.inlineWeightsProvenance(r.weights()));
            instance.put(INTRA_OP_THREADS, new LongProvenance(INTRA_OP_THREADS, ai.djl.pytorch.jni.JniUtils.getNumThreads()));
            ModelProvenance provenance = new ModelProvenance(NppModel.class.getName(), OffsetDateTime.now(),
                    (DatasetProvenance) dataset.getProvenance(), trainerProvenance, instance);
            // The model's output domain: the grids it produces (side, vocabulary), not only what the data held.
            TokenGridInfo seen = (TokenGridInfo) dataset.getOutputInfo();
            ImmutableTokenGridInfo produces = new ImmutableTokenGridInfo(model.gridSide(),
                    Math.max(model.vocabSize(), seen.getVocabularySeen()), seen.getGridCount());
            NppModel trained = new NppModel("npp-model", provenance, new ImmutableFeatureMap(dataset.getFeatureMap()),
                    produces, model, r.weights(), trainer.getClassFeature(), runSeed,
                    NppModel.defaultSampling(), NppModel.DEFAULT_SEED_KEY, config.device(), 16);
            List<String> names = recordedClassNames(dataset);
            if (names.size() == model.numClasses()) {
                trained.setClassNames(names);
            } else if (!names.isEmpty()) {
                LOG.warn("the data source names {} classes but the model has {} (numClasses): the model keeps no class names",
                        names.size(), model.numClasses());
            }
            return trained;
        } finally {
            if (configured == null) {
                deleteQuietly(results);
            }
        }
    }

    /**
     * A size the dataset's source records in its provenance ({@link CodeDirectorySource#VOCAB_SIZE},
     * {@link CodeDirectorySource#NUM_CLASSES}; the codebook and class count of the extraction), -1 when none.
     */
    static int recordedSize(Dataset<TokenGrid> dataset, String key) {
        DatasetProvenance dp = dataset.getProvenance();
        if (dp != null && dp.getSourceProvenance() != null) {
            for (com.oracle.labs.mlrg.olcut.util.Pair<String, Provenance> p : dp.getSourceProvenance()) {
                if (p.getA().equals(key) && p.getB() instanceof LongProvenance v && v.getValue() > 0) {
                    return Math.toIntExact(v.getValue());
                }
            }
        }
        return -1;
    }

    /** The class names the dataset's source records ({@link CodeDirectorySource#CLASS_NAMES}), empty when none. */
    static List<String> recordedClassNames(Dataset<TokenGrid> dataset) {
        DatasetProvenance dp = dataset.getProvenance();
        if (dp != null && dp.getSourceProvenance() != null) {
            for (com.oracle.labs.mlrg.olcut.util.Pair<String, Provenance> p : dp.getSourceProvenance()) {
                if (p.getA().equals(CodeDirectorySource.CLASS_NAMES) && p.getB() instanceof StringProvenance v) {
                    return CodeDirectorySource.classNames(v);
                }
            }
        }
        return List.of();
    }

    /** What the loop hands back. */
    record LoopResult(Map<String, Tensor> weights, long steps, double finalLoss) {
    }

    static String pytorchVersion() {
        try {
            return Engine.getEngine("PyTorch").getVersion();
        } catch (RuntimeException e) {
            return "unavailable (" + e.getMessage() + ")";
        }
    }

    private static void deleteQuietly(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    LOG.debug("could not delete {}: {}", p, e.getMessage());
                }
            });
        } catch (IOException e) {
            LOG.debug("could not clean {}: {}", dir, e.getMessage());
        }
    }

    /** Runs the project's training loop over the dataset's grids (one augmentation per image). */
    private static LoopResult runLoop(TrainConfig config, Data data, boolean useEma) {
        TrainingResult r = NppTrainingLoop.train(config, new InMemoryCodeSet(data.codes(), data.labels()),
                new TrainingListener() { });
        Map<String, Tensor> weights = useEma && r.emaWeights() != null ? r.emaWeights() : r.weights();
        double finalLoss = r.steps().isEmpty() ? Double.NaN : r.steps().get(r.steps().size() - 1).loss();
        return new LoopResult(weights, r.stepsDone(), finalLoss);
    }
}
