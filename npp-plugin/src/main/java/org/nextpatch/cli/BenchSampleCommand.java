package org.nextpatch.cli;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.config.GptConfig;
import org.nextpatch.onnx.OnnxExport;
import org.nextpatch.onnx.OnnxSampler;
import org.nextpatch.onnx.WeightQuantization;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code npp bench-sample}: measures sampling throughput (images/s) of the engines side by side in
 * one process, on a checkpoint or on random weights of a given configuration: the ONNX {@code Loop}
 * graph (one run per batch), the ONNX step graph driven from Java (one run per token) and the DJL
 * eager sampler (PyTorch engine, CPU).
 */
@Command(name = "bench-sample", mixinStandardHelpOptions = true,
        description = "Measure token-sampling throughput (images/s) of the sampling engines side by side.")
public final class BenchSampleCommand implements Runnable {
    private static final Logger LOG = LogManager.getLogger(BenchSampleCommand.class);

    static final class GptSource {
        @Option(names = "--gpt-model", description = "Named size: GPT-B, GPT-L, GPT-XL, GPT-XXL.")
        String model;
        @Option(names = "--gpt-config", description = "JSON file with upstream ModelArgs field names.")
        Path config;
    }

    @ArgGroup(exclusive = true, multiplicity = "0..1")
    GptSource source;

    @Option(names = "--onnx-dir", paramLabel = "DIR",
            description = "Instead of a model shape: measure this existing export (npp export-onnx), configuration from its manifest; ONNX engines only, no weights in memory.")
    Path onnxDir;

    @Option(names = "--keep-exports", paramLabel = "DIR",
            description = "Export into DIR/float32 (and DIR/int8, DIR/int4) and keep the folders (default: a temporary folder, deleted at the end).")
    Path keepExports;

    @Option(names = "--gpt-ckpt", description = "Checkpoint to benchmark (default: random weights, --seed).")
    Path gptCkpt;

    @Option(names = "--image-size", defaultValue = "256", description = "Image size for --gpt-model (default ${DEFAULT-VALUE}).")
    int imageSize;

    @Option(names = "--codebook-size", defaultValue = "16384", description = "Vocabulary for --gpt-model (default ${DEFAULT-VALUE}).")
    int codebookSize;

    @Option(names = "--num-classes", defaultValue = "1000", description = "Classes for --gpt-model (default ${DEFAULT-VALUE}).")
    int numClasses;

    @Option(names = "--batch-sizes", split = ",", defaultValue = "1,32", description = "Batch sizes (default ${DEFAULT-VALUE}).")
    List<Integer> batchSizes;

    @Option(names = "--engines", split = ",", defaultValue = "onnx-loop,onnx-step,djl",
            description = "Engines: onnx-loop, onnx-step, djl (DJL eager on the CPU), or none (only export, with --keep-exports) (default ${DEFAULT-VALUE}).")
    List<String> engineNames;

    @Option(names = "--quantize", split = ",", paramLabel = "int8,int4",
            description = "Also export the weights quantized (int8, int4) and measure each ONNX engine on them, as rows <engine>-int8, <engine>-int4.")
    List<String> quantize = List.of();

    @Option(names = "--repeats", defaultValue = "3", description = "Timed runs per engine and batch size after one warm-up (default ${DEFAULT-VALUE}).")
    int repeats;

    @Option(names = "--cfg-scale", defaultValue = "2.0", description = "Guidance scale (default ${DEFAULT-VALUE}).")
    double cfgScale;

    @Option(names = "--top-k", defaultValue = "0", description = "Top-k (default ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--threads", defaultValue = "0", description = "ONNX Runtime intra-op threads (0 = the project's setting, NPP_THREADS or its default).")
    int threads;

    @Option(names = "--device", defaultValue = "cpu", description = "ONNX Runtime device: cpu, auto, cuda, cuda:N (default ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--ort-profile", description = "Write ONNX Runtime per-node profiles with this file prefix.")
    String ortProfile;

    @Option(names = "--seed", defaultValue = "0", description = "Seed for random weights and the draw (default ${DEFAULT-VALUE}).")
    long seed;

    /** One sampling engine under test: generates tokens for a batch of classes. */
    interface Engine extends AutoCloseable {
        long[][] generate(long[] classes, SamplingSettings settings, long seed);

        @Override
        void close();
    }

