package org.nextpatch.train;

import org.nextpatch.config.GptConfig;
import org.nextpatch.npp.LrSchedule;
import org.nextpatch.npp.StageSchedule;
import org.nextpatch.util.NppException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Every setting of an NPP training run, validated at construction. The command line's {@code train}
 * and the Tribuo {@code NppTrainer} both build one (through {@link #builder()} or the withers), and
 * {@link #toArgs()} turns it into the checkpoint's {@code args} dict, with the upstream
 * {@code train_c2i.py} argument names.
 * <p>
 * The model is given by exactly one of: a LlamaGen size name ({@code gptModel}, with
 * {@code vocabSize}/{@code numClasses} and the block size derived from {@code imageSize /
 * downsampleSize}), a JSON file with upstream {@code ModelArgs} names ({@code gptConfigFile}), or an
 * in-memory {@link GptConfig} ({@code gptConfig}). The dropout fields, when not {@code null},
 * override the model's.
 *
 * @param gptModel                  LlamaGen size name (GPT-B, GPT-L, GPT-XL, GPT-XXL) or null
 * @param gptConfigFile             JSON model config or null
 * @param gptConfig                 in-memory model config or null
 * @param imageSize                 image size in pixels ({@code --image-size})
 * @param downsampleSize            tokenizer downsampling ({@code --downsample-size}, 16)
 * @param vocabSize                 codebook size for named models ({@code --vocab-size})
 * @param numClasses                class count for named models ({@code --num-classes})
 * @param epochs                    total epochs
 * @param patchLevel                {@code --patch-level}: 2 -> [4, 1], 3 -> [16, 4, 1], 4 -> [64, 16, 4, 1], else [1]
 * @param epochRate                 {@code --epoch-rate}, in (0, 1]
 * @param scheduler                 {@code --scheduler}: per-stage warm-up/constant/decay cycle
 * @param warmupEpochs              {@code --warmup-epochs}
 * @param decayRatio                {@code --decay-ratio}
 * @param lr                        peak learning rate
 * @param endLr                     {@code --end-lr}
 * @param beta1                     AdamW beta1
 * @param beta2                     AdamW beta2
 * @param weightDecay               decoupled weight decay on parameters with 2+ dimensions
 * @param eps                       AdamW epsilon
 * @param maxGradNorm               global gradient-norm clip; 0 disables
 * @param globalBatchSize           examples per optimizer step (summed over devices and accumulation)
 * @param gradientAccumulationSteps micro-batches per optimizer step
 * @param classDropoutProb          override of the class dropout (label -> null class), or null
 * @param tokenDropoutP             override of the input (token) dropout, or null
 * @param residDropoutP             override of the residual dropout, or null
 * @param ffnDropoutP               override of the feed-forward dropout, or null
 * @param ema                       keep an exponential moving average of the weights
 * @param emaDecay                  EMA decay
 * @param seed                      global seed (model init, data order, augmentation, dropout)
 * @param device                    {@code cpu}, {@code gpu}, {@code gpu:0,1}...
 * @param ckptEvery                 checkpoint every N optimizer steps; 0: only at the end
 * @param heldOutFraction           fraction of images held out for a per-epoch next-token loss; 0: none
 * @param resultsDir                where checkpoints, metrics.csv and loss.png go
 * @param codePath                  code directory (upstream extraction layout), or null for in-memory data
 * @param resume                    checkpoint to continue from, or null
 * @param maxSteps                  stop after this many optimizer steps in total (benchmarks, smoke tests); 0: no limit
 */
public record TrainConfig(
        String gptModel, Path gptConfigFile, GptConfig gptConfig,
        int imageSize, int downsampleSize, int vocabSize, int numClasses,
        int epochs, int patchLevel, double epochRate,
        boolean scheduler, double warmupEpochs, double decayRatio, double lr, double endLr,
        double beta1, double beta2, double weightDecay, double eps, double maxGradNorm,
        int globalBatchSize, int gradientAccumulationSteps,
        Double classDropoutProb, Double tokenDropoutP, Double residDropoutP, Double ffnDropoutP,
        boolean ema, double emaDecay,
        long seed, String device,
        long ckptEvery, double heldOutFraction,
        Path resultsDir, Path codePath, Path resume, long maxSteps) {

    /** Validates every setting; messages name the command-line flag. */
    public TrainConfig {
        int sources = (gptModel != null ? 1 : 0) + (gptConfigFile != null ? 1 : 0) + (gptConfig != null ? 1 : 0);
        check(sources == 1, sources == 0 ? "give --gpt-model NAME or --gpt-config FILE"
                : "give only one of --gpt-model and --gpt-config");
        check(imageSize > 0, "--image-size must be positive, got " + imageSize);
        check(downsampleSize > 0 && imageSize % downsampleSize == 0,
                "--image-size " + imageSize + " must be a multiple of --downsample-size " + downsampleSize);
        check(vocabSize > 0, "--vocab-size must be positive");
        check(numClasses > 0, "--num-classes must be positive");
        check(epochs > 0, "--epochs must be positive, got " + epochs);
        check(epochRate > 0 && epochRate <= 1, "--epoch-rate must be in (0, 1], got " + epochRate);
        check(warmupEpochs >= 0, "--warmup-epochs must be >= 0");
        check(decayRatio >= 0 && decayRatio <= 1, "--decay-ratio must be in [0, 1]");
        check(lr > 0 && Double.isFinite(lr), "--lr must be positive, got " + lr);
        check(endLr >= 0, "--end-lr must be >= 0");
        check(beta1 >= 0 && beta1 < 1, "--beta1 must be in [0, 1)");
        check(beta2 >= 0 && beta2 < 1, "--beta2 must be in [0, 1)");
        check(weightDecay >= 0, "--weight-decay must be >= 0");
        check(eps > 0, "--eps must be positive");
        check(maxGradNorm >= 0, "--max-grad-norm must be >= 0 (0 disables clipping)");
        check(globalBatchSize > 0, "--global-batch-size must be positive");
        check(gradientAccumulationSteps > 0, "--gradient-accumulation-steps must be positive");
        check(globalBatchSize % gradientAccumulationSteps == 0, "--global-batch-size " + globalBatchSize
                + " must be divisible by --gradient-accumulation-steps " + gradientAccumulationSteps);
        for (Double p : new Double[]{classDropoutProb, tokenDropoutP, residDropoutP, ffnDropoutP}) {
            check(p == null || (p >= 0 && p < 1), "dropout probabilities must be in [0, 1), got " + p);
        }
        check(emaDecay > 0 && emaDecay < 1, "--ema-decay must be in (0, 1)");
        check(device != null, "--device is required");
        DeviceSpec.parse(device);
        check(ckptEvery >= 0, "--ckpt-every must be >= 0");
        check(heldOutFraction >= 0 && heldOutFraction < 1, "--held-out must be in [0, 1)");
        check(resultsDir != null, "--results-dir is required");
        check(maxSteps >= 0, "--max-steps must be >= 0");
        gptModel = gptModel == null ? null : gptModel.toUpperCase(Locale.ROOT);
        if (gptModel != null && !GptConfig.names().contains(gptModel)) {
            throw new org.nextpatch.util.BadValueException("unknown --gpt-model '" + gptModel + "'; choose one of " + GptConfig.names());
        }
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new NppException(message);
        }
    }

    /** A builder with the upstream defaults (spec section 9). */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from this configuration. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /** Token grid side G ({@code imageSize / downsampleSize}). */
    public int gridSide() {
        return imageSize / downsampleSize;
    }

    /**
     * The model configuration this run trains: the named size, the JSON file or the in-memory config,
     * with the dropout overrides applied. Checks that the model's block size matches the image size.
     */
    public GptConfig model() {
        GptConfig base;
        if (gptConfig != null) {
            base = gptConfig;
        } else if (gptConfigFile != null) {
            base = GptConfig.fromJson(gptConfigFile);
        } else {
            base = GptConfig.named(gptModel, GptConfig.blockSizeFor(imageSize, downsampleSize), vocabSize, numClasses);
        }
        int g = gridSide();
        if (base.blockSize() != g * g) {
            throw new NppException("--image-size " + imageSize + " gives a " + g + "x" + g + " token grid but the model's block_size is "
                    + base.blockSize() + (gptConfigFile != null ? " (" + gptConfigFile + ")" : ""));
        }
        GptConfig m = new GptConfig(base.dim(), base.nLayer(), base.nHead(), base.vocabSize(), base.numClasses(),
                base.blockSize(), base.clsTokenNum(), base.multipleOf(), base.ffnDimMultiplier(), base.normEps(),
                base.ropeBase(),
                tokenDropoutP != null ? tokenDropoutP : base.tokenDropoutP(),
                base.attnDropoutP(),
                residDropoutP != null ? residDropoutP : base.residDropoutP(),
                ffnDropoutP != null ? ffnDropoutP : base.ffnDropoutP(),
                classDropoutProb != null ? classDropoutProb : base.classDropoutProb());
        stages().checkGrid(m.gridSide());
        return m;
    }

    /** The coarse-to-fine stage schedule. */
    public StageSchedule stages() {
        return StageSchedule.of(epochs, patchLevel, epochRate);
    }

    /** The learning-rate schedule for {@code stepsPerEpoch} optimizer steps per epoch. */
    public LrSchedule lrSchedule(int stepsPerEpoch) {
        return new LrSchedule(stages(), stepsPerEpoch, scheduler, warmupEpochs, decayRatio, lr, endLr);
    }

    /** Micro-batch size (examples per forward/backward pass over all devices). */
    public int microBatchSize() {
        return globalBatchSize / gradientAccumulationSteps;
    }

    /** The parsed {@code --device}. */
    public DeviceSpec deviceSpec() {
        return DeviceSpec.parse(device);
    }

    /**
     * The checkpoint's {@code args}: a dict of primitives (String, Long, Double, Boolean, null) named
     * like upstream {@code train_c2i.py}'s argparse destinations, plus {@code gpt_config}, the
     * effective model config as a dict with {@code ModelArgs} names.
     */
    public Map<String, Object> toArgs() {
        Map<String, Object> a = new LinkedHashMap<>();
        a.put("gpt_model", gptModel);
        a.put("gpt_config_file", gptConfigFile == null ? null : gptConfigFile.toString());
        a.put("image_size", (long) imageSize);
        a.put("downsample_size", (long) downsampleSize);
        a.put("vocab_size", (long) vocabSize);
        a.put("num_classes", (long) numClasses);
        a.put("epochs", (long) epochs);
        a.put("patch_level", (long) patchLevel);
        a.put("epoch_rate", epochRate);
        a.put("scheduler", scheduler);
        a.put("warmup_epochs", warmupEpochs);
        a.put("decay_ratio", decayRatio);
        a.put("lr", lr);
        a.put("end_lr", endLr);
        a.put("beta1", beta1);
        a.put("beta2", beta2);
        a.put("weight_decay", weightDecay);
        a.put("eps", eps);
        a.put("max_grad_norm", maxGradNorm);
        a.put("global_batch_size", (long) globalBatchSize);
        a.put("gradient_accumulation_steps", (long) gradientAccumulationSteps);
        a.put("class_dropout_prob", classDropoutProb);
        a.put("token_dropout_p", tokenDropoutP);
        a.put("resid_dropout_p", residDropoutP);
        a.put("ffn_dropout_p", ffnDropoutP);
        a.put("ema", ema);
        a.put("ema_decay", emaDecay);
        a.put("global_seed", seed);
        a.put("device", device);
        a.put("ckpt_every", ckptEvery);
        a.put("held_out", heldOutFraction);
        a.put("results_dir", resultsDir.toString());
        a.put("code_path", codePath == null ? null : codePath.toString());
        a.put("max_steps", maxSteps);
        GptConfig m = model();
        Map<String, Object> g = new LinkedHashMap<>();
        m.toJson().fields().forEachRemaining(e -> {
            var v = e.getValue();
            g.put(e.getKey(), v.isNull() ? null : v.isIntegralNumber() ? (Object) v.asLong() : (Object) v.asDouble());
        });
        a.put("gpt_config", g);
        return a;
    }

    /**
     * The settings that must not change when a run is resumed (they define the schedule and the data
     * order); {@link NppTrainingLoop} compares them with the checkpoint's {@code args}.
     */
    static List<String> resumeInvariantArgs() {
        return List.of("image_size", "epochs", "patch_level", "epoch_rate", "scheduler", "warmup_epochs",
                "decay_ratio", "lr", "end_lr", "global_batch_size", "gradient_accumulation_steps", "global_seed",
                "held_out", "gpt_config");
    }

    /** Returns a copy with another seed. */
    public TrainConfig withSeed(long s) {
        return toBuilder().seed(s).build();
    }

    /** Returns a copy with another results directory. */
    public TrainConfig withResultsDir(Path dir) {
        return toBuilder().resultsDir(dir).build();
    }

    /** Returns a copy that resumes from a checkpoint (null: a fresh run). */
    public TrainConfig withResume(Path ckpt) {
        return toBuilder().resume(ckpt).build();
    }

    /** Returns a copy with another device. */
    public TrainConfig withDevice(String d) {
        return toBuilder().device(d).build();
    }

    /** Mutable builder; {@link #build()} validates. Defaults are upstream's (spec section 9). */
    public static final class Builder {
        private String gptModel;
        private Path gptConfigFile;
        private GptConfig gptConfig;
        private int imageSize = 256;
        private int downsampleSize = 16;
        private int vocabSize = 16384;
        private int numClasses = 1000;
        private int epochs = 300;
        private int patchLevel = 1;
        private double epochRate = 0.5;
        private boolean scheduler;
        private double warmupEpochs = 1;
        private double decayRatio = 0.2;
        private double lr = 1e-4;
        private double endLr = 1e-5;
        private double beta1 = 0.9;
        private double beta2 = 0.95;
        private double weightDecay = 0.05;
        private double eps = 1e-8;
        private double maxGradNorm = 1.0;
        private int globalBatchSize = 256;
        private int gradientAccumulationSteps = 1;
        private Double classDropoutProb;
        private Double tokenDropoutP;
        private Double residDropoutP;
        private Double ffnDropoutP;
        private boolean ema;
        private double emaDecay = 0.9999;
        private long seed;
        private String device = "cpu";
        private long ckptEvery = 5000;
        private double heldOutFraction;
        private Path resultsDir = Path.of("results");
        private Path codePath;
        private Path resume;
        private long maxSteps;

        private Builder() {}

        private Builder(TrainConfig c) {
            gptModel = c.gptModel; gptConfigFile = c.gptConfigFile; gptConfig = c.gptConfig;
            imageSize = c.imageSize; downsampleSize = c.downsampleSize; vocabSize = c.vocabSize; numClasses = c.numClasses;
            epochs = c.epochs; patchLevel = c.patchLevel; epochRate = c.epochRate;
            scheduler = c.scheduler; warmupEpochs = c.warmupEpochs; decayRatio = c.decayRatio; lr = c.lr; endLr = c.endLr;
            beta1 = c.beta1; beta2 = c.beta2; weightDecay = c.weightDecay; eps = c.eps; maxGradNorm = c.maxGradNorm;
            globalBatchSize = c.globalBatchSize; gradientAccumulationSteps = c.gradientAccumulationSteps;
            classDropoutProb = c.classDropoutProb; tokenDropoutP = c.tokenDropoutP; residDropoutP = c.residDropoutP;
            ffnDropoutP = c.ffnDropoutP; ema = c.ema; emaDecay = c.emaDecay; seed = c.seed; device = c.device;
            ckptEvery = c.ckptEvery; heldOutFraction = c.heldOutFraction; resultsDir = c.resultsDir;
            codePath = c.codePath; resume = c.resume; maxSteps = c.maxSteps;
        }

        /** LlamaGen size name; clears any other model source. */
        public Builder gptModel(String v) { gptModel = v; if (v != null) { gptConfigFile = null; gptConfig = null; } return this; }
        /** Model config JSON file; clears any other model source. */
        public Builder gptConfigFile(Path v) { gptConfigFile = v; if (v != null) { gptModel = null; gptConfig = null; } return this; }
        /** In-memory model config; clears any other model source. */
        public Builder gptConfig(GptConfig v) { gptConfig = v; if (v != null) { gptModel = null; gptConfigFile = null; } return this; }
        public Builder imageSize(int v) { imageSize = v; return this; }
        public Builder downsampleSize(int v) { downsampleSize = v; return this; }
        public Builder vocabSize(int v) { vocabSize = v; return this; }
        public Builder numClasses(int v) { numClasses = v; return this; }
        public Builder epochs(int v) { epochs = v; return this; }
        public Builder patchLevel(int v) { patchLevel = v; return this; }
        public Builder epochRate(double v) { epochRate = v; return this; }
        public Builder scheduler(boolean v) { scheduler = v; return this; }
        public Builder warmupEpochs(double v) { warmupEpochs = v; return this; }
        public Builder decayRatio(double v) { decayRatio = v; return this; }
        public Builder lr(double v) { lr = v; return this; }
        public Builder endLr(double v) { endLr = v; return this; }
        public Builder beta1(double v) { beta1 = v; return this; }
        public Builder beta2(double v) { beta2 = v; return this; }
        public Builder weightDecay(double v) { weightDecay = v; return this; }
        public Builder eps(double v) { eps = v; return this; }
        public Builder maxGradNorm(double v) { maxGradNorm = v; return this; }
        public Builder globalBatchSize(int v) { globalBatchSize = v; return this; }
        public Builder gradientAccumulationSteps(int v) { gradientAccumulationSteps = v; return this; }
        public Builder classDropoutProb(Double v) { classDropoutProb = v; return this; }
        public Builder tokenDropoutP(Double v) { tokenDropoutP = v; return this; }
        public Builder residDropoutP(Double v) { residDropoutP = v; return this; }
        public Builder ffnDropoutP(Double v) { ffnDropoutP = v; return this; }
        /** Sets every dropout (class, token, residual, FFN) at once: 0 turns them all off. */
        public Builder allDropouts(double v) { classDropoutProb = v; tokenDropoutP = v; residDropoutP = v; ffnDropoutP = v; return this; }
        public Builder ema(boolean v) { ema = v; return this; }
        public Builder emaDecay(double v) { emaDecay = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder device(String v) { device = v; return this; }
        public Builder ckptEvery(long v) { ckptEvery = v; return this; }
        public Builder heldOutFraction(double v) { heldOutFraction = v; return this; }
        public Builder resultsDir(Path v) { resultsDir = v; return this; }
        public Builder codePath(Path v) { codePath = v; return this; }
        public Builder resume(Path v) { resume = v; return this; }
        public Builder maxSteps(long v) { maxSteps = v; return this; }

        /** Validates and builds. */
        public TrainConfig build() {
            return new TrainConfig(gptModel, gptConfigFile, gptConfig, imageSize, downsampleSize, vocabSize, numClasses,
                    epochs, patchLevel, epochRate, scheduler, warmupEpochs, decayRatio, lr, endLr,
                    beta1, beta2, weightDecay, eps, maxGradNorm, globalBatchSize, gradientAccumulationSteps,
                    classDropoutProb, tokenDropoutP, residDropoutP, ffnDropoutP, ema, emaDecay, seed, device,
                    ckptEvery, heldOutFraction, resultsDir, codePath, resume, maxSteps);
        }
    }

    /**
     * A parsed {@code --device}: {@code cpu}, {@code gpu} (the first GPU), {@code gpu:N} or
     * {@code gpu:0,1,...} (data parallel over several GPUs). {@code cpu:N} runs N data-parallel
     * replicas on the CPU: no faster, but it exercises the multi-device code path where no GPU is.
     *
     * @param gpu     whether GPUs are used
     * @param indices GPU indices (empty for cpu); for cpu:N, 0..N-1
     */
    public record DeviceSpec(boolean gpu, List<Integer> indices) {
        /** Parses the flag value. */
        public static DeviceSpec parse(String s) {
            String v = s.trim().toLowerCase(Locale.ROOT);
            if (v.equals("cpu")) {
                return new DeviceSpec(false, List.of());
            }
            if (v.startsWith("cpu:")) {
                try {
                    int n = Integer.parseInt(v.substring(4).trim());
                    if (n >= 1 && n <= 16) {
                        List<Integer> idx = new ArrayList<>();
                        for (int i = 0; i < n; i++) {
                            idx.add(i);
                        }
                        return new DeviceSpec(false, List.copyOf(idx));
                    }
                } catch (NumberFormatException ignored) {
                    // falls through to the error below
                }
                throw new org.nextpatch.util.BadValueException("--device '" + s + "': cpu:N takes a replica count from 1 to 16");
            }
            if (v.equals("gpu") || v.equals("cuda")) {
                return new DeviceSpec(true, List.of(0));
            }
            if (v.startsWith("gpu:") || v.startsWith("cuda:")) {
                List<Integer> idx = new ArrayList<>();
                for (String part : v.substring(v.indexOf(':') + 1).split(",")) {
                    try {
                        int i = Integer.parseInt(part.trim());
                        if (i < 0 || idx.contains(i)) {
                            throw new NumberFormatException();
                        }
                        idx.add(i);
                    } catch (NumberFormatException e) {
                        throw new org.nextpatch.util.BadValueException("--device '" + s + "': expected cpu, gpu, gpu:N or gpu:0,1,...");
                    }
                }
                return new DeviceSpec(true, List.copyOf(idx));
            }
            throw new org.nextpatch.util.BadValueException("--device '" + s + "': expected cpu, gpu, gpu:N or gpu:0,1,...");
        }
    }
}
