package org.nextpatch.tribuo;

import com.oracle.labs.mlrg.olcut.config.Config;
import com.oracle.labs.mlrg.olcut.config.PropertyException;
import com.oracle.labs.mlrg.olcut.provenance.Provenance;
import org.nextpatch.config.GptConfig;
import org.nextpatch.train.TrainConfig;
import org.nextpatch.util.NppException;
import org.tribuo.Dataset;
import org.tribuo.Example;
import org.tribuo.Trainer;
import org.tribuo.provenance.TrainerProvenance;
import org.tribuo.provenance.impl.TrainerProvenanceImpl;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.function.DoublePredicate;

/**
 * Trains a class-conditional LlamaGen transformer with Next Patch Prediction as a Tribuo
 * {@link Trainer}: every setting of a training run is a {@code @Config} field (so trainers load from
 * OLCUT XML/JSON configuration files and are recorded in the model's provenance), turned into the
 * project's {@link TrainConfig} and run by the project's one training loop.
 * <p>
 * Data: a {@code Dataset<TokenGrid>} whose examples carry the ground-truth grid as output and the
 * class as a feature (see {@link ClassCondition}). The grid side, and unless configured the
 * vocabulary and the class count, come from the data.
 * <p>
 * The model is given by exactly one of {@link #gptModel} (a LlamaGen size name), {@link #gptConfigFile}
 * (a JSON file with upstream {@code ModelArgs} names) or an inline custom size ({@link #dim},
 * {@link #nLayer}, {@link #nHead}).
 * <p>
 * Reproducibility follows Tribuo's SGD trainers: a {@link SplittableRandom} is made from
 * {@link #seed} in {@link #postConfig()}, each {@code train} call splits it under a lock and takes
 * the run's seed from the split, and {@link #setInvocationCount} replays the splits. On CPU the same
 * trainer, data and invocation count give bit-identical weights.
 */
public final class NppTrainer implements Trainer<TokenGrid> {

    // ---- the model ---------------------------------------------------------------------------

    @Config(description = "LlamaGen model size: GPT-B, GPT-L, GPT-XL or GPT-XXL (upstream --gpt-model). "
            + "Give exactly one of gptModel, gptConfigFile or an inline size (dim, nLayer, nHead).")
    private String gptModel;

    @Config(description = "JSON model configuration with upstream ModelArgs names (upstream --gpt-config).")
    private Path gptConfigFile;

    @Config(description = "Inline custom size: model width d (0 = not used).")
    private int dim = 0;

    @Config(description = "Inline custom size: number of transformer blocks.")
    private int nLayer = 0;

    @Config(description = "Inline custom size: number of attention heads (head dim = dim / nHead, a multiple of 4).")
    private int nHead = 0;

    @Config(description = "Inline custom size: the FFN hidden size is rounded up to a multiple of this.")
    private int multipleOf = 256;

    @Config(description = "Token vocabulary (codebook) size; -1 = the data source's (the tokenizer's codebook size "
            + "its extraction record gives), else largest token in the data + 1. "
            + "Used by named and inline sizes; a config file's vocab_size wins.")
    private int vocabSize = -1;

    @Config(description = "Number of classes; -1 = the data source's (its classes.txt), else largest class in the data + 1. "
            + "Used by named and inline sizes; a config file's num_classes wins.")
    private int numClasses = -1;

    @Config(description = "Tokenizer downsampling factor (upstream --downsample-size); image size = grid side * this.")
    private int downsampleSize = 16;

    @Config(description = "Name of the example feature holding the class index.")
    private String classFeature = ClassCondition.DEFAULT_NAME;

    // ---- the NPP schedule --------------------------------------------------------------------

    @Config(description = "Number of training epochs (upstream --epochs).")
    private int epochs = 300;

    @Config(description = "NPP patch level (upstream --patch-level): 2 -> tokens per patch [4, 1], "
            + "3 -> [16, 4, 1], 4 -> [64, 16, 4, 1], anything else -> plain next-token training.")
    private int patchLevel = 1;

