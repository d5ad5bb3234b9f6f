package org.nextpatch.cli;

import org.nextpatch.demo.QuantizeBench;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code npp bench quantize}: int8 and int4 exports of a finished demo's model against float32 ({@link QuantizeBench}). */
@Command(name = "quantize", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"The demo's model exported as float32, int8 and int4 (weight-only, --quantize) and sampled with the "
                + "demo's labels, guidance and seed: FID and class agreement through the demo's feature network, the logits "
                + "error against float32 and the agreement of greedy tokens. Writes OUT/table.md."})
public final class BenchQuantizeCommand implements Callable<Integer> {

    @Option(names = "--demo", defaultValue = "results/demo", paramLabel = "DIR", description = "A finished demo's folder (default ${DEFAULT-VALUE}).")
    Path demo;

    @Option(names = "--out", defaultValue = "results/bench-quantize", paramLabel = "DIR", description = "Output folder (default ${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--data", paramLabel = "DIR", description = "Fashion-MNIST IDX folder, as given to the demo (default: installed dataset, else the shipped test split).")
    Path data;

    @Option(names = "--seed", defaultValue = "0", description = "The demo's seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--samples", defaultValue = "1000", description = "Guided samples per export, the demo's --fid-samples (default ${DEFAULT-VALUE}).")
    int samples;

    @Option(names = "--cfg-scale", defaultValue = "2.0", description = "Guidance scale, the demo's (default ${DEFAULT-VALUE}).")
    double cfgScale;

    @Option(names = "--references", defaultValue = "2000", description = "Real test images for FID, the demo's --reference-images (default ${DEFAULT-VALUE}).")
    int references;

    @Option(names = "--compared", defaultValue = "100", description = "Images whose logits and greedy tokens are compared with float32 (default ${DEFAULT-VALUE}).")
    int compared;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        Outputs.writableDir(out, "--out");
        String table = QuantizeBench.run(new QuantizeBench.Settings(demo, out, data, seed, samples, cfgScale, references, compared));
        spec.commandLine().getOut().println(table);
        spec.commandLine().getOut().println("wrote " + out.resolve("table.md"));
        spec.commandLine().getOut().flush();
        return 0;
    }
}
