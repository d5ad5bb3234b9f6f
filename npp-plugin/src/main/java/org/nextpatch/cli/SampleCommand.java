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
import org.nextpatch.tensor.DType;
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
import java.io.PrintWriter;
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

        @Option(names = "--num-samples", paramLabel = "N", description = "Number of images, labels uniform over the classes (drawn from --seed); any number: results stream to disk batch by batch.")
        Long numSamples;
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
     * A sampling engine, open for a run: the tokens {@code [b * T]} of images {@code first .. first + b - 1}.
     * Image i's draw depends only on (seed, i), so batches give the same images as one long run.
     */
    interface TokenEngine extends AutoCloseable {
        long[] batch(long[] labels, long first);

        /** One line for the report: engine and device. */
        String describe();

        @Override
        void close();
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
        if (!engine.equalsIgnoreCase("djl") && !engine.equalsIgnoreCase("onnx")) {
            throw new NppCommand.UsageException("--engine must be djl or onnx, got '" + engine + "'");
        }
        SamplingSettings settings = new SamplingSettings(cfgScale, cfgInterval, temperature, topK, topP, greedy);
        if (vqCkpt != null && !spark.enabled()) {
            // the tokenizer's downsampling is the command's; a GPT that does not fit it is refused before sampling
            // (a Spark job reads its files where they are, possibly not on this machine: SparkSample checks there)
            gpt.tokenizer(VqModel.configFor(ExportOnnxCommand.loadRoot(vqCkpt, "--vq-ckpt"), vqConfig == null ? null
                    : org.nextpatch.config.VqConfig.fromJson(vqConfig)), "--vq-ckpt " + vqCkpt);
        }
        GptConfig c = gpt.config();
        Labels labels = labels(c);
        long n = labels.count();
        if (spark.enabled()) {
            // the Spark job partitions an in-memory label array (its results are written per partition)
            if (n > Integer.MAX_VALUE - 8) {
                throw new NppCommand.UsageException("--num-samples " + n + " is more than --spark-master takes in one run ("
                        + (Integer.MAX_VALUE - 8) + ")");
            }
            return SparkCommands.sample(this, settings, labels.next((int) n));
        }
        int t = c.blockSize();
        for (String written : new String[]{"tokens.npy", "labels.npy", "samples.npz", "grid.png"}) {
            Outputs.notAnInput(out.resolve(written), "--out", "--gpt-ckpt", gpt.ckpt, "--tribuo-model", gpt.tribuoModel, "--vq-ckpt", vqCkpt,
                    "--gpt-config", gpt.configFile, "--vq-config", vqConfig);
        }
        Outputs.writableDir(out, "--out");
        PrintWriter report = spec.commandLine().getOut();
        try (VqModel vq = vqCkpt == null ? null : loadTokenizer();
             TokenEngine tokens = engine(engine, settings);
             org.nextpatch.util.DirLock lock = org.nextpatch.util.DirLock.acquire(out, "--out " + out)) {
            Outputs.removeLeftovers(out, "--out", report);
            if (Files.exists(out.resolve("tokens.npy"))) {
                report.println("--out " + out + ": replacing the results of an earlier run there");
            }
            // the run is written into a folder of its own and moved in once complete: a failed or
            // killed run never leaves its files beside those of an earlier one
            Path run = Outputs.runFolder(out, "--out");
            try {
                writeRun(run, vq, tokens, labels, n, t, report);
                int removed = Outputs.replaceRun(out, run, "--out");
                if (removed > 0) {
                    report.println("removed " + removed + " files of an earlier run from " + out);
                }
            } finally {
                Outputs.removeQuietly(run);
            }
        }
        report.println("wrote " + n + " samples to " + out);
        report.flush();
        return 0;
    }

    /** Samples the whole run into {@code run}: tokens, labels and, with a tokenizer, the images. */
    private void writeRun(Path run, VqModel vq, TokenEngine tokens, Labels labels, long n, int t, PrintWriter report) {
        ImageSink images = vq == null ? null : new ImageSink(vq, n, run);
        try (Npy.RowWriter tokenFile = new Npy.RowWriter(run.resolve("tokens.npy"), DType.INT64, n, t);
             Npy.RowWriter labelFile = new Npy.RowWriter(run.resolve("labels.npy"), DType.INT64, n);
             ImageSink sink = images;
             Progress progress = Progress.start("sample", n, "img")) {
            long t0 = System.nanoTime();
            for (long start = 0; start < n; start += batchSize) {
                int b = (int) Math.min(batchSize, n - start);
                long[] lab = labels.next(b);
                long[] tok = tokens.batch(lab, start);
                tokenFile.append(Tensor.ofLongs(new long[]{b, t}, tok));
                labelFile.append(Tensor.ofLongs(new long[]{b}, lab));
                if (sink != null) {
                    sink.write(tok, lab, start, t);
                }
                progress.step(b);
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            report.printf(Locale.ROOT, "sampled %d images in %.2f s: %.2f images/s (%s)%n", n, secs, n / secs,
                    tokens.describe());
            tokenFile.commit();
            labelFile.commit();
            if (sink != null) {
                sink.commit();
            }
        }
    }

    /** The labels of a run, drawn block by block. */
    private interface Labels {
        long count();

        long[] next(int b);
    }

    private Labels labels(GptConfig c) {
        if (which.numSamples != null) {
            if (which.numSamples < 1) {
                throw new NppCommand.UsageException("--num-samples must be positive");
            }
            long count = which.numSamples;
            Uniforms.LabelStream stream = new Uniforms.LabelStream(seed, c.numClasses());
            return new Labels() {
                @Override
                public long count() {
                    return count;
                }

                @Override
                public long[] next(int b) {
                    return stream.next(b);
                }
            };
        }
        long[] l = which.classes.stream().mapToLong(Long::longValue).toArray();
        for (long x : l) {
            if (x < 0 || x >= c.numClasses()) {
                throw new NppCommand.UsageException("--classes: class " + x + " is out of range 0.." + (c.numClasses() - 1));
            }
        }
        return new Labels() {
            private int pos;

            @Override
            public long count() {
                return l.length;
            }

            @Override
            public long[] next(int b) {
                long[] r = java.util.Arrays.copyOfRange(l, pos, pos + b);
                pos += b;
                return r;
            }
        };
    }

    /** The engine by name, open. */
    TokenEngine engine(String name, SamplingSettings settings) {
        if (name.equalsIgnoreCase("onnx")) {
            OnnxSampleEngine.Session session = OnnxSampleEngine.open(gpt, onnxDir, overwrite, onnxThreads);
            return new TokenEngine() {
                @Override
                public long[] batch(long[] labels, long first) {
                    return session.generate(labels, settings, seed, first);
                }

                @Override
                public String describe() {
                    return "onnx, " + session.provider();
                }

                @Override
                public void close() {
                    session.close();
                }
            };
        }
        Gpt model = gpt.load();
        DjlSampler sampler = new DjlSampler(model, settings);
        return new TokenEngine() {
            @Override
            public long[] batch(long[] labels, long first) {
                sampler.checkLabels(labels);
                return sampler.generate(labels, seed, first);
            }

            @Override
            public String describe() {
                return "djl, " + model.device();
            }

            @Override
            public void close() {
                model.close();
            }
        };
    }

    /** The tokenizer (its fit to the GPT was checked when the configuration was resolved). */
    private VqModel loadTokenizer() {
        return VqModel.load(vqCkpt, vqConfig == null ? null : org.nextpatch.config.VqConfig.fromJson(vqConfig),
                GptOptions.device(gpt.device));
    }

    /** Images in grid.png: the first ones of the run (a 50,000-image FID run would make an unusable grid). */
    static final int GRID_MAX = 64;

    /**
     * Decodes token batches and streams them out: one PNG per image, rows of {@code samples.npz}, and
     * the first {@link #GRID_MAX} images in {@code grid.png}. Memory stays at one batch.
     */
    private final class ImageSink implements AutoCloseable {
        private final VqModel vq;
        private final long n;
        private final Path dir;
        private final Npz.Writer npz;
        private final java.io.ByteArrayOutputStream gridBytes = new java.io.ByteArrayOutputStream();
        private final long[] gridLabels = new long[GRID_MAX];
        private long[] gridShape;

        ImageSink(VqModel vq, long n, Path dir) {
            this.vq = vq;
            this.n = n;
            this.dir = dir;
            this.npz = new Npz.Writer(dir.resolve("samples.npz"));
        }

        void write(long[] tokens, long[] labels, long start, int t) {
            int b = labels.length;
            Tensor pixels;
            try {
                pixels = Images.toUint8Nhwc(vq.decode(Tensor.ofLongs(new long[]{b, t}, tokens)));
            } catch (NppException e) {
                throw new NppException("--vq-ckpt " + vqCkpt + ": " + e.getMessage(), e);
            }
            long[] s = pixels.shape();
            if (start == 0) {
                npz.begin(Npz.SAMPLES, pixels.dtype(), n, s[1], s[2], s[3]);
            }
            npz.appendRows(pixels);
            for (int j = 0; j < b; j++) {
                Images.writePng(dir.resolve(String.format(Locale.ROOT, "sample_%06d.png", start + j)), Images.fromNhwc(pixels, j));
            }
            if (start < GRID_MAX) {
                int keep = (int) Math.min(b, GRID_MAX - start);
                byte[] all = pixels.toByteArray();
                gridBytes.write(all, 0, all.length / b * keep);
                System.arraycopy(labels, 0, gridLabels, (int) start, keep);
                gridShape = new long[]{Math.min(n, GRID_MAX), s[1], s[2], s[3]};
            }
        }

        void commit() {
            npz.commit();
            Tensor grid = Tensor.ofBytes(DType.UINT8, gridShape, gridBytes.toByteArray());
            Images.writeGrid(dir.resolve("grid.png"), grid, java.util.Arrays.copyOf(gridLabels, (int) gridShape[0]), null);
            LOG.info("wrote {} PNGs, grid.png and samples.npz to {}", n, out);
        }

        @Override
        public void close() {
            npz.close();
        }
    }
}
