package org.nextpatch.cli;

import org.nextpatch.demo.DemoPipeline;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code npp demo}: the whole pipeline on Fashion-MNIST with small defaults (see {@link DemoPipeline}).
 * Every size flag overrides the default of the chosen run size (full, or {@code --quick}).
 */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Run the whole pipeline on Fashion-MNIST: train a small VQ tokenizer, extract codes, train a small "
                + "GPT with Next Patch Prediction (level 2, rate 0.5, --scheduler), export to ONNX, sample every class "
                + "with guidance in ONNX Runtime, decode, and measure FID with a feature network. Writes report.md, "
                + "samples.png, loss.png, checkpoints, ONNX graphs and the Tribuo model file to --results-dir.",
                "Data: --data DIR, else /usr/share/datasets/fashion-mnist when installed, else the shipped test split."})
public final class DemoCommand implements Callable<Integer> {

    @Option(names = "--results-dir", defaultValue = "results/demo", paramLabel = "DIR", description = "Output folder (default ${DEFAULT-VALUE}).")
    Path resultsDir;

    @Option(names = "--data", paramLabel = "DIR", description = "Folder with the Fashion-MNIST IDX files (t10k-*, optionally train-*).")
    Path data;

    @Option(names = "--quick", description = "Smoke-test sizes: about a minute, pictures not yet recognisable.")
    boolean quick;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of every stage (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--threads", paramLabel = "N", description = "PyTorch intra-op threads (default: NPP_THREADS, else 1; results are bit-identical only at the same count).")
    Integer threads;

    @Option(names = "--train-images", paramLabel = "N", description = "Images the tokenizer and the GPT train on.")
    Integer trainImages;

    @Option(names = "--vq-steps", paramLabel = "N", description = "Tokenizer training steps.")
    Integer vqSteps;

    @Option(names = "--gpt-epochs", paramLabel = "E", description = "GPT epochs (the first half at patch side 2).")
    Integer gptEpochs;

    @Option(names = "--cfg-scale", paramLabel = "s", description = "Guidance scale of the samples (default 2.0).")
    Double cfgScale;

    @Option(names = "--fid-samples", paramLabel = "N", description = "Generated images for FID (class-balanced).")
    Integer fidSamples;

    @Option(names = "--feature-model", paramLabel = "FILE", description = "Reuse this feature network (ONNX, from train-feature-net or an earlier demo) instead of training one.")
    Path featureModel;

    @Spec
    CommandSpec spec;

    /** The settings these flags describe. */
    DemoPipeline.Settings settings() {
        DemoPipeline.Settings b = quick ? DemoPipeline.Settings.quick(resultsDir, data, seed)
                : DemoPipeline.Settings.full(resultsDir, data, seed);
        return new DemoPipeline.Settings(b.resultsDir(), b.dataDir(), b.quick(), b.seed(),
                trainImages != null ? trainImages : b.trainImages(), vqSteps != null ? vqSteps : b.vqSteps(), b.vqBatch(), b.vqLr(),
                b.gptDim(), b.gptLayers(), b.gptHeads(), gptEpochs != null ? gptEpochs : b.gptEpochs(), b.gptBatch(), b.gptLr(),
                cfgScale != null ? cfgScale : b.cfgScale(), b.samplesPerClass(), fidSamples != null ? fidSamples : b.fidSamples(),
                b.referenceImages(), b.featureEpochs(), b.featureTrainImages(), featureModel, b.onnxBatch());
    }

    @Override
    public Integer call() {
        if (threads != null) {
            if (threads < 1) {
                throw new NppCommand.UsageException("--threads must be positive");
            }
            // read by DJL's PyTorch engine when it starts (it has not started yet in this process)
            System.setProperty("ai.djl.pytorch.num_threads", String.valueOf(threads));
        }
        Path report = DemoPipeline.run(settings());
        spec.commandLine().getOut().println("demo finished: " + report + " (samples.png, loss.png, checkpoints, ONNX graphs, "
                + "npp-model.tribuo in " + report.getParent() + ")");
        // the export's manifest carries the class names, so the playground shows garments by name
        spec.commandLine().getOut().println("serve it: ./npp serve --onnx-dir " + report.getParent().resolve("onnx"));
        spec.commandLine().getOut().flush();
        return 0;
    }
}
