package org.nextpatch.cli;

import org.nextpatch.demo.NppVsNtpBench;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code npp bench npp-vs-ntp}: NPP against plain next-token training on Fashion-MNIST codes ({@link NppVsNtpBench}). */
@Command(name = "npp-vs-ntp", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Same data, model, epochs and seed: plain next-token training against NPP (level 2 rate 0.5, "
                + "level 3 rate 0.5), over --seeds seeds. Reports training time and its ratio to next-token training, "
                + "the final held-out next-token loss and the FID (feature network) of guided ONNX Runtime samples, as "
                + "mean +- standard deviation: OUT/table.md, OUT/runs.csv, OUT/plot.png."})
public final class BenchNppVsNtpCommand implements Callable<Integer> {

    @Option(names = "--out", defaultValue = "results/bench-npp-vs-ntp", paramLabel = "DIR", description = "Output folder (default ${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--data", paramLabel = "DIR", description = "Fashion-MNIST IDX folder (default: installed dataset, else the shipped test split).")
    Path data;

    @Option(names = "--vq-ckpt", paramLabel = "FILE", description = "Tokenizer to reuse, e.g. results/demo/vq/vq.pt (default: train one).")
    Path vqCkpt;

    @Option(names = "--feature-model", paramLabel = "FILE", description = "Feature network to reuse, e.g. results/demo/feature-net.onnx (default: train one).")
    Path featureModel;

    @Option(names = "--seeds", defaultValue = "2", description = "Seeds per variant (default ${DEFAULT-VALUE}; use 3 or more for the full experiment).")
    int seeds;

    @Option(names = "--seed", defaultValue = "0", description = "First seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--images", defaultValue = "2000", description = "Training images, 10%% held out (default ${DEFAULT-VALUE}).")
    int images;

    @Option(names = "--epochs", defaultValue = "8", description = "Epochs of every run (default ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--dim", defaultValue = "64", description = "GPT width (default ${DEFAULT-VALUE}).")
    int dim;

    @Option(names = "--layers", defaultValue = "2", description = "GPT blocks (default ${DEFAULT-VALUE}).")
    int layers;

    @Option(names = "--heads", defaultValue = "2", description = "GPT heads (default ${DEFAULT-VALUE}).")
    int heads;

    @Option(names = "--batch", defaultValue = "32", description = "Global batch (default ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--lr", defaultValue = "1e-3", description = "Peak learning rate (default ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--samples", defaultValue = "1000", description = "Guided samples per run for FID (default ${DEFAULT-VALUE}).")
    int samples;

    @Option(names = "--cfg-scale", defaultValue = "2.0", description = "Guidance scale (default ${DEFAULT-VALUE}).")
    double cfgScale;

    @Option(names = "--references", defaultValue = "2000", description = "Real test images for FID (default ${DEFAULT-VALUE}).")
    int references;

    @Option(names = "--vq-steps", defaultValue = "100", description = "Tokenizer training steps when --vq-ckpt is not given (default ${DEFAULT-VALUE}).")
    int vqSteps;

    @Option(names = "--threads", paramLabel = "N", description = "PyTorch intra-op threads (default: NPP_THREADS, else 1 on a busy machine and one per CPU on an idle one).")
    Integer threads;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        if (threads != null) {
            System.setProperty("ai.djl.pytorch.num_threads", String.valueOf(threads));
        }
        String table = NppVsNtpBench.run(new NppVsNtpBench.Settings(out, data, vqCkpt, featureModel, images, dim, layers, heads,
                epochs, batch, lr, seeds, seed, samples, cfgScale, references, vqSteps));
        spec.commandLine().getOut().println(table);
        spec.commandLine().getOut().println("wrote " + out.resolve("table.md") + ", " + out.resolve("runs.csv") + ", "
                + out.resolve("plot.png"));
        spec.commandLine().getOut().flush();
        return 0;
    }
}
