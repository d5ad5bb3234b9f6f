package org.nextpatch.cli;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.config.GptConfig;
import org.nextpatch.io.Images;
import org.nextpatch.model.Gpt;
import org.nextpatch.model.VqModel;
import org.nextpatch.sample.DjlSampler;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.sample.Uniforms;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Npz;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;
import org.nextpatch.util.Progress;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code npp sample}: class-conditional generation with guidance (spec 6.5). Writes
 * {@code DIR/tokens.npy} (int64 [N, T]) and {@code DIR/labels.npy} (int64 [N]); with a tokenizer
 * ({@code --vq-ckpt}) also one PNG per image, {@code DIR/grid.png} and {@code DIR/samples.npz}
 * ({@code arr_0} uint8 [N, H, W, 3], the upstream conversion) for the ADM evaluator.
 * <p>
 * Draws are reproducible across engines and devices: image i uses the uniforms of
 * {@link Uniforms#forImage}(seed, i, T) and {@link org.nextpatch.sample.TokenChooser}.
 */
@Command(name = "sample", mixinStandardHelpOptions = true,
        description = "Generate images' tokens (and images with --vq-ckpt) with classifier-free guidance.")
public final class SampleCommand implements Callable<Integer> {
    private static final Logger LOG = LogManager.getLogger(SampleCommand.class);

    @Spec
    CommandSpec spec;

    @Mixin
    GptOptions gpt;

    static final class Which {
        @Option(names = "--classes", split = ",", paramLabel = "C", description = "Classes to generate, e.g. 3,0,9 (one image each).")
        List<Long> classes;

        @Option(names = "--num-samples", paramLabel = "N", description = "Number of images, labels uniform over the classes (drawn from --seed).")
        Integer numSamples;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Which which;

    @Option(names = "--cfg-scale", defaultValue = "4.0", paramLabel = "s",
            description = "Classifier-free guidance scale (default ${DEFAULT-VALUE} as upstream sample_c2i; 1 or below = none, as upstream; FID settings: B 2.0, L 1.75, XL 1.70, XXL 1.65).")
    double cfgScale;

    @Option(names = "--cfg-interval", defaultValue = "-1", paramLabel = "i",
            description = "Decode steps after i use the conditional logits alone (default ${DEFAULT-VALUE}: guide every step).")
    int cfgInterval;

    @Option(names = "--temperature", defaultValue = "1.0", description = "Sampling temperature (default ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--top-k", defaultValue = "0", description = "Keep the k most likely tokens (default ${DEFAULT-VALUE} = off).")
    int topK;

    @Option(names = "--top-p", defaultValue = "1.0", description = "Nucleus sampling threshold (default ${DEFAULT-VALUE} = off).")
    double topP;

    @Option(names = "--greedy", description = "Argmax decoding instead of drawing.")
    boolean greedy;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the draw (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--batch-size", defaultValue = "32", description = "Images per batch (doubled under guidance; default ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--engine", defaultValue = "djl", paramLabel = "djl|onnx",
            description = "Sampling engine (default ${DEFAULT-VALUE}).")
    String engine;

    @Option(names = "--onnx-dir", paramLabel = "DIR",
            description = "With --engine onnx: graphs from 'npp export-onnx' or NppModel.exportOnnxGraphs, which must be of this checkpoint's weights (exported into DIR when it is new or empty; default: a temporary export).")
    Path onnxDir;

    @Option(names = "--overwrite", description = "With --onnx-dir: export into DIR even if it holds another export or other files.")
    boolean overwrite;

    @Option(names = "--onnx-threads", defaultValue = "0", paramLabel = "N",
            description = "With --engine onnx: ONNX Runtime intra-op threads (default ${DEFAULT-VALUE} = the project's setting, NPP_THREADS or its default).")
    int onnxThreads;

    @Option(names = "--vq-ckpt", paramLabel = "FILE", description = "VQ tokenizer checkpoint: also decode and write images.")
    Path vqCkpt;

    @Option(names = "--vq-config", paramLabel = "FILE", description = "Tokenizer configuration JSON (default: recorded in the checkpoint, else VQ-16).")
    Path vqConfig;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory.")
    Path out;

    @Mixin
    SparkOptions spark;

    /**
     * A sampling engine: the tokens {@code [N * T]} of images {@code 0..N-1} of a run. The ONNX
     * Runtime engine registers itself in {@link #engine(String)}.
     */
    interface TokenEngine {
        long[] sample(long[] labels, SamplingSettings settings, long seed, int batchSize);
    }

    @Override
    public Integer call() {
        if (batchSize < 1) {
            throw new NppCommand.UsageException("--batch-size must be positive");
        }
        if (vqConfig != null && vqCkpt == null) {
            throw new NppCommand.UsageException("--vq-config needs --vq-ckpt");
        }
        if (overwrite && onnxDir == null) {
            throw new NppCommand.UsageException("--overwrite needs --onnx-dir");
        }
        SamplingSettings settings = new SamplingSettings(cfgScale, cfgInterval, temperature, topK, topP, greedy);
        if (vqCkpt != null && !spark.enabled()) {
            // the tokenizer's downsampling is the command's; a GPT that does not fit it is refused before sampling
            // (a Spark job reads its files where they are, possibly not on this machine: SparkSample checks there)
            gpt.tokenizer(VqModel.configFor(ExportOnnxCommand.loadRoot(vqCkpt, "--vq-ckpt"), vqConfig == null ? null
                    : org.nextpatch.config.VqConfig.fromJson(vqConfig)), "--vq-ckpt " + vqCkpt);
        }
        GptConfig c = gpt.config();
        long[] labels = labels(c);
        if (spark.enabled()) {
            return SparkCommands.sample(this, settings, labels);
        }
        long[] tokens = engine(engine).sample(labels, settings, seed, batchSize);
        int t = c.blockSize();
        try {
            Files.createDirectories(out);
        } catch (IOException e) {
            throw new NppException("--out " + out + ": cannot create the directory: " + e.getMessage(), e);
        }
        Npy.write(out.resolve("tokens.npy"), Tensor.ofLongs(new long[]{labels.length, t}, tokens));
        Npy.write(out.resolve("labels.npy"), Tensor.ofLongs(new long[]{labels.length}, labels));
        if (vqCkpt != null) {
            writeImages(tokens, labels, t);
        }
        spec.commandLine().getOut().println("wrote " + labels.length + " samples to " + out);
        spec.commandLine().getOut().flush();
        return 0;
    }

    private long[] labels(GptConfig c) {
        if (which.numSamples != null) {
            if (which.numSamples < 1) {
                throw new NppCommand.UsageException("--num-samples must be positive");
            }
            return Uniforms.labels(seed, which.numSamples, c.numClasses());
        }
        long[] l = which.classes.stream().mapToLong(Long::longValue).toArray();
        for (long x : l) {
            if (x < 0 || x >= c.numClasses()) {
                throw new NppCommand.UsageException("--classes: class " + x + " is out of range 0.." + (c.numClasses() - 1));
            }
        }
        return l;
    }

    /** The engine by name. */
    TokenEngine engine(String name) {
        switch (name.toLowerCase(Locale.ROOT)) {
            case "djl":
                return (labels, settings, sd, bs) -> {
                    try (Gpt model = gpt.load()) {
                        DjlSampler sampler = new DjlSampler(model, settings);
                        long t0 = System.nanoTime();
                        long[] tokens = sampler.sample(labels, sd, bs);
                        double secs = (System.nanoTime() - t0) / 1e9;
                        spec.commandLine().getOut().printf(Locale.ROOT, "sampled %d images in %.2f s: %.2f images/s (djl, %s)%n",
                                labels.length, secs, labels.length / secs, model.device());
                        return tokens;
                    }
                };
            case "onnx":
                return (labels, settings, sd, bs) -> OnnxSampleEngine.sample(gpt, onnxDir, overwrite, onnxThreads, labels, settings, sd, bs,
                        spec.commandLine().getOut());
            default:
                throw new NppCommand.UsageException("--engine must be djl or onnx, got '" + name + "'");
        }
    }

    /** Images in grid.png: the first ones of the run (a 50,000-image FID run would make an unusable grid). */
    static final int GRID_MAX = 64;

    /**
     * Decodes the tokens batch by batch and streams them out: one PNG per image, rows of
     * {@code samples.npz}, and the first {@link #GRID_MAX} images in {@code grid.png}. Memory stays at
     * one batch, so a 50,000-image FID run fits.
     */
    private void writeImages(long[] tokens, long[] labels, int t) {
        int n = labels.length;
        java.io.ByteArrayOutputStream gridBytes = new java.io.ByteArrayOutputStream();
        long[] gridShape = null;
        try (VqModel vq = VqModel.load(vqCkpt, vqConfig == null ? null : org.nextpatch.config.VqConfig.fromJson(vqConfig),
                GptOptions.device(gpt.device));
             Npz.Writer npz = new Npz.Writer(out.resolve("samples.npz"));
             Progress progress = Progress.start("decode", n, "img")) {
            for (int start = 0; start < n; start += batchSize) {
                int b = Math.min(batchSize, n - start);
                Tensor codes = Tensor.ofLongs(new long[]{b, t}, java.util.Arrays.copyOfRange(tokens, start * t, (start + b) * t));
                Tensor pixels;
                try {
                    pixels = Images.toUint8Nhwc(vq.decode(codes));
                } catch (NppException e) {
                    throw new NppException("--vq-ckpt " + vqCkpt + ": " + e.getMessage(), e);
                }
                long[] s = pixels.shape();
                if (start == 0) {
                    npz.begin(Npz.SAMPLES, pixels.dtype(), n, s[1], s[2], s[3]);
                }
                npz.appendRows(pixels);
                for (int j = 0; j < b; j++) {
                    Images.writePng(out.resolve(String.format(Locale.ROOT, "sample_%06d.png", start + j)), Images.fromNhwc(pixels, j));
                }
                if (start < GRID_MAX) {
                    int keep = Math.min(b, GRID_MAX - start);
                    byte[] all = pixels.toByteArray();
                    gridBytes.write(all, 0, (int) (all.length / b * keep));
                    gridShape = new long[]{Math.min(n, GRID_MAX), s[1], s[2], s[3]};
                }
                progress.step(b);
            }
            npz.commit();
        }
        Tensor grid = Tensor.ofBytes(org.nextpatch.tensor.DType.UINT8, gridShape, gridBytes.toByteArray());
        Images.writeGrid(out.resolve("grid.png"), grid, java.util.Arrays.copyOf(labels, (int) gridShape[0]), null);
        LOG.info("wrote {} PNGs, grid.png and samples.npz to {}", n, out);
    }
}
