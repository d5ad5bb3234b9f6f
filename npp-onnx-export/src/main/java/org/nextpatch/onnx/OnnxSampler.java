package org.nextpatch.onnx;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.config.GptConfig;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.sample.TokenChooser;
import org.nextpatch.sample.Uniforms;
import org.nextpatch.util.NppException;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Generates image tokens with ONNX Runtime from graphs written by {@link GptOnnxExporter}.
 * <p>
 * Two paths: {@link #generate} runs the whole-generation {@code Loop} graph, one {@code run()} per
 * batch (the fast path: ONNX Runtime's Java API has no IO binding, so a per-token loop would copy the
 * key/value cache in and out at every step); {@link #generateStepwise} runs prefill + decode-step
 * graphs from Java with the shared {@link TokenChooser} (a reference and a benchmark baseline).
 * Both take their random numbers from {@link Uniforms}: image {@code first + i} of a run with seed S
 * draws the same numbers on any engine, so the same seed gives the same tokens as the DJL sampler.
 * <p>
 * Sessions use the CUDA provider when asked ({@code auto} or {@code cuda}) and available; with
 * {@code auto} a missing CUDA runtime is logged and the CPU provider is used.
 */
public final class OnnxSampler implements AutoCloseable {
    private static final Logger LOG = LogManager.getLogger(OnnxSampler.class);

    /** File names inside an export directory. */
    public static final String GENERATE = "gpt-generate.onnx";
    public static final String PREFILL = "gpt-prefill.onnx";
    public static final String STEP = "gpt-step.onnx";

    /**
     * Session settings.
     *
     * @param device         {@code cpu}, {@code cuda} (fail without it), {@code cuda:N} or {@code auto}
     *                       (CUDA when it loads, else CPU with a log line)
     * @param intraOpThreads threads inside an operator (0: the project's setting, {@link org.nextpatch.util.Threads})
     * @param interOpThreads threads across operators (0: default)
     * @param profilePrefix  when not null, ONNX Runtime writes a per-node timing profile (JSON) with
     *                       this file prefix for every session (see docs/benchmarks.md)
     */
    public record Options(String device, int intraOpThreads, int interOpThreads, String profilePrefix) {
        public Options {
            if (device == null || !(device.equals("cpu") || device.equals("auto") || device.matches("cuda(:\\d+)?"))) {
                throw new org.nextpatch.util.BadValueException("--device must be cpu, auto, cuda or cuda:N, got '" + device + "'");
            }
            if (intraOpThreads < 0 || interOpThreads < 0) {
                throw new NppException("thread counts must be >= 0 (0 = ONNX Runtime default)");
            }
        }

        /** CPU with default threads. */
        public static Options cpu() {
            return new Options("cpu", 0, 0, null);
        }
    }

    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final Path dir;
    private final Options options;
    private final GptConfig cfg;
    private String provider = "CPU";
    private OrtSession generateSession;
    private OrtSession prefillSession;
    private OrtSession stepSession;

    /**
     * Opens the graphs in an export directory (sessions are created on first use).
     *
     * @param dir     directory with {@code gpt-generate.onnx} and/or {@code gpt-prefill.onnx} + {@code gpt-step.onnx}
     * @param cfg     the model configuration the graphs were exported from
     * @param options session settings
     */
    public OnnxSampler(Path dir, GptConfig cfg, Options options) {
        this.dir = dir;
        this.cfg = cfg;
        this.options = options;
        if (!Files.isDirectory(dir)) {
            throw new NppException("--onnx-dir " + dir + " is not a directory");
        }
    }

    /**
     * Opens an export directory written by {@link OnnxExport}, reading the configuration from its
     * manifest after checking every file against the manifest's digests ({@link OnnxExport#open}).
     */
    public static OnnxSampler open(Path dir, Options options) {
        return new OnnxSampler(dir, OnnxExport.gptConfig(dir, OnnxExport.open(dir)), options);
    }

    private void checkClasses(long[] classes) {
        for (long c : classes) {
            if (c < 0 || c >= cfg.numClasses()) {
                throw new NppException("class " + c + " is out of range: the model has classes 0.." + (cfg.numClasses() - 1));
            }
        }
    }

    /**
     * Opens {@code gpt-generate.onnx} now and checks it against the configuration
     * ({@link OnnxGraphCheck#generate}): a truncated graph, or one of another model than the
     * configuration says, is refused here in one line instead of failing every later run.
     */
    public void check() {
        if (generateSession == null) {
            generateSession = session(GENERATE);
        }
        OnnxGraphCheck.generate(dir.resolve(GENERATE), generateSession, cfg);
    }

    /** The execution provider the sessions use ("CUDA" or "CPU"), known after the first session. */
    public String provider() {
        return provider;
    }

    /** The model configuration. */
    public GptConfig config() {
        return cfg;
    }

    private OrtSession session(String name) {
        Path file = dir.resolve(name);
        if (!Files.isRegularFile(file)) {
            throw new NppException("--onnx-dir " + dir + " has no " + name + " (run 'npp export-onnx' first)");
        }
        try {
            OrtSession.SessionOptions so = new OrtSession.SessionOptions();
            so.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            // 0: the project's setting (org.nextpatch.util.Threads), not ONNX Runtime's all-cores default
            so.setIntraOpNumThreads(options.intraOpThreads() > 0 ? options.intraOpThreads()
                    : org.nextpatch.util.Threads.onnxSampling());
            if (options.interOpThreads() > 0) {
                so.setInterOpNumThreads(options.interOpThreads());
            }
            if (options.profilePrefix() != null) {
                so.enableProfiling(options.profilePrefix() + "-" + name.replace(".onnx", ""));
            }
            provider = "CPU";
            if (!options.device().equals("cpu")) {
                int id = options.device().startsWith("cuda:") ? Integer.parseInt(options.device().substring(5)) : 0;
                try {
                    so.addCUDA(id);
                    provider = "CUDA";
                } catch (OrtException | RuntimeException | UnsatisfiedLinkError e) {
                    if (options.device().startsWith("cuda")) {
                        throw new NppException("--device " + options.device() + ": the CUDA provider of ONNX Runtime is not available ("
                                + e.getMessage() + "); build with -Pcuda on a machine with CUDA 12 and cuDNN 9, or use --device cpu");
                    }
                    LOG.info("ONNX Runtime CUDA provider not available ({}); using the CPU provider", e.getMessage());
                }
            }
            long t0 = System.nanoTime();
            OrtSession s = env.createSession(file.toString(), so);
            LOG.debug("loaded {} on {} in {} ms", file, provider, (System.nanoTime() - t0) / 1_000_000);
            return s;
        } catch (OrtException e) {
            throw new NppException("cannot load ONNX model " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Generates tokens for the given classes with the {@code Loop} graph, {@code batchSize} images per
     * {@code run()}.
     *
     * @param classes    class index of each image
     * @param settings   guidance and draw settings
     * @param seed       run seed (see {@link Uniforms})
     * @param firstIndex image index of {@code classes[0]} within the run (for resuming / sharding)
     * @param batchSize  images per run
     * @return tokens [N, T]
     */
    public long[][] generate(long[] classes, SamplingSettings settings, long seed, long firstIndex, int batchSize) {
        checkClasses(classes);
        if (batchSize < 1) {
            throw new org.nextpatch.util.BadValueException("--batch-size must be positive, got " + batchSize);
        }
        int t = cfg.blockSize();
        long[][] out = new long[classes.length][];
        for (int start = 0; start < classes.length; start += batchSize) {
            int n = Math.min(batchSize, classes.length - start);
            long[] cls = java.util.Arrays.copyOfRange(classes, start, start + n);
            long[][] tok = generateRows(cls, Uniforms.forBatch(seed, firstIndex + start, n, t), settings);
            System.arraycopy(tok, 0, out, start, n);
        }
        return out;
    }

    /**
     * One {@code run()} of the {@code Loop} graph with explicit uniforms: row i draws with
     * {@code uniforms[i*T .. (i+1)*T)}. Rows may come from different runs (the server batches
     * requests with different seeds); a row's tokens depend only on its class and its uniforms.
     *
     * @param classes  class index of each row
     * @param uniforms row-major [N, T], e.g. {@link Uniforms#forImage} of each row's (seed, index)
     * @param settings guidance and draw settings (one set for the whole batch: they are graph scalars)
     * @return tokens [N, T]
     */
    public long[][] generateRows(long[] classes, float[] uniforms, SamplingSettings settings) {
        checkClasses(classes);
        int n = classes.length;
        int t = cfg.blockSize();
        if (uniforms.length != n * t) {
            throw new IllegalArgumentException("uniforms: expected " + n + " x " + t + " numbers, got " + uniforms.length);
        }
        if (generateSession == null) {
            generateSession = session(GENERATE);
        }
        Map<String, OnnxTensor> in = new HashMap<>();
        try {
            in.put("class_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(classes), new long[]{n}));
            in.put("uniforms", OnnxTensor.createTensor(env, FloatBuffer.wrap(uniforms), new long[]{n, t}));
            in.put("cfg_scale", OnnxTensor.createTensor(env, (float) settings.cfgScale()));
            in.put("cfg_interval", OnnxTensor.createTensor(env, (long) settings.cfgInterval()));
            in.put("temperature", OnnxTensor.createTensor(env, (float) settings.temperature()));
            in.put("top_k", OnnxTensor.createTensor(env, (long) settings.topK()));
            in.put("top_p", OnnxTensor.createTensor(env, (float) settings.topP()));
            in.put("greedy", OnnxTensor.createTensor(env, settings.greedy()));
            try (OrtSession.Result r = generateSession.run(in)) {
                return (long[][]) r.get("tokens").orElseThrow().getValue();
            }
        } catch (OrtException e) {
            throw new NppException("ONNX Runtime failed running " + dir.resolve(GENERATE) + ": " + e.getMessage(), e);
        } finally {
            in.values().forEach(OnnxTensor::close);
        }
    }

    /**
     * Generates tokens with the prefill and step graphs, one {@code run()} per token, guidance and
     * the draw in Java ({@link TokenChooser}). Same tokens as {@link #generate} for the same seed.
     */
    public long[][] generateStepwise(long[] classes, SamplingSettings settings, long seed, long firstIndex, int batchSize) {
        checkClasses(classes);
        int t = cfg.blockSize();
        int v = cfg.vocabSize();
        long[][] out = new long[classes.length][t];
        TokenChooser chooser = new TokenChooser(settings);
        for (int start = 0; start < classes.length; start += batchSize) {
            int n = Math.min(batchSize, classes.length - start);
            boolean guided = settings.guided();
            int rows = guided ? 2 * n : n;
            long[] ids = new long[rows];
            for (int i = 0; i < n; i++) {
                ids[i] = classes[start + i];
                if (guided) {
                    ids[n + i] = cfg.nullClass();
                }
            }
            float[] u = Uniforms.forBatch(seed, firstIndex + start, n, t);
            List<OnnxTensor> cache = new ArrayList<>();
            try {
                float[] logits = prefill(ids, cache);
                for (int step = 0; step < t; step++) {
                    boolean g = step == 0 ? guided : settings.guidedAtDecodeStep(step - 1);
                    long[] next = new long[rows];
                    for (int i = 0; i < n; i++) {
                        float[] row = new float[v];
                        for (int j = 0; j < v; j++) {
                            float c = logits[i * v + j];
                            if (g) {
                                float un = logits[(n + i) * v + j];
                                row[j] = un + (c - un) * (float) settings.cfgScale();
                            } else {
                                row[j] = c;
                            }
                        }
                        int tok = chooser.choose(row, u[i * t + step]);
                        out[start + i][step] = tok;
                        next[i] = tok;
                        if (guided) {
                            next[n + i] = tok;
                        }
                    }
                    if (step + 1 < t) {
                        long[][] nextIds = new long[rows][1];
                        long[][] pos = new long[rows][1];
                        for (int r = 0; r < rows; r++) {
                            nextIds[r][0] = next[r];
                            pos[r][0] = step + 1;
                        }
                        logits = step(nextIds, pos, cache);
                    }
                }
            } finally {
                cache.forEach(OnnxTensor::close);
            }
        }
        return out;
    }

    /** Runs the prefill graph; replaces {@code cache} with the presents; returns logits [B * V]. */
    public float[] prefill(long[] classIds, List<OnnxTensor> cache) {
        if (prefillSession == null) {
            prefillSession = session(PREFILL);
        }
        try (OnnxTensor ids = OnnxTensor.createTensor(env, LongBuffer.wrap(classIds), new long[]{classIds.length})) {
            OrtSession.Result r = prefillSession.run(Map.of("class_ids", ids));
            return keep(r, cache);
        } catch (OrtException e) {
            throw new NppException("ONNX Runtime failed running " + dir.resolve(PREFILL) + ": " + e.getMessage(), e);
        }
    }

    /**
     * Runs the step graph on {@code ids [B, S]} at sequence indices {@code pos [B, S]} with the cache
     * (which is replaced by the presents); returns logits [B * S * V].
     */
    public float[] step(long[][] ids, long[][] pos, List<OnnxTensor> cache) {
        if (stepSession == null) {
            stepSession = session(STEP);
        }
        int b = ids.length;
        int s = ids[0].length;
        long[] flatIds = new long[b * s];
        long[] flatPos = new long[b * s];
        for (int i = 0; i < b; i++) {
            System.arraycopy(ids[i], 0, flatIds, i * s, s);
            System.arraycopy(pos[i], 0, flatPos, i * s, s);
        }
        Map<String, OnnxTensor> in = new HashMap<>();
        try {
            in.put("input_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(flatIds), new long[]{b, s}));
            in.put("position_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(flatPos), new long[]{b, s}));
            for (int i = 0; i < cfg.nLayer(); i++) {
                in.put("past_key_values." + i + ".key", cache.get(2 * i));
                in.put("past_key_values." + i + ".value", cache.get(2 * i + 1));
            }
            OrtSession.Result r = stepSession.run(in);
            return keep(r, cache);
        } catch (OrtException e) {
            throw new NppException("ONNX Runtime failed running " + dir.resolve(STEP) + ": " + e.getMessage(), e);
        } finally {
            in.get("input_ids").close();
            in.get("position_ids").close();
        }
    }

    /** Takes the logits out of a result and moves the presents into {@code cache} (closing the old ones). */
    private float[] keep(OrtSession.Result r, List<OnnxTensor> cache) throws OrtException {
        float[] logits;
        try (OnnxTensor l = (OnnxTensor) r.get("logits").orElseThrow()) {
            FloatBuffer fb = l.getFloatBuffer();
            logits = new float[fb.remaining()];
            fb.get(logits);
        }
        List<OnnxTensor> fresh = new ArrayList<>();
        for (int i = 0; i < cfg.nLayer(); i++) {
            fresh.add((OnnxTensor) r.get("present." + i + ".key").orElseThrow());
            fresh.add((OnnxTensor) r.get("present." + i + ".value").orElseThrow());
        }
        cache.forEach(OnnxValue::close);
        cache.clear();
        cache.addAll(fresh);
        return logits;
    }

    @Override
    public void close() {
        for (OrtSession s : new OrtSession[]{generateSession, prefillSession, stepSession}) {
            if (s != null && options.profilePrefix() != null) {
                try {
                    LOG.info("ONNX Runtime profile written to {}", s.endProfiling());
                } catch (OrtException e) {
                    LOG.debug("ending the profile failed: {}", e.getMessage());
                }
            }
        }
        for (OrtSession s : new OrtSession[]{generateSession, prefillSession, stepSession}) {
            if (s != null) {
                try {
                    s.close();
                } catch (OrtException e) {
                    LOG.debug("closing an ONNX Runtime session failed: {}", e.getMessage());
                }
            }
        }
    }
}