    @Override
    public void run() {
        if (repeats < 1) {
            throw new NppCommand.UsageException("--repeats must be >= 1");
        }
        for (int b : batchSizes) {
            if (b < 1) {
                throw new NppCommand.UsageException("--batch-sizes must all be >= 1, got " + b);
            }
        }
        if ((source == null) == (onnxDir == null)) {
            throw new NppCommand.UsageException("give one of --gpt-model, --gpt-config or --onnx-dir");
        }
        if (onnxDir != null && (gptCkpt != null || keepExports != null || !quantize.isEmpty()
                || engineNames.stream().anyMatch(n -> !n.startsWith("onnx-")))) {
            throw new NppCommand.UsageException("--onnx-dir measures an existing export: ONNX engines only, "
                    + "without --gpt-ckpt, --quantize or --keep-exports");
        }
        Map<String, WeightQuantization> schemes = new LinkedHashMap<>();
        schemes.put("", null);
        for (String q : quantize) {
            WeightQuantization wq = WeightQuantization.parse(q, "--quantize");
            schemes.put("-" + wq.label(), wq);
        }
        if (keepExports != null) {
            OnnxExport.checkTarget(keepExports, false, "--keep-exports");
        }
        if (engineNames.contains("none") && (engineNames.size() > 1 || keepExports == null)) {
            throw new NppCommand.UsageException("--engines none (only export) goes alone and with --keep-exports");
        }
        // row-name suffix ("" for float32, "-int8", "-int4") -> export folder
        Map<String, Path> dirs = new LinkedHashMap<>();
        GptConfig cfg;
        Map<String, Tensor> weights = null;
        Path tmp = null;
        if (onnxDir != null) {
            cfg = OnnxExport.readGptConfig(onnxDir);
            dirs.put("", onnxDir);
        } else {
            // a benchmark names its model shape (random weights need one); downsampling 16 as upstream
            cfg = source.config != null ? GptConfig.fromJson(source.config).withoutDropout()
                    : GptConfig.named(source.model, GptConfig.blockSizeFor(imageSize, 16), codebookSize, numClasses).withoutDropout();
            weights = gptCkpt != null ? ExportOnnxCommand.loadWeights(gptCkpt, "--gpt-ckpt", false) : BenchWeights.random(cfg, seed);
            try {
                tmp = keepExports != null ? keepExports : Files.createTempDirectory("npp-bench-onnx");
            } catch (IOException e) {
                throw new NppException("cannot create a temporary directory: " + e.getMessage(), e);
            }
            for (Map.Entry<String, WeightQuantization> en : schemes.entrySet()) {
                dirs.put(en.getKey(), export(cfg, weights, en.getValue(), tmp));
            }
        }
        SamplingSettings st = new SamplingSettings(cfgScale, -1, 1.0, topK, 1.0, false);
        System.out.printf(Locale.ROOT, "config: dim %d, layers %d, heads %d, vocab %d, tokens %d, cfg %.2f, top-k %d, %d CPU cores, ORT threads %s%n",
                cfg.dim(), cfg.nLayer(), cfg.nHead(), cfg.vocabSize(), cfg.blockSize(), cfgScale, topK,
                Runtime.getRuntime().availableProcessors(), threads == 0 ? "default" : threads);
        System.out.println("| engine | batch | images/s | s per batch (median of " + repeats + ") | process CPU s per batch |");
        System.out.println("|---|---|---|---|---|");
        Map<String, Map<Integer, Double>> results = new LinkedHashMap<>();
        List<String[]> rows = new ArrayList<>();   // {row name, engine, folder suffix}
        for (String name : engineNames) {
            if (name.equals("none")) {
                continue;
            }
            rows.add(new String[]{name, name, ""});
            if (name.startsWith("onnx-")) {
                for (String suffix : dirs.keySet()) {
                    if (!suffix.isEmpty()) rows.add(new String[]{name + suffix, name, suffix});
                }
            }
        }
        for (String[] row : rows) {
            String name = row[0];
            try (Engine engine = engine(row[1], cfg, weights, dirs.get(row[2]))) {
                for (int b : batchSizes) {
                    long[] classes = new long[b];
                    for (int i = 0; i < b; i++) classes[i] = i % cfg.numClasses();
                    engine.generate(classes, st, seed);        // warm-up: session init, allocations, JIT
                    double[] secs = new double[repeats];
                    double[] cpu = new double[repeats];
                    for (int r = 0; r < repeats; r++) {
                        long c0 = processCpuNanos();
                        long t0 = System.nanoTime();
                        engine.generate(classes, st, seed + r);
                        secs[r] = (System.nanoTime() - t0) / 1e9;
                        cpu[r] = (processCpuNanos() - c0) / 1e9;
                    }
                    java.util.Arrays.sort(secs);
                    java.util.Arrays.sort(cpu);
                    double med = secs[repeats / 2];
                    results.computeIfAbsent(name, k -> new LinkedHashMap<>()).put(b, b / med);
                    System.out.printf(Locale.ROOT, "| %s | %d | %.2f | %.3f | %.3f |%n", name, b, b / med, med, cpu[repeats / 2]);
                    System.out.flush();
                }
            }
        }
        LOG.debug("bench results {}", results);
        if (tmp != null && keepExports == null) {
            deleteQuietly(tmp);
        }
    }

