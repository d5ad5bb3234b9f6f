package org.nextpatch.cli;

import org.nextpatch.data.CodeDirectorySet;
import org.nextpatch.util.DirLock;
import org.nextpatch.util.NppException;
import org.nextpatch.train.NppTrainingLoop;
import org.nextpatch.train.TrainConfig;
import org.nextpatch.train.TrainingResult;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import org.nextpatch.tribuo.ConfiguredTraining;
import org.nextpatch.tribuo.NppModel;
import org.nextpatch.tribuo.NppTrainer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * {@code npp train}: class-conditional GPT training with Next Patch Prediction on a code directory,
 * flags named as upstream {@code train_c2i.py} (plus NPP's {@code --patch-level}, {@code --epoch-rate},
 * {@code --scheduler}...). A thin adapter: it builds a {@link TrainConfig} and runs
 * {@link NppTrainingLoop}, exactly as the Tribuo trainer does.
 */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train a class-conditional LlamaGen GPT on extracted codes with Next Patch "
                + "Prediction: coarse-to-fine patch stages (--patch-level, --epoch-rate), a per-stage "
                + "learning-rate cycle (--scheduler), AdamW with decay on 2-D+ weights, gradient "
                + "clipping, optional EMA. Writes OUT/checkpoints/NNNNNNN.pt (torch.load-able: model, "
                + "optimizer, steps, args[, ema]), OUT/metrics.csv and OUT/loss.png."})
public final class TrainCommand implements Callable<Integer> {

    static final class ModelChoice {
        @Option(names = "--gpt-model", paramLabel = "NAME", description = "LlamaGen size: GPT-B, GPT-L, GPT-XL, GPT-XXL.")
        String name;

        @Option(names = "--gpt-config", paramLabel = "FILE", description = "Model JSON with upstream ModelArgs names.")
        Path file;

        @Option(names = "--config", paramLabel = "FILE",
                description = "Train through the Tribuo NppTrainer of this OLCUT configuration (XML or JSON): the model "
                        + "and training settings come from the file; writes OUT/model.tribuo with full provenance.")
        Path tribuoConfig;
    }

    @Option(names = "--config-name", paramLabel = "NAME",
            description = "With --config: the NppTrainer component to use (default: the file's only one).")
    String configName;

    @Spec
    CommandSpec spec;

    @ArgGroup(exclusive = true, multiplicity = "1")
    ModelChoice model;

    @Option(names = "--code-path", required = true, paramLabel = "DIR",
            description = "Code directory (DIR/imagenet{S}_codes, DIR/imagenet{S}_labels; a *_ten_crop_105 sibling is used for half the reads).")
    Path codePath;

    @Option(names = "--image-size", required = true, paramLabel = "S", description = "Image size the codes were extracted at.")
    int imageSize;

    @Option(names = "--results-dir", required = true, paramLabel = "OUT", description = "Output directory.")
    Path resultsDir;

    @Option(names = "--downsample-size", defaultValue = "16", description = "Tokenizer downsampling (default ${DEFAULT-VALUE}).")
    int downsampleSize;

    @Option(names = "--vocab-size", defaultValue = "16384", description = "Codebook size for --gpt-model (default ${DEFAULT-VALUE}).")
    int vocabSize;

    @Option(names = "--num-classes", defaultValue = "1000", description = "Classes for --gpt-model (default ${DEFAULT-VALUE}).")
    int numClasses;

    @Option(names = "--epochs", defaultValue = "300", description = "Epochs (default ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--patch-level", defaultValue = "1",
            description = "NPP stages: 2 -> patch sides [2,1], 3 -> [4,2,1], 4 -> [8,4,2,1]; other values: plain next-token training (default ${DEFAULT-VALUE}).")
    int patchLevel;

    @Option(names = "--epoch-rate", defaultValue = "0.5",
            description = "Stage i ends at epoch int(E * r^i), counted from the last stage (default ${DEFAULT-VALUE}).")
    double epochRate;

    @Option(names = "--scheduler", negatable = true, defaultValue = "false",
            description = "Per-stage learning-rate cycle: warm-up, constant, linear decay (default: constant rate).")
    boolean scheduler;

    @Option(names = "--warmup-epochs", defaultValue = "1", description = "Warm-up epochs of each stage (default ${DEFAULT-VALUE}).")
    double warmupEpochs;

    @Option(names = "--decay-ratio", defaultValue = "0.2", description = "Fraction of each stage's steps spent decaying (default ${DEFAULT-VALUE}).")
    double decayRatio;

