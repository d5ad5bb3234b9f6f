package org.nextpatch.spark;

import com.fasterxml.jackson.databind.JsonNode;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.apache.spark.TaskContext;
import org.apache.spark.util.LongAccumulator;
import org.nextpatch.config.GptConfig;
import org.nextpatch.config.VqConfig;
import org.nextpatch.io.Images;
import org.nextpatch.io.StateDicts;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.model.Gpt;
import org.nextpatch.model.VqModel;
import org.nextpatch.onnx.OnnxExport;
import org.nextpatch.onnx.OnnxSampler;
import org.nextpatch.sample.DjlSampler;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Npz;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.BuildInfo;
import org.nextpatch.util.NppException;
import org.nextpatch.util.Sha256;

import javax.imageio.ImageIO;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code npp sample --spark-master URL}: the images of a run split into contiguous, batch-aligned
 * partitions; each task samples its images with the executor's cached model (image {@code i} draws
 * with the uniforms of image {@code i} of the run, so the split changes nothing), decodes them, writes
 * their PNGs, and leaves its tokens and pixels as part files under {@code OUT/_parts}. The driver then
 * writes {@code tokens.npy}, {@code labels.npy}, {@code samples.npz} and {@code grid.png} from the parts
 * in index order: the same bytes as the plain command.
 * <p>
 * With {@code --engine onnx} the tasks sample from an export folder: the one given as
 * {@code --onnx-dir} (any precision: float32, float16, int8 or int4), checked on the driver against
 * the checkpoint's weights before Spark starts ({@link #onnxFolder}), or else a float32 export each
 * executor writes once into its local cache. Either is opened through the manifest's file digests
 * ({@link OnnxExport#open}); a cache that fails the check is exported again.
 */
public final class SparkSample {
    private static final Logger LOG = LogManager.getLogger(SparkSample.class);
    /** Images in grid.png, as the plain command. */
    private static final int GRID_MAX = 64;

    private SparkSample() {}

    /**
     * The job's settings; paths as typed (local paths or Hadoop URIs), configurations as JSON.
     *
     * @param vqCkpt       tokenizer checkpoint, or null for tokens only
     * @param vqConfigJson tokenizer configuration, or null for the checkpoint's
     * @param downsample   the GPT's {@code --downsample-size}, checked against the tokenizer
     * @param onnxDir      with engine onnx: a local export folder every executor sees at this path, or null for
     *                     each executor's own float32 export
     * @param overwrite    export into {@code onnxDir} even if it holds another export
     */
    public record Spec(String gptCkpt, String gptConfigJson, boolean useEma, String device, String engine, int onnxThreads,
                       Sampling sampling, long seed, int batchSize, long[] labels, String vqCkpt,
                       String vqConfigJson, int downsample, String out, String onnxDir, boolean overwrite) implements Serializable {}

    /**
     * An export folder checked on the driver: the tasks open it only when its manifest still has this
     * SHA-256 (the manifest lists every file's digest, so this names the whole export).
     *
     * @param precision the manifest's {@code precision}
     */
    public record OnnxFolder(String dir, String manifestSha256, String precision) implements Serializable {}

    /** The sampling settings in a serialisable form (the tasks receive them). */
    public record Sampling(double cfgScale, int cfgInterval, double temperature, int topK, double topP, boolean greedy)
            implements Serializable {
        /** From the command's settings. */
        public static Sampling of(SamplingSettings s) {
            return new Sampling(s.cfgScale(), s.cfgInterval(), s.temperature(), s.topK(), s.topP(), s.greedy());
        }

        SamplingSettings settings() {
            return new SamplingSettings(cfgScale, cfgInterval, temperature, topK, topP, greedy);
        }
    }

    /** What a run did. */
    public record Result(int samples, int partitionsRun, int partitionsSkipped, double seconds) {}

    private record Job(Spec spec, String gpt, String gptHash, String vq, String vqHash, String out, OnnxFolder onnx)
            implements Serializable {
        String parts() {
            return Storage.child(out, "_parts");
        }

        String part(String what, int p) {
            return Storage.child(parts(), String.format(Locale.ROOT, "%s-%05d.npy", what, p));
        }
    }

    /**
     * The driver's check of {@code spec.onnxDir()}, before Spark starts, as the plain
     * {@code sample --engine onnx --onnx-dir}: an export of another model or of other weights is refused
     * (after every file is checked against its digest); a new or empty folder, or any with
     * {@code overwrite}, receives a float32 export of the checkpoint. Null without a folder.
     */
    public static OnnxFolder onnxFolder(Spec spec) {
        if (spec.onnxDir() == null) {
            return null;
        }
        if (!spec.engine().equalsIgnoreCase("onnx")) {
            throw new NppException("--onnx-dir is used with --engine onnx only");
        }
        String gpt = Storage.qualify(spec.gptCkpt());
        Storage.requireFile(gpt, "--gpt-ckpt");
        Path dir = Path.of(spec.onnxDir()).toAbsolutePath();
        GptConfig cfg = GptConfig.fromJson(Json.parse(spec.gptConfigJson()));
        Map<String, Tensor> weights = StateDicts.select(TorchCheckpoint.load(Storage.localCopy(gpt, Storage.sha256(gpt, "--gpt-ckpt"),
                "--gpt-ckpt")), spec.useEma());
        if (!spec.overwrite() && Files.isRegularFile(dir.resolve(OnnxExport.MANIFEST))) {
            OnnxExport.checkSameModel(cfg, OnnxExport.readGptConfig(dir), dir);
            OnnxExport.checkSource(dir, weights, "--gpt-ckpt " + gpt + (spec.useEma() ? " (ema)" : ""));
            LOG.info("using the ONNX export in {}", dir);
        } else {
            OnnxExport.checkTarget(dir, spec.overwrite(), "--onnx-dir");
            export(cfg, weights, dir, gpt, spec.useEma());
        }
        return new OnnxFolder(dir.toString(), Sha256.ofFile(dir.resolve(OnnxExport.MANIFEST)),
                OnnxExport.readManifest(dir).path("precision").asText("float32"));
    }

    /** Runs the sampling on {@code spark}, with the export folder {@link #onnxFolder} checked (null: none). */
    public static Result run(SparkRunner spark, Spec spec, OnnxFolder onnx) {
        String engine = spec.engine().toLowerCase(Locale.ROOT);
        if (!engine.equals("djl") && !engine.equals("onnx")) {
            throw new NppException("--engine must be djl or onnx, got '" + spec.engine() + "'");
        }
        if ((spec.onnxDir() == null) != (onnx == null)) {
            throw new IllegalArgumentException("the export folder must be checked by onnxFolder(spec) before the run");
        }
        String gpt = Storage.qualify(spec.gptCkpt());
        Storage.requireFile(gpt, "--gpt-ckpt");
        String vq = spec.vqCkpt() == null ? null : Storage.qualify(spec.vqCkpt());
        if (vq != null) {
            Storage.requireFile(vq, "--vq-ckpt");
        }
        if (spec.vqConfigJson() != null) {
            // the flags' fit, before any work (the tasks check again against the checkpoint's own configuration)
            VqConfig v = VqConfig.fromJson(Json.parse(spec.vqConfigJson()));
            GptConfig g = GptConfig.fromJson(Json.parse(spec.gptConfigJson()));
            if (v.codebookSize() != g.vocabSize()) {
                throw new NppException("--vq-ckpt " + vq + ": codebook of " + v.codebookSize() + " codes, but the GPT's vocabulary is " + g.vocabSize());
            }
            if (v.downsample() != spec.downsample()) {
                throw new NppException("--vq-ckpt " + vq + ": the tokenizer downsamples by " + v.downsample()
                        + " but --downsample-size is " + spec.downsample());
            }
        }
        String out = Storage.qualify(spec.out());
        Job job = new Job(spec, gpt, Storage.sha256(gpt, "--gpt-ckpt"), vq, vq == null ? null : Storage.sha256(vq, "--vq-ckpt"), out, onnx);
        int n = spec.labels().length;
        List<Partitions.Range> ranges = Partitions.split(n, spec.batchSize(), spark.partitions());

        // parts of an interrupted run are reused only when they come from the very same settings
        Storage.mkdirs(job.parts(), "--out");
        String plan = Json.write(plan(job, ranges));
        String planUri = Storage.child(job.parts(), "plan.json");
        if (!Storage.isFile(planUri, "--out") || !new String(Storage.read(planUri, "--out"), java.nio.charset.StandardCharsets.UTF_8).equals(plan)) {
            Storage.delete(job.parts(), "--out");
            Storage.mkdirs(job.parts(), "--out");
            Storage.writeString(planUri, plan, "--out");
        }
        Set<String> have = Storage.list(job.parts(), "--out");
        List<Partitions.Range> work = new ArrayList<>();
        int toDo = 0;
        for (Partitions.Range r : ranges) {
            boolean done = have.contains(Storage.path(job.part("tokens", r.partition())).getName())
                    && (vq == null || have.contains(Storage.path(job.part("images", r.partition())).getName()));
            if (!done) {
                work.add(r);
                toDo += r.size();
            }
        }
        int skipped = ranges.size() - work.size();
        if (skipped > 0) {
            LOG.info("sample: {} partition(s) complete from an earlier run, {} to run", skipped, work.size());
        }
        long t0 = System.nanoTime();
        if (!work.isEmpty()) {
            try (DriverProgress p = new DriverProgress(spark, "sample", toDo, "img")) {
                LongAccumulator acc = p.accumulator();
                SparkFailures.collect(() -> spark.context().parallelize(work, work.size())
                        .map(r -> runPartition(job, r, acc)).collect());
            }
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        merge(job, ranges);
        Storage.delete(job.parts(), "--out");
        Map<String, Object> record = new LinkedHashMap<>(plan(job, ranges));
        record.remove("partition_ranges");
        RunRecord.write(spark, Storage.child(out, RunRecord.FILE), record, work.size(), skipped);
        return new Result(n, work.size(), skipped, secs);
    }

    private static Map<String, Object> plan(Job job, List<Partitions.Range> ranges) {
        Spec s = job.spec();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("command", "sample");
        m.put("gpt_ckpt", job.gpt());
        m.put("gpt_ckpt_sha256", job.gptHash());
        m.put("gpt_config", Json.parse(s.gptConfigJson()));
        m.put("use_ema", s.useEma());
        m.put("engine", s.engine());
        if (s.engine().equalsIgnoreCase("onnx")) {
            // the export sampled: a folder checked on the driver (any precision), or each executor's float32 cache
            m.put("onnx_dir", job.onnx() == null ? null : job.onnx().dir());
            m.put("onnx_manifest_sha256", job.onnx() == null ? null : job.onnx().manifestSha256());
            m.put("onnx_precision", job.onnx() == null ? "float32" : job.onnx().precision());
        }
        m.put("settings", s.sampling().settings().toString());
        m.put("seed", s.seed());
        m.put("batch_size", s.batchSize());
        m.put("num_samples", s.labels().length);
        m.put("labels_sha256", sha256(s.labels()));
        m.put("vq_ckpt", job.vq());
        m.put("vq_ckpt_sha256", job.vqHash());
        List<String> r = new ArrayList<>();
        ranges.forEach(x -> r.add(x.from() + "-" + x.to()));
        m.put("partition_ranges", r);
        return m;
    }

    private static String sha256(long[] v) {
        java.security.MessageDigest md = Sha256.digest();
        for (long x : v) {
            for (int k = 0; k < 8; k++) {
                md.update((byte) (x >>> (8 * k)));
            }
        }
        return Sha256.hex(md);
    }

    /** The sampler of one engine, so a task holds one lease whatever the engine. */
    private interface Sampler extends AutoCloseable {
        long[] generate(long[] labels, long firstImage);
    }

    /** One task: sample, decode and write the partition's images; its part files last. */
    private static int runPartition(Job job, Partitions.Range r, LongAccumulator acc) throws IOException {
        Spec s = job.spec();
        GptConfig cfg = GptConfig.fromJson(Json.parse(s.gptConfigJson()));
        int t = cfg.blockSize();
        TaskContext tc = TaskContext.get();
        String attempt = tc == null ? "driver" : "p" + r.partition() + "-a" + tc.attemptNumber() + "-t" + tc.taskAttemptId();
        String key = "gpt|" + s.engine() + "|" + job.gpt() + "|" + job.gptHash() + "|" + s.gptConfigJson() + "|" + s.useEma()
                + "|" + s.device() + "|" + s.sampling().settings() + "|" + s.onnxThreads() + "|" + job.onnx();
        long[] tokens = new long[r.size() * t];
        Path pixels = Files.createTempFile("npp-spark-pixels", ".bin");
        long[] imageShape = null;
        try (ExecutorCache.Lease<Sampler> sampler = ExecutorCache.borrow(key, () -> sampler(job, cfg));
             ExecutorCache.Lease<VqModel> vq = job.vq() == null ? null : ExecutorCache.borrow(
                     "vq|" + job.vq() + "|" + job.vqHash() + "|" + s.vqConfigJson() + "|" + s.device(), () -> loadVq(job));
             OutputStream px = Files.newOutputStream(pixels)) {
            if (vq != null) {
                checkTokenizer(job, vq.get(), cfg);
            }
            for (int start = r.from(); start < r.to(); start += s.batchSize()) {
                int b = Math.min(s.batchSize(), r.to() - start);
                long[] got = sampler.get().generate(Arrays.copyOfRange(s.labels(), start, start + b), start);
                System.arraycopy(got, 0, tokens, (start - r.from()) * t, b * t);
                if (vq != null) {
                    Tensor codes = Tensor.ofLongs(new long[]{b, t}, got);
                    Tensor img;
                    try {
                        img = Images.toUint8Nhwc(vq.get().decode(codes));
                    } catch (NppException e) {
                        throw new NppException("--vq-ckpt " + job.vq() + ": " + e.getMessage(), e);
                    }
                    imageShape = img.shape();
                    for (int j = 0; j < b; j++) {
                        String name = String.format(Locale.ROOT, "sample_%06d.png", start + j);
                        Storage.writeAtomic(Storage.child(job.out(), name), png(Images.fromNhwc(img, j)), job.parts(), attempt, "--out");
                    }
                    px.write(img.toByteArray());
                }
                acc.add(b);
                if (start == r.from()) {
                    FaultInjection.maybeFail(r.partition());
                }
            }
            px.close();
            if (vq != null) {
                long[] shape = {r.size(), imageShape[1], imageShape[2], imageShape[3]};
                Path npy = Files.createTempFile("npp-spark-images", ".npy");
                try (OutputStream o = Files.newOutputStream(npy)) {
                    o.write(Npy.header(DType.UINT8, shape));
                    Files.copy(pixels, o);
                }
                Storage.put(npy, job.part("images", r.partition()) , "--out");
                Files.deleteIfExists(npy);
            }
            // the tokens part last: its presence marks the partition complete
            Storage.writeAtomic(job.part("tokens", r.partition()),
                    SparkExtract.npy(Tensor.ofLongs(new long[]{r.size(), t}, tokens)), job.parts(), attempt, "--out");
        } catch (Exception e) {
            if (e instanceof RuntimeException re) {
                throw re;
            }
            throw new NppException("sample: " + e.getMessage(), e);
        } finally {
            Files.deleteIfExists(pixels);
        }
        return r.size();
    }

    private static Sampler sampler(Job job, GptConfig cfg) {
        Spec s = job.spec();
        Path ckpt = Storage.localCopy(job.gpt(), job.gptHash(), "--gpt-ckpt");
        if (s.engine().equalsIgnoreCase("djl")) {
            Gpt model = Gpt.fromCheckpoint(ckpt, cfg, s.useEma(), SparkExtract.device(s.device()));
            DjlSampler d = new DjlSampler(model, s.sampling().settings());
            return new Sampler() {
                public long[] generate(long[] labels, long first) {
                    return d.generate(labels, s.seed(), first);
                }

                public void close() {
                    model.close();
                }
            };
        }
        OnnxSampler o = new OnnxSampler(job.onnx() == null ? executorExport(job, cfg, ckpt) : checkedFolder(job.onnx()), cfg,
                new OnnxSampler.Options(onnxDevice(s.device()), s.onnxThreads(), 0, null));
        int t = cfg.blockSize();
        return new Sampler() {
            public long[] generate(long[] labels, long first) {
                long[][] got = o.generate(labels, s.sampling().settings(), s.seed(), first, labels.length);
                long[] flat = new long[labels.length * t];
                for (int i = 0; i < labels.length; i++) {
                    System.arraycopy(got[i], 0, flat, i * t, t);
                }
                return flat;
            }

            public void close() {
                o.close();
            }
        };
    }

    /** The driver's folder, after every file is checked against the manifest the driver checked. */
    private static Path checkedFolder(OnnxFolder f) {
        Path dir = Path.of(f.dir());
        OnnxExport.open(dir);
        if (!Sha256.ofFile(dir.resolve(OnnxExport.MANIFEST)).equals(f.manifestSha256())) {
            throw new NppException("--onnx-dir " + dir + ": this executor sees another export than the driver checked "
                    + "(changed since, or not the same folder on every machine)");
        }
        return dir;
    }

    /**
     * This executor's float32 export of the checkpoint, in its local cache keyed by the checkpoint's
     * hash: written once, and again whenever the cached folder fails the manifest's file digests, holds
     * another configuration, or was written by another build of npp (a stale or damaged cache is never
     * sampled).
     */
    private static Path executorExport(Job job, GptConfig cfg, Path ckpt) {
        boolean ema = job.spec().useEma();
        Path dir = Path.of(System.getProperty("java.io.tmpdir"), "npp-spark-onnx", job.gptHash().substring(0, 24) + (ema ? "-ema" : ""));
        synchronized (SparkSample.class) {
            if (Files.exists(dir.resolve(OnnxExport.MANIFEST))) {
                try {
                    JsonNode m = OnnxExport.open(dir);
                    JsonNode prov = m.path("provenance");
                    if (OnnxExport.gptConfig(dir, m).toJson().equals(cfg.toJson())
                            && prov.path("producer").asText().equals("nextpatch " + BuildInfo.version())
                            && prov.path("producer_commit").asText().equals(BuildInfo.commit())) {
                        return dir;
                    }
                    LOG.warn("executor cache {} holds an export of another configuration or by another build; exporting again", dir);
                } catch (NppException e) {
                    LOG.warn("executor cache {} fails its check, exporting it again: {}", dir, e.getMessage());
                }
            }
            export(cfg, StateDicts.select(TorchCheckpoint.load(ckpt), ema), dir, job.gpt(), ema);
        }
        return dir;
    }

    /** A float32 export of the GPT (all-or-nothing: {@link OnnxExport} swaps the finished folder in). */
    private static void export(GptConfig cfg, Map<String, Tensor> weights, Path dir, String gpt, boolean ema) {
        OnnxExport.export(cfg, weights, null, null, dir, false, null,
                Map.of("gpt_ckpt", gpt, "gpt_weights", ema ? "ema" : "model", "purpose", "npp sample --spark-master"));
    }

    private static String onnxDevice(String device) {
        TaskContext tc = TaskContext.get();
        if (tc != null && tc.resources().contains("gpu") && tc.resources().get("gpu").get().addresses().length > 0) {
            return "cuda:" + tc.resources().get("gpu").get().addresses()[0];
        }
        String v = device == null ? "auto" : device.trim().toLowerCase(Locale.ROOT);
        return v.equals("gpu") ? "cuda" : v.startsWith("gpu:") ? "cuda:" + v.substring(4) : v;
    }

    private static VqModel loadVq(Job job) {
        Spec s = job.spec();
        return VqModel.load(Storage.localCopy(job.vq(), job.vqHash(), "--vq-ckpt"),
                s.vqConfigJson() == null ? null : VqConfig.fromJson(Json.parse(s.vqConfigJson())), SparkExtract.device(s.device()));
    }

    private static void checkTokenizer(Job job, VqModel vq, GptConfig cfg) {
        if (vq.config().codebookSize() != cfg.vocabSize()) {
            throw new NppException("--vq-ckpt " + job.vq() + ": codebook of " + vq.config().codebookSize()
                    + " codes, but the GPT's vocabulary is " + cfg.vocabSize());
        }
        if (vq.config().downsample() != job.spec().downsample()) {
            throw new NppException("--vq-ckpt " + job.vq() + ": the tokenizer downsamples by " + vq.config().downsample()
                    + " but --downsample-size is " + job.spec().downsample());
        }
    }

    private static byte[] png(Images.Rgb img) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            if (!ImageIO.write(img.toBufferedImage(), "png", out)) {
                throw new IOException("no PNG writer");
            }
        } catch (IOException e) {
            throw new NppException("cannot encode a PNG: " + e.getMessage(), e);
        }
        return out.toByteArray();
    }

    /** The driver's merge: the parts in index order into the plain command's files. */
    private static void merge(Job job, List<Partitions.Range> ranges) {
        Spec s = job.spec();
        int n = s.labels().length;
        List<Tensor> parts = new ArrayList<>();
        for (Partitions.Range r : ranges) {
            parts.add(Npy.read(Storage.localCopy(job.part("tokens", r.partition()), job.gptHash() + r, "--out")));
        }
        long t = parts.get(0).shape()[1];
        long[] tokens = new long[Math.toIntExact(n * t)];
        int pos = 0;
        for (Tensor p : parts) {
            long[] v = p.toLongArray();
            System.arraycopy(v, 0, tokens, pos, v.length);
            pos += v.length;
        }
        writeOut(job, "tokens.npy", f -> Npy.write(f, Tensor.ofLongs(new long[]{n, t}, tokens)));
        writeOut(job, "labels.npy", f -> Npy.write(f, Tensor.ofLongs(new long[]{n}, s.labels())));
        if (job.vq() == null) {
            return;
        }
        ByteArrayOutputStream gridBytes = new ByteArrayOutputStream();
        long[][] gridShape = new long[1][];
        writeOut(job, "samples.npz", f -> {
            try (Npz.Writer npz = new Npz.Writer(f)) {
                boolean begun = false;
                for (Partitions.Range r : ranges) {
                    try (Npy.Reader rd = Npy.open(Storage.localCopy(job.part("images", r.partition()), job.gptHash() + r, "--out"))) {
                        long[] sh = rd.header().shape();
                        if (!begun) {
                            npz.begin(Npz.SAMPLES, DType.UINT8, n, sh[1], sh[2], sh[3]);
                            begun = true;
                        }
                        for (long row = 0; row < sh[0]; row += s.batchSize()) {
                            long k = Math.min(s.batchSize(), sh[0] - row);
                            Tensor rows = rd.readRows(row, k);
                            npz.appendRows(rows);
                            long index = r.from() + row;
                            if (index < GRID_MAX) {
                                int keep = (int) Math.min(k, GRID_MAX - index);
                                byte[] all = rows.toByteArray();
                                gridBytes.write(all, 0, (int) (all.length / k * keep));
                                gridShape[0] = new long[]{Math.min(n, GRID_MAX), sh[1], sh[2], sh[3]};
                            }
                        }
                    }
                }
                npz.commit();
            }
        });
        Tensor grid = Tensor.ofBytes(DType.UINT8, gridShape[0], gridBytes.toByteArray());
        writeOut(job, "grid.png", f -> Images.writeGrid(f, grid, Arrays.copyOf(s.labels(), (int) gridShape[0][0]), null));
        LOG.info("wrote {} PNGs, grid.png and samples.npz to {}", n, job.out());
    }

    /** Writes an output file with local-file code: in place for a local output, else staged and uploaded. */
    private static void writeOut(Job job, String name, java.util.function.Consumer<Path> writer) {
        String uri = Storage.child(job.out(), name);
        if (Storage.isLocal(uri)) {
            writer.accept(Storage.local(uri));
            return;
        }
        try {
            Path dir = Files.createTempDirectory("npp-spark-out");
            Path f = dir.resolve(name);
            writer.accept(f);
            Storage.put(f, uri, "--out");
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            throw new NppException("--out " + uri + ": " + e.getMessage(), e);
        }
    }
}