    @Config(description = "NPP epoch rate r in (0, 1] (upstream --epoch-rate): stage ends at int(E * r^i) epochs.")
    private double epochRate = 0.5;

    @Config(description = "Per-stage learning-rate cycle: warm-up, constant, linear decay (upstream --scheduler).")
    private boolean scheduler = false;

    @Config(description = "Warm-up length in epochs of each stage's learning-rate cycle (upstream --warmup-epochs).")
    private double warmupEpochs = 1;

    @Config(description = "Share of each stage's steps spent decaying to endLr (upstream --decay-ratio).")
    private double decayRatio = 0.2;

    // ---- the optimizer -----------------------------------------------------------------------

    @Config(description = "Peak learning rate (upstream --lr).")
    private double lr = 1e-4;

    @Config(description = "Final learning rate of each stage's decay (upstream --end-lr).")
    private double endLr = 1e-5;

    @Config(description = "AdamW beta1.")
    private double beta1 = 0.9;

    @Config(description = "AdamW beta2.")
    private double beta2 = 0.95;

    @Config(description = "AdamW decoupled weight decay, applied to parameters with 2 or more dimensions only.")
    private double weightDecay = 0.05;

    @Config(description = "AdamW epsilon.")
    private double eps = 1e-8;

    @Config(description = "Global gradient-norm clipping threshold; 0 disables clipping (upstream --max-grad-norm).")
    private double maxGradNorm = 1.0;

    @Config(description = "Examples per optimizer step (upstream --global-batch-size).")
    private int globalBatchSize = 256;

    @Config(description = "Micro-batches per optimizer step (upstream --gradient-accumulation-steps).")
    private int gradientAccumulationSteps = 1;

    // ---- regularisation ----------------------------------------------------------------------

    @Config(description = "Probability of replacing a class by the null class in training; -1 = the model's (0.1).")
    private double classDropoutProb = -1;

    @Config(description = "Input (token) dropout; -1 = the model's (0.1).")
    private double tokenDropoutP = -1;

    @Config(description = "Residual dropout; -1 = the model's (0.1).")
    private double residDropoutP = -1;

    @Config(description = "Feed-forward dropout; -1 = the model's (0.1).")
    private double ffnDropoutP = -1;

    @Config(description = "Keep an exponential moving average of the weights; the model then uses the EMA weights.")
    private boolean ema = false;

    @Config(description = "EMA decay.")
    private double emaDecay = 0.9999;

    // ---- the run -----------------------------------------------------------------------------

    @Config(description = "Seed of the trainer's random stream; each train call draws its run seed from a split of it.")
    private long seed = Trainer.DEFAULT_SEED;

    @Config(description = "Device: cpu, gpu, gpu:N or gpu:0,1,... (data parallel).")
    private String device = "cpu";

    @Config(description = "Directory for checkpoints (upstream layout), metrics.csv and loss.png; "
            + "unset = a temporary directory removed after training.")
    private Path resultsDir;

    @Config(description = "Write a checkpoint every N optimizer steps (and at the end); 0 = only at the end.")
    private long ckptEvery = 0;

    @Config(description = "Fraction of the examples held out for a per-epoch next-token loss; 0 = none.")
    private double heldOutFraction = 0;

    @Config(description = "Stop after this many optimizer steps in total; 0 = no limit.")
    private long maxSteps = 0;

    private SplittableRandom rng;
    private int invocationCount = 0;

    /** For OLCUT: configure through the fields, then {@link #postConfig()} runs. */
    public NppTrainer() {
    }

    /**
     * A trainer for an inline custom size with the remaining settings at their defaults (upstream's).
     *
     * @param dim    model width
     * @param nLayer transformer blocks
     * @param nHead  attention heads
     */
    public static NppTrainer customSize(int dim, int nLayer, int nHead) {
        checkInlineSize(dim, nLayer, nHead);
        NppTrainer t = new NppTrainer();
        t.dim = dim;
        t.nLayer = nLayer;
        t.nHead = nHead;
        t.postConfig();
        return t;
    }

    /** The range of a numeric setting: what it must be, and the test. */
    private record Rule(String text, DoublePredicate ok) {
    }

