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
import java.util.Map;
import java.util.SplittableRandom;

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

    @Config(description = "Token vocabulary (codebook) size; -1 = largest token in the data + 1. "
            + "Used by named and inline sizes; a config file's vocab_size wins.")
    private int vocabSize = -1;

    @Config(description = "Number of classes; -1 = largest class in the data + 1. "
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
        NppTrainer t = new NppTrainer();
        t.dim = dim;
        t.nLayer = nLayer;
        t.nHead = nHead;
        t.postConfig();
        return t;
    }

    /** Validates the settings and creates the random stream (Tribuo's SGD convention). */
    @Override
    public synchronized void postConfig() {
        int sources = (gptModel != null && !gptModel.isBlank() ? 1 : 0) + (gptConfigFile != null ? 1 : 0) + (dim > 0 ? 1 : 0);
        if (sources != 1) {
            throw new PropertyException("", "gptModel", sources == 0
                    ? "NppTrainer needs a model: set gptModel (e.g. GPT-B), gptConfigFile, or an inline size (dim, nLayer, nHead)"
                    : "NppTrainer: set only one of gptModel, gptConfigFile and an inline size (dim, nLayer, nHead)");
        }
        if (dim > 0 && (nLayer <= 0 || nHead <= 0)) {
            throw new PropertyException("", "nLayer", "NppTrainer: an inline size needs positive dim, nLayer and nHead");
        }
        this.rng = new SplittableRandom(seed);
    }

    // ---- fluent setters for programmatic use (each returns this) ------------------------------

    /** Sets the epochs. */
    public NppTrainer setEpochs(int v) { epochs = v; return this; }
    /** Sets the NPP patch level. */
    public NppTrainer setPatchLevel(int v) { patchLevel = v; return this; }
    /** Sets the NPP epoch rate. */
    public NppTrainer setEpochRate(double v) { epochRate = v; return this; }
    /** Turns the per-stage learning-rate cycle on or off. */
    public NppTrainer setScheduler(boolean v) { scheduler = v; return this; }
    /** Sets the peak learning rate. */
    public NppTrainer setLr(double v) { lr = v; return this; }
    /** Sets the examples per optimizer step. */
    public NppTrainer setGlobalBatchSize(int v) { globalBatchSize = v; return this; }
    /** Sets every dropout (class, token, residual, FFN) at once. */
    public NppTrainer setAllDropouts(double v) {
        classDropoutProb = v;
        tokenDropoutP = v;
        residDropoutP = v;
        ffnDropoutP = v;
        return this;
    }
    /** Sets the FFN rounding of an inline size. */
    public NppTrainer setMultipleOf(int v) { multipleOf = v; return this; }
    /** Sets the vocabulary size (-1: from the data). */
    public NppTrainer setVocabSize(int v) { vocabSize = v; return this; }
    /** Sets the class count (-1: from the data). */
    public NppTrainer setNumClasses(int v) { numClasses = v; return this; }
    /** Sets the device. */
    public NppTrainer setDevice(String v) { device = v; return this; }
    /** Sets the results directory (checkpoints, metrics). */
    public NppTrainer setResultsDir(Path v) { resultsDir = v; return this; }
    /** Sets the step limit. */
    public NppTrainer setMaxSteps(long v) { maxSteps = v; return this; }
    /** Sets the tokenizer's downsampling factor (recorded as the image size in checkpoints). */
    public NppTrainer setDownsampleSize(int v) { downsampleSize = v; return this; }
    /** Sets the warm-up length of each stage's learning-rate cycle, in epochs. */
    public NppTrainer setWarmupEpochs(double v) { warmupEpochs = v; return this; }
    /** Sets the share of examples held out for a per-epoch next-token loss. */
    public NppTrainer setHeldOutFraction(double v) { heldOutFraction = v; return this; }
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
        int vocab = vocabSize > 0 ? vocabSize : dataVocab;
        int classes = numClasses > 0 ? numClasses : dataClass;
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