    /** Exports into {@code base/float32} (or {@code base/int8}, ...) and prints its size; returns the folder. */
    private static Path export(GptConfig cfg, Map<String, Tensor> weights, WeightQuantization wq, Path base) {
        Path dir = base.resolve(wq == null ? "float32" : wq.label());
        OnnxExport.export(cfg, weights, null, null, dir, false, wq, null, Map.of("purpose", "bench-sample"), Map.of());
        System.out.printf(Locale.ROOT, "export %s: %.1f MB on disk", wq == null ? "float32" : wq.label(), filesBytes(dir) / 1e6);
        if (wq != null) {
            var q = OnnxExport.readManifest(dir).path("quantization");
            System.out.printf(Locale.ROOT, " (quantized tensors %.1f MB: %.3f of their %.1f MB as float32)", q.path("bytes").asLong() / 1e6,
                    q.path("bytes").asDouble() / q.path("float32_bytes").asDouble(), q.path("float32_bytes").asLong() / 1e6);
        }
        System.out.println();
        return dir;
    }

    /** Bytes of the regular files directly in a folder. */
    private static long filesBytes(Path dir) {
        try (var s = Files.list(dir)) {
            return s.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
        } catch (IOException e) {
            throw new NppException("cannot list " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * CPU time of the whole process (all threads, native ones included): on a shared machine the
     * wall clock depends on other load, the CPU time much less.
     */
    private static long processCpuNanos() {
        if (java.lang.management.ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getProcessCpuTime();
        }
        return 0;
    }

    /** The engines by name. */
    Engine engine(String name, GptConfig cfg, Map<String, Tensor> weights, Path onnxDir) {
        OnnxSampler.Options opts = new OnnxSampler.Options(device, threads, 0, ortProfile);
        switch (name) {
            case "onnx-loop" -> {
                OnnxSampler s = new OnnxSampler(onnxDir, cfg, opts);
                return new Engine() {
                    public long[][] generate(long[] c, SamplingSettings st, long sd) { return s.generate(c, st, sd, 0, c.length); }
                    public void close() { s.close(); }
                };
            }
            case "onnx-step" -> {
                OnnxSampler s = new OnnxSampler(onnxDir, cfg, opts);
                return new Engine() {
                    public long[][] generate(long[] c, SamplingSettings st, long sd) { return s.generateStepwise(c, st, sd, 0, c.length); }
                    public void close() { s.close(); }
                };
            }
            case "djl" -> {
                // The eager DJL sampler (KV cache, host-side draw); --device cuda/cuda:N maps to the DJL GPU.
                String dev = device.toLowerCase(Locale.ROOT).replace("cuda", "gpu");
                org.nextpatch.model.Gpt gpt = new org.nextpatch.model.Gpt(cfg, weights, GptOptions.device(dev), "bench-sample");
                return new Engine() {
                    public long[][] generate(long[] c, SamplingSettings st, long sd) {
                        long[] flat = new org.nextpatch.sample.DjlSampler(gpt, st).generate(c, sd, 0);
                        int t = cfg.blockSize();
                        long[][] out = new long[c.length][];
                        for (int i = 0; i < c.length; i++) out[i] = java.util.Arrays.copyOfRange(flat, i * t, (i + 1) * t);
                        return out;
                    }
                    public void close() { gpt.close(); }
                };
            }
            default -> throw new NppCommand.UsageException("--engines: unknown engine '" + name + "' (onnx-loop, onnx-step, djl)");
        }
    }

    private static void deleteQuietly(Path dir) {
        try (var s = Files.walk(dir)) {
            List<Path> all = new ArrayList<>(s.toList());
            java.util.Collections.reverse(all);
            for (Path p : all) Files.deleteIfExists(p);
        } catch (IOException e) {
            LOG.debug("could not delete {}: {}", dir, e.getMessage());
        }
    }
}