    /** Every numeric setting's range, checked by {@link #postConfig()} and by the setters. */
    private static final Map<String, Rule> RULES = new LinkedHashMap<>();

    static {
        String fromData = "must be -1 (from the data) or positive";
        String dropout = "must be -1 (the model's) or in [0, 1)";
        rule("multipleOf", "must be positive", v -> v > 0);
        rule("vocabSize", fromData, v -> v == -1 || v > 0);
        rule("numClasses", fromData, v -> v == -1 || v > 0);
        rule("downsampleSize", "must be positive", v -> v > 0);
        rule("epochs", "must be positive", v -> v > 0);
        rule("epochRate", "must be in (0, 1]", v -> v > 0 && v <= 1);
        rule("warmupEpochs", "must be >= 0", v -> v >= 0);
        rule("decayRatio", "must be in [0, 1]", v -> v >= 0 && v <= 1);
        rule("lr", "must be positive", v -> v > 0);
        rule("endLr", "must be >= 0", v -> v >= 0);
        rule("beta1", "must be in [0, 1)", v -> v >= 0 && v < 1);
        rule("beta2", "must be in [0, 1)", v -> v >= 0 && v < 1);
        rule("weightDecay", "must be >= 0", v -> v >= 0);
        rule("eps", "must be positive", v -> v > 0);
        rule("maxGradNorm", "must be >= 0 (0 disables clipping)", v -> v >= 0);
        rule("globalBatchSize", "must be positive", v -> v > 0);
        rule("gradientAccumulationSteps", "must be positive", v -> v > 0);
        rule("classDropoutProb", dropout, v -> v == -1 || (v >= 0 && v < 1));
        rule("tokenDropoutP", dropout, v -> v == -1 || (v >= 0 && v < 1));
        rule("residDropoutP", dropout, v -> v == -1 || (v >= 0 && v < 1));
        rule("ffnDropoutP", dropout, v -> v == -1 || (v >= 0 && v < 1));
        rule("emaDecay", "must be in (0, 1)", v -> v > 0 && v < 1);
        rule("ckptEvery", "must be >= 0 (0 = only at the end)", v -> v >= 0);
        rule("heldOutFraction", "must be in [0, 1)", v -> v >= 0 && v < 1);
        rule("maxSteps", "must be >= 0 (0 = no limit)", v -> v >= 0);
    }

    private static void rule(String field, String text, DoublePredicate ok) {
        RULES.put(field, new Rule(text, ok));
    }

    /** The current value of a numeric setting. */
    private double value(String field) {
        return switch (field) {
            case "multipleOf" -> multipleOf;
            case "vocabSize" -> vocabSize;
            case "numClasses" -> numClasses;
            case "downsampleSize" -> downsampleSize;
            case "epochs" -> epochs;
            case "epochRate" -> epochRate;
            case "warmupEpochs" -> warmupEpochs;
            case "decayRatio" -> decayRatio;
            case "lr" -> lr;
            case "endLr" -> endLr;
            case "beta1" -> beta1;
            case "beta2" -> beta2;
            case "weightDecay" -> weightDecay;
            case "eps" -> eps;
            case "maxGradNorm" -> maxGradNorm;
            case "globalBatchSize" -> globalBatchSize;
            case "gradientAccumulationSteps" -> gradientAccumulationSteps;
            case "classDropoutProb" -> classDropoutProb;
            case "tokenDropoutP" -> tokenDropoutP;
            case "residDropoutP" -> residDropoutP;
            case "ffnDropoutP" -> ffnDropoutP;
            case "emaDecay" -> emaDecay;
            case "ckptEvery" -> ckptEvery;
            case "heldOutFraction" -> heldOutFraction;
            case "maxSteps" -> maxSteps;
            default -> throw new IllegalArgumentException("no numeric setting " + field);
        };
    }

    /** Refuses a value outside the setting's range, naming the field. */
    private static void check(String field, double v) {
        Rule r = RULES.get(field);
        if (!Double.isFinite(v) || !r.ok().test(v)) {
            fail(field, r.text() + ", got " + v);
        }
    }