    @Option(names = "--lr", defaultValue = "1e-4", description = "Peak learning rate (default ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--end-lr", defaultValue = "1e-5", description = "Rate the decay heads for (default ${DEFAULT-VALUE}).")
    double endLr;

    @Option(names = "--weight-decay", defaultValue = "5e-2", description = "AdamW weight decay on 2-D+ parameters (default ${DEFAULT-VALUE}).")
    double weightDecay;

    @Option(names = "--beta1", defaultValue = "0.9", description = "AdamW beta1 (default ${DEFAULT-VALUE}).")
    double beta1;

    @Option(names = "--beta2", defaultValue = "0.95", description = "AdamW beta2 (default ${DEFAULT-VALUE}).")
    double beta2;

    @Option(names = "--adam-eps", defaultValue = "1e-8", description = "AdamW epsilon (default ${DEFAULT-VALUE}).")
    double eps;

    @Option(names = "--max-grad-norm", defaultValue = "1.0", description = "Global gradient-norm clip, 0 = off (default ${DEFAULT-VALUE}).")
    double maxGradNorm;

    @Option(names = "--global-batch-size", defaultValue = "256", description = "Images per optimizer step (default ${DEFAULT-VALUE}).")
    int globalBatchSize;

    @Option(names = "--gradient-accumulation-steps", defaultValue = "1", description = "Micro-batches per optimizer step (default ${DEFAULT-VALUE}).")
    int gradientAccumulationSteps;

    @Option(names = "--dropout-p", paramLabel = "P", description = "Residual and FFN dropout (upstream --dropout-p; default: the model's, 0.1).")
    Double dropoutP;

    @Option(names = "--token-dropout-p", paramLabel = "P", description = "Input (token) dropout (default: the model's, 0.1).")
    Double tokenDropoutP;

    @Option(names = "--resid-dropout-p", paramLabel = "P", description = "Residual dropout only (overrides --dropout-p).")
    Double residDropoutP;

    @Option(names = "--ffn-dropout-p", paramLabel = "P", description = "FFN dropout only (overrides --dropout-p).")
    Double ffnDropoutP;

    @Option(names = "--class-dropout-prob", paramLabel = "P", description = "Label -> null class probability (default: the model's, 0.1).")
    Double classDropoutProb;

    @Option(names = "--ema", negatable = true, defaultValue = "false", description = "Keep an EMA of the weights (saved as 'ema').")
    boolean ema;

    @Option(names = "--ema-decay", defaultValue = "0.9999", description = "EMA decay (default ${DEFAULT-VALUE}).")
    double emaDecay;

    @Option(names = {"--global-seed", "--seed"}, defaultValue = "0", description = "Seed of init, data order, augmentation and dropout (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|gpu|gpu:0,1",
            description = "Device(s); several GPUs train data-parallel; cpu:N runs N CPU replicas to test that path (default ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--ckpt-every", defaultValue = "5000", description = "Checkpoint every N optimizer steps, 0 = end only (default ${DEFAULT-VALUE}).")
    long ckptEvery;

    @Option(names = "--held-out", defaultValue = "0", paramLabel = "FRACTION",
            description = "Hold out this fraction of images; their next-token loss is reported each epoch (default ${DEFAULT-VALUE}).")
    double heldOut;

    @Option(names = {"--resume", "--gpt-ckpt"}, paramLabel = "CKPT", description = "Continue from a checkpoint of this command (same settings).")
    Path resume;

    @Option(names = "--max-steps", defaultValue = "0", description = "Stop after N optimizer steps in total, 0 = no limit (smoke tests).")
    long maxSteps;

    @Option(names = "--allow-incomplete-codes",
            description = "Train on a code directory whose extraction did not finish (its record says \"finished\": false).")
    boolean allowIncompleteCodes;

    /** The configuration these flags describe. */
    TrainConfig config() {
        return TrainConfig.builder()
                .gptModel(model.name).gptConfigFile(model.file)
                .imageSize(imageSize).downsampleSize(downsampleSize).vocabSize(vocabSize).numClasses(numClasses)
                .epochs(epochs).patchLevel(patchLevel).epochRate(epochRate)
                .scheduler(scheduler).warmupEpochs(warmupEpochs).decayRatio(decayRatio).lr(lr).endLr(endLr)
                .weightDecay(weightDecay).beta1(beta1).beta2(beta2).eps(eps).maxGradNorm(maxGradNorm)
                .globalBatchSize(globalBatchSize).gradientAccumulationSteps(gradientAccumulationSteps)
                .residDropoutP(residDropoutP != null ? residDropoutP : dropoutP)
                .ffnDropoutP(ffnDropoutP != null ? ffnDropoutP : dropoutP)
                .tokenDropoutP(tokenDropoutP).classDropoutProb(classDropoutProb)
                .ema(ema).emaDecay(emaDecay).seed(seed).device(device).ckptEvery(ckptEvery)
                .heldOutFraction(heldOut).resultsDir(resultsDir).codePath(codePath).resume(resume).maxSteps(maxSteps)
                .build();
    }