    private static void fail(String field, String message) {
        throw new PropertyException("", field, "NppTrainer." + field + " " + message);
    }

    /**
     * Validates every setting and their fit with each other (so a bad configuration fails at
     * {@code ConfigurationManager.lookup}, not at {@code train}), then creates the random stream
     * (Tribuo's SGD convention).
     *
     * @throws PropertyException naming the field and the problem
     */
    @Override
    public synchronized void postConfig() {
        boolean named = gptModel != null && !gptModel.isBlank();
        int sources = (named ? 1 : 0) + (gptConfigFile != null ? 1 : 0) + (dim != 0 ? 1 : 0);
        if (sources != 1) {
            throw new PropertyException("", "gptModel", sources == 0
                    ? "NppTrainer needs a model: set gptModel (e.g. GPT-B), gptConfigFile, or an inline size (dim, nLayer, nHead)"
                    : "NppTrainer: set only one of gptModel, gptConfigFile and an inline size (dim, nLayer, nHead)");
        }
        if (named && !GptConfig.names().contains(gptModel.toUpperCase(Locale.ROOT))) {
            fail("gptModel", "'" + gptModel + "' is not a LlamaGen size; choose one of " + GptConfig.names());
        }
        if (gptConfigFile != null) {
            try {
                GptConfig.fromJson(gptConfigFile);
            } catch (NppException e) {
                fail("gptConfigFile", gptConfigFile + ": " + e.getMessage());
            }
        }
        if (dim != 0) {
            checkInlineSize(dim, nLayer, nHead);
        }
        for (String field : RULES.keySet()) {
            check(field, value(field));
        }
        if (globalBatchSize % gradientAccumulationSteps != 0) {
            fail("globalBatchSize", globalBatchSize + " must be divisible by gradientAccumulationSteps "
                    + gradientAccumulationSteps);
        }
        checkDevice(device);
        if (classFeature == null || classFeature.isBlank()) {
            fail("classFeature", "must name the feature holding the class index");
        }
        this.rng = new SplittableRandom(seed);
    }

    private static void checkInlineSize(int dim, int nLayer, int nHead) {
        if (dim <= 0) {
            fail("dim", "must be positive, got " + dim);
        }
        if (nLayer <= 0) {
            fail("nLayer", "must be positive for an inline size, got " + nLayer);
        }
        if (nHead <= 0 || dim % nHead != 0 || (dim / nHead) % 4 != 0) {
            fail("nHead", nHead + " must divide dim " + dim + " into heads whose size is a multiple of 4 (2-D RoPE)");
        }
    }

    private static void checkDevice(String device) {
        try {
            TrainConfig.DeviceSpec.parse(Objects.requireNonNull(device, "device"));
        } catch (RuntimeException e) {
            fail("device", "'" + device + "' is not a device: cpu, gpu, gpu:N or gpu:0,1,...");
        }
    }

    // ---- fluent setters for programmatic use (each returns this) ------------------------------

    /** Sets the epochs. */
    public NppTrainer setEpochs(int v) { check("epochs", v); epochs = v; return this; }
    /** Sets the NPP patch level. */
    public NppTrainer setPatchLevel(int v) { patchLevel = v; return this; }
    /** Sets the NPP epoch rate. */
    public NppTrainer setEpochRate(double v) { check("epochRate", v); epochRate = v; return this; }
    /** Turns the per-stage learning-rate cycle on or off. */
    public NppTrainer setScheduler(boolean v) { scheduler = v; return this; }
    /** Sets the peak learning rate. */
    public NppTrainer setLr(double v) { check("lr", v); lr = v; return this; }
    /** Sets the examples per optimizer step. */
    public NppTrainer setGlobalBatchSize(int v) {
        check("globalBatchSize", v);
        if (v % gradientAccumulationSteps != 0) {
            fail("globalBatchSize", v + " must be divisible by gradientAccumulationSteps " + gradientAccumulationSteps);
        }
        globalBatchSize = v;
        return this;
    }
    /** Sets every dropout (class, token, residual, FFN) at once. */
    public NppTrainer setAllDropouts(double v) {
        check("classDropoutProb", v);
        classDropoutProb = v;
        tokenDropoutP = v;
        residDropoutP = v;
        ffnDropoutP = v;
        return this;
    }
    /** Sets the FFN rounding of an inline size. */
    public NppTrainer setMultipleOf(int v) { check("multipleOf", v); multipleOf = v; return this; }
    /** Sets the vocabulary size (-1: from the data). */
    public NppTrainer setVocabSize(int v) { check("vocabSize", v); vocabSize = v; return this; }
    /** Sets the class count (-1: from the data). */
    public NppTrainer setNumClasses(int v) { check("numClasses", v); numClasses = v; return this; }
    /** Sets the device. */
    public NppTrainer setDevice(String v) { checkDevice(v); device = v; return this; }
    /** Sets the results directory (checkpoints, metrics). */
    public NppTrainer setResultsDir(Path v) { resultsDir = v; return this; }
    /** Sets the step limit. */
    public NppTrainer setMaxSteps(long v) { check("maxSteps", v); maxSteps = v; return this; }
    /** Sets the tokenizer's downsampling factor (recorded as the image size in checkpoints). */
    public NppTrainer setDownsampleSize(int v) { check("downsampleSize", v); downsampleSize = v; return this; }
    /** Sets the warm-up length of each stage's learning-rate cycle, in epochs. */
    public NppTrainer setWarmupEpochs(double v) { check("warmupEpochs", v); warmupEpochs = v; return this; }
    /** Sets the share of examples held out for a per-epoch next-token loss. */
    public NppTrainer setHeldOutFraction(double v) { check("heldOutFraction", v); heldOutFraction = v; return this; }
    /** Sets the seed and restarts the random stream (invocation count 0). */
    public synchronized NppTrainer setSeed(long v) {
        seed = v;
        postConfig();
        invocationCount = 0;
        return this;
    }

    /** The class feature's name. */
    public String getClassFeature() {
        return classFeature;
    }

    /** The configured device. */
    public String getDevice() {
        return device;
    }

    // ---- training ----------------------------------------------------------------------------

    @Override
    public NppModel train(Dataset<TokenGrid> examples) {
        return train(examples, Collections.emptyMap());
    }

    @Override
    public NppModel train(Dataset<TokenGrid> examples, Map<String, Provenance> runProvenance) {
        return train(examples, runProvenance, INCREMENT_INVOCATION_COUNT);
    }

    @Override
    public NppModel train(Dataset<TokenGrid> examples, Map<String, Provenance> runProvenance, int invocation) {
        // Validate the data first, so a rejected dataset does not use up an invocation.
        NppTraining.Data data = NppTraining.collect(this, examples);
        TrainerProvenance trainerProvenance;
        long runSeed;
        synchronized (this) {
            if (invocation != INCREMENT_INVOCATION_COUNT) {
                setInvocationCount(invocation);
            }
            SplittableRandom local = rng.split();
            runSeed = local.nextLong();
            trainerProvenance = getProvenance();
            invocationCount++;
        }
        return NppTraining.run(this, examples, data, runProvenance == null ? Collections.emptyMap() : runProvenance,
                trainerProvenance, runSeed);
    }

    @Override
    public int getInvocationCount() {
        return invocationCount;
    }

    /** Replays the random stream's splits so the next train call behaves as call number {@code count}. */
    @Override
    public synchronized void setInvocationCount(int count) {
        if (count < 0) {
            throw new IllegalArgumentException("invocation count must be >= 0, got " + count);
        }
        rng = new SplittableRandom(seed);
        for (invocationCount = 0; invocationCount < count; invocationCount++) {
            rng.split();
        }
    }

    @Override
    public TrainerProvenance getProvenance() {
        return new TrainerProvenanceImpl(this);
    }

    @Override
    public String toString() {
        return "NppTrainer(" + modelDescription() + ", epochs=" + epochs + ", patchLevel=" + patchLevel
                + ", epochRate=" + epochRate + ", lr=" + lr + ", batch=" + globalBatchSize + ", seed=" + seed
                + ", device=" + device + ")";
    }