    /** Options that still apply with {@code --config}; every other training flag must come from the file. */
    private static final Set<String> CONFIG_COMPATIBLE = Set.of("--config", "--config-name", "--code-path",
            "--image-size", "--results-dir", "--device", "--allow-incomplete-codes", "--verbose", "--help", "--version");

    @Override
    public Integer call() {
        if (model.tribuoConfig != null) {
            return trainFromConfig();
        }
        if (configName != null) {
            throw new NppCommand.UsageException("--config-name needs --config");
        }
        TrainConfig cfg = config();
        org.nextpatch.config.GptConfig m = cfg.model(); // fail on a bad model/image-size/patch-level combination before reading data
        Outputs.notAnInput(resultsDir, "--results-dir", "--code-path", codePath);
        Outputs.writableDir(resultsDir, "--results-dir");
        if (!allowIncompleteCodes) {
            org.nextpatch.data.ExtractionRecord.requireFinished(codePath, imageSize, "--allow-incomplete-codes");
        }
        CodeDirectorySet data = CodeDirectorySet.open(codePath, imageSize);
        data.checkValues(m.vocabSize(), m.numClasses());
        TrainingResult r;
        try (DirLock lock = DirLock.acquire(resultsDir, "--results-dir " + resultsDir)) {
            Outputs.removeLeftovers(resultsDir.resolve("checkpoints"), "--results-dir", spec.commandLine().getOut());
            Outputs.removeLeftovers(resultsDir, "--results-dir", spec.commandLine().getOut());
            r = NppTrainingLoop.train(cfg, data, null);
        }
        System.out.println(String.format(Locale.ROOT, "steps: %d in %.1f s", r.stepsDone(), r.seconds()));
        if (!r.steps().isEmpty()) {
            System.out.println(String.format(Locale.ROOT, "final loss: %.6f", r.steps().get(r.steps().size() - 1).loss()));
        }
        if (!Double.isNaN(r.finalHeldOutLoss())) {
            System.out.println(String.format(Locale.ROOT, "held-out loss: %.6f", r.finalHeldOutLoss()));
        }
        System.out.println("checkpoint: " + r.lastCheckpoint());
        System.out.println("metrics: " + cfg.resultsDir().resolve("metrics.csv") + ", " + cfg.resultsDir().resolve("loss.png"));
        return 0;
    }

    /** {@code --config}: the same training through the Tribuo trainer, saving a Tribuo model file. */
    private Integer trainFromConfig() {
        for (var o : spec.commandLine().getParseResult().matchedOptions()) {
            if (!CONFIG_COMPATIBLE.contains(o.longestName())) {
                throw new NppCommand.UsageException(o.longestName() + " cannot be combined with --config: "
                        + "set it in the configuration file");
            }
        }
        if (!allowIncompleteCodes) {
            org.nextpatch.data.ExtractionRecord.requireFinished(codePath, imageSize, "--allow-incomplete-codes");
        }
        NppTrainer trainer = ConfiguredTraining.loadTrainer(model.tribuoConfig, configName);
        if (spec.commandLine().getParseResult().hasMatchedOption("--device")) {
            trainer.setDevice(device);
        }
        Path modelFile = resultsDir.resolve("model.tribuo");
        try (NppModel m = ConfiguredTraining.trainAndSave(trainer, codePath, imageSize, resultsDir, modelFile,
                allowIncompleteCodes)) {
            var inst = m.getProvenance().getInstanceProvenance().getMap();
            System.out.println("steps: " + value(inst.get("optimizer-steps")) + " in " + value(inst.get("train-seconds")) + " s");
            System.out.println("final loss: " + value(inst.get("final-train-loss")));
            System.out.println("model: " + modelFile + " (provenance: npp provenance " + modelFile + ")");
            System.out.println("metrics: " + resultsDir.resolve("metrics.csv") + ", " + resultsDir.resolve("loss.png"));
        }
        return 0;
    }

    private static Object value(Object provenance) {
        return provenance instanceof com.oracle.labs.mlrg.olcut.provenance.PrimitiveProvenance<?> p ? p.getValue() : provenance;
    }
}