    private String modelDescription() {
        if (gptModel != null && !gptModel.isBlank()) {
            return gptModel;
        }
        if (gptConfigFile != null) {
            return gptConfigFile.toString();
        }
        return "dim=" + dim + ", nLayer=" + nLayer + ", nHead=" + nHead;
    }

    /**
     * The {@link TrainConfig} of one run on data with the given shape.
     *
     * @param gridSide  token grid side G of the data
     * @param dataVocab largest token in the data + 1
     * @param dataClass largest class in the data + 1
     * @param runSeed   the run's seed (drawn from the trainer's stream)
     * @param results   the results directory of this run
     */
    TrainConfig toTrainConfig(int gridSide, int dataVocab, int dataClass, long runSeed, Path results) {
        return toTrainConfig(gridSide, dataVocab, dataClass, -1, -1, runSeed, results);
    }

    /**
     * As {@link #toTrainConfig(int, int, int, long, Path)}, with the vocabulary and class count the data
     * source records (-1: not recorded), which win over the data's largest values when the trainer sets none.
     */
    TrainConfig toTrainConfig(int gridSide, int dataVocab, int dataClass, int sourceVocab, int sourceClasses,
                              long runSeed, Path results) {
        int vocab = vocabSize > 0 ? vocabSize : sourceVocab > 0 ? sourceVocab : dataVocab;
        int classes = numClasses > 0 ? numClasses : sourceClasses > 0 ? sourceClasses : dataClass;
        TrainConfig.Builder b = TrainConfig.builder()
                .imageSize(gridSide * downsampleSize).downsampleSize(downsampleSize)
                .vocabSize(vocab).numClasses(classes)
                .epochs(epochs).patchLevel(patchLevel).epochRate(epochRate)
                .scheduler(scheduler).warmupEpochs(warmupEpochs).decayRatio(decayRatio).lr(lr).endLr(endLr)
                .beta1(beta1).beta2(beta2).weightDecay(weightDecay).eps(eps).maxGradNorm(maxGradNorm)
                .globalBatchSize(globalBatchSize).gradientAccumulationSteps(gradientAccumulationSteps)
                .classDropoutProb(override(classDropoutProb)).tokenDropoutP(override(tokenDropoutP))
                .residDropoutP(override(residDropoutP)).ffnDropoutP(override(ffnDropoutP)).ema(ema).emaDecay(emaDecay)
                .seed(runSeed).device(device).ckptEvery(ckptEvery).heldOutFraction(heldOutFraction)
                .resultsDir(results).maxSteps(maxSteps);
        if (gptModel != null && !gptModel.isBlank()) {
            b.gptModel(gptModel);
        } else if (gptConfigFile != null) {
            b.gptConfigFile(gptConfigFile);
        } else {
            // Upstream ModelArgs defaults for everything an inline size does not name.
            b.gptConfig(new GptConfig(dim, nLayer, nHead, vocab, classes, gridSide * gridSide, 1, multipleOf, null,
                    1e-5, 10000, 0.1, 0.0, 0.1, 0.1, 0.1));
        }
        TrainConfig c = b.build();
        GptConfig m = c.model();
        if (m.vocabSize() < dataVocab) {
            throw new NppException("the data holds token " + (dataVocab - 1) + " but the model's vocabulary has "
                    + m.vocabSize() + " entries");
        }
        if (m.numClasses() < dataClass) {
            throw new NppException("unknown class " + (dataClass - 1) + ": the model knows classes 0.."
                    + (m.numClasses() - 1));
        }
        return c;
    }

    /** A dropout override: negative means "the model's own value". */
    private static Double override(double p) {
        return p < 0 ? null : p;
    }

    /** Whether the model keeps the EMA weights. */
    boolean useEma() {
        return ema;
    }

    /** Whether a results directory was configured (otherwise a temporary one is used and removed). */
    Path configuredResultsDir() {
        return resultsDir;
    }

    /** Helper for {@link NppTraining}: the class of an example under this trainer's feature name. */
    int classOf(Example<TokenGrid> ex) {
        return ClassCondition.classOf(ex, classFeature);
    }
}
