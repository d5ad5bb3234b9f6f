package org.nextpatch.spark;

import ai.djl.Device;
import ai.djl.engine.Engine;
import org.apache.hadoop.fs.FileStatus;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.apache.spark.TaskContext;
import org.apache.spark.util.LongAccumulator;
import org.nextpatch.config.VqConfig;
import org.nextpatch.data.CodeExtractor;
import org.nextpatch.data.FashionMnist;
import org.nextpatch.data.IdxImages;
import org.nextpatch.data.ImageFolder;
import org.nextpatch.io.Images;
import org.nextpatch.model.VqModel;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code npp extract-codes --spark-master URL}: the upstream code layout written by Spark tasks.
 * The images {@code 0..N-1} (the plain command's order) are split into contiguous, batch-aligned
 * partitions; each task encodes its images with the executor's cached tokenizer in the plain
 * command's batches and writes {@code imagenet{S}_codes/{i}.npy} and {@code imagenet{S}_labels/{i}.npy}
 * through a temporary name and a rename. The files are byte for byte those of the plain command.
 * A partition whose files all exist is not run again.
 */
public final class SparkExtract {
    private static final Logger LOG = LogManager.getLogger(SparkExtract.class);

    private SparkExtract() {}

    /**
     * The job's settings (paths as given on the command line: local paths or Hadoop URIs).
     *
     * @param vqConfigJson the tokenizer configuration as JSON, or null for the checkpoint's
     */
    public record Spec(String dataPath, String labelsPath, String codePath, String vqCkpt, String vqConfigJson,
                       String device, int imageSize, boolean tenCrop, double cropRange, int batchSize, int limit)
            implements Serializable {}

    /** What a run did, and where. */
    public record Result(int written, int alreadyThere, List<String> unreadable, int partitionsRun,
                         int partitionsSkipped, String codesDir) {}

    /** The qualified paths and derived facts every task needs (small: no image list). */
    private record Job(String dataPath, String labelsPath, String codePath, String vqCkpt, String vqHash,
                       String vqConfigJson, String device, int imageSize, boolean tenCrop, double cropRange,
                       int batchSize, int n, boolean idx) implements Serializable {
        CodeExtractor.Settings settings() {
            // the local root is only used for names: the task writes through Hadoop paths
            return new CodeExtractor.Settings(imageSize, tenCrop, cropRange, java.nio.file.Path.of("."), batchSize);
        }

        String codesDir() {
            return Storage.child(codePath, "imagenet" + imageSize + "_codes");
        }

        String labelsDir() {
            return Storage.child(codePath, "imagenet" + imageSize + "_labels");
        }

        String tmpDir() {
            return Storage.child(codePath, "_temporary");
        }
    }

    /** One partition's work: its range and, for an image folder, its files and labels. */
    private record Work(Partitions.Range range, List<String> files, long[] labels) implements Serializable {}

    /** A partition's counts. */
    private record Stats(int written, int already, List<String> unreadable) implements Serializable {}

    /** Runs the extraction on {@code spark}. */
    public static Result run(SparkRunner spark, Spec spec) {
        // the settings' own checks, before any work
        new CodeExtractor.Settings(spec.imageSize(), spec.tenCrop(), spec.cropRange(), java.nio.file.Path.of("."), spec.batchSize());
        if (spec.vqConfigJson() != null) {
            int f = VqConfig.fromJson(Json.parse(spec.vqConfigJson())).downsample();
            if (spec.imageSize() % f != 0) {
                throw new NppException("--image-size " + spec.imageSize() + " is not a multiple of the tokenizer's downsampling " + f);
            }
        }
        String data = Storage.qualify(spec.dataPath());
        String codePath = Storage.qualify(spec.codePath());
        String vq = Storage.qualify(spec.vqCkpt());
        Storage.requireFile(vq, "--vq-ckpt");
        if (!Storage.exists(data, "--data-path")) {
            throw new NppException("--data-path " + data + ": not found");
        }
        boolean idx = IdxImages.looksLikeIdx(java.nio.file.Path.of(Storage.path(data).getName()));
        List<String> files = null;
        long[] labels = null;
        List<String> classes;
        int n;
        String labelsUri = null;
        if (idx) {
            if (spec.labelsPath() == null) {
                throw new NppException("--data-path " + data + " is an IDX file: give its labels with --labels-path");
            }
            labelsUri = Storage.qualify(spec.labelsPath());
            Storage.requireFile(labelsUri, "--labels-path");
            IdxImages all = readIdx(data, labelsUri, spec.limit());
            n = all.size();
            classes = all.classNames().isEmpty() && data.toLowerCase(Locale.ROOT).contains("fashion")
                    ? FashionMnist.CLASS_NAMES : all.classNames();
        } else {
            Listing l = listFolder(data);
            n = spec.limit() > 0 ? Math.min(spec.limit(), l.files().size()) : l.files().size();
            files = l.files();
            labels = l.labels();
            classes = l.classes();
        }
        Job job = new Job(data, labelsUri, codePath, vq, Storage.sha256(vq, "--vq-ckpt"), spec.vqConfigJson(),
                spec.device(), spec.imageSize(), spec.tenCrop(), spec.cropRange(), spec.batchSize(), n, idx);

        Storage.mkdirs(job.codesDir(), "--code-path");
        Storage.mkdirs(job.labelsDir(), "--code-path");
        Storage.mkdirs(job.tmpDir(), "--code-path");
        if (!classes.isEmpty()) {
            Storage.writeString(Storage.child(codePath, "classes.txt"), String.join("\n", classes) + "\n", "--code-path");
        }
        Set<String> codes = Storage.list(job.codesDir(), "--code-path");
        Set<String> labs = Storage.list(job.labelsDir(), "--code-path");
        List<Work> work = new ArrayList<>();
        int skipped = 0;
        int already = 0;
        int toDo = 0;
        for (Partitions.Range r : Partitions.split(n, spec.batchSize(), spark.partitions())) {
            int have = 0;
            for (int i = r.from(); i < r.to(); i++) {
                if (codes.contains(i + ".npy") && labs.contains(i + ".npy")) {
                    have++;
                }
            }
            if (have == r.size()) {
                skipped++;
                already += have;
                continue;
            }
            toDo += r.size() - have;
            work.add(new Work(r, files == null ? null : new ArrayList<>(files.subList(r.from(), r.to())),
                    labels == null ? null : java.util.Arrays.copyOfRange(labels, r.from(), r.to())));
        }
        if (skipped > 0) {
            LOG.info("extract-codes: {} partition(s) complete from an earlier run, {} to run", skipped, work.size());
        }
        List<Stats> stats = new ArrayList<>();
        if (!work.isEmpty()) {
            try (DriverProgress p = new DriverProgress(spark, "extract-codes", toDo, "img")) {
                LongAccumulator acc = p.accumulator();
                stats = SparkFailures.collect(() -> spark.context().parallelize(work, work.size())
                        .map(w -> runPartition(job, w, acc)).collect());
            }
        }
        Storage.delete(job.tmpDir(), "--code-path");
        int written = 0;
        List<String> unreadable = new ArrayList<>();
        for (Stats s : stats) {
            written += s.written();
            already += s.already();
            unreadable.addAll(s.unreadable());
        }
        if (!unreadable.isEmpty()) {
            LOG.warn("{} image(s) could not be read and were skipped: {}{}", unreadable.size(),
                    String.join(", ", unreadable.subList(0, Math.min(10, unreadable.size()))), unreadable.size() > 10 ? ", ..." : "");
        }
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("command", "extract-codes");
        record.put("data_path", data);
        record.put("labels_path", labelsUri);
        record.put("vq_ckpt", vq);
        record.put("vq_ckpt_sha256", job.vqHash());
        record.put("image_size", spec.imageSize());
        record.put("ten_crop", spec.tenCrop());
        record.put("crop_range", spec.cropRange());
        record.put("batch_size", spec.batchSize());
        record.put("images", n);
        RunRecord.write(spark, Storage.child(codePath, RunRecord.FILE), record, work.size(), skipped);
        return new Result(written, already, List.copyOf(unreadable), work.size(), skipped, job.codesDir());
    }

    /** One task: encode the partition's missing images and write their files. */
    private static Stats runPartition(Job job, Work w, LongAccumulator acc) {
        CodeExtractor.Settings s = job.settings();
        CodeExtractor.Source source = job.idx() ? readIdx(job.dataPath(), job.labelsPath(), job.n())
                : folderSource(w);
        Set<String> codes = Storage.list(job.codesDir(), "--code-path");
        Set<String> labs = Storage.list(job.labelsDir(), "--code-path");
        List<Integer> pending = new ArrayList<>();
        int already = 0;
        for (int i = w.range().from(); i < w.range().to(); i++) {
            if (codes.contains(i + ".npy") && labs.contains(i + ".npy")) {
                already++;
            } else {
                pending.add(i);
            }
        }
        TaskContext tc = TaskContext.get();
        String attempt = tc == null ? "driver" : "p" + w.range().partition() + "-a" + tc.attemptNumber() + "-t" + tc.taskAttemptId();
        String key = "vq|" + job.vqCkpt() + "|" + job.vqHash() + "|" + job.vqConfigJson() + "|" + job.device();
        int written = 0;
        List<String> unreadable = new ArrayList<>();
        try (ExecutorCache.Lease<VqModel> lease = ExecutorCache.borrow(key, () -> VqModel.load(
                Storage.localCopy(job.vqCkpt(), job.vqHash(), "--vq-ckpt"),
                job.vqConfigJson() == null ? null : VqConfig.fromJson(Json.parse(job.vqConfigJson())),
                device(job.device())))) {
            for (int start = 0; start < pending.size(); start += job.batchSize()) {
                List<Integer> batch = pending.subList(start, Math.min(start + job.batchSize(), pending.size()));
                CodeExtractor.Encoded e = CodeExtractor.encodeBatch(lease.get(), source, s, batch);
                for (int b = 0; b < e.indices().size(); b++) {
                    int i = e.indices().get(b);
                    Storage.writeAtomic(Storage.child(job.codesDir(), i + ".npy"), npy(e.codes().get(b)), job.tmpDir(), attempt, "--code-path");
                    // labels last: a task killed in between redoes this image
                    Storage.writeAtomic(Storage.child(job.labelsDir(), i + ".npy"),
                            npy(Tensor.ofLongs(new long[]{1}, new long[]{source.label(i)})), job.tmpDir(), attempt, "--code-path");
                    written++;
                }
                unreadable.addAll(e.unreadable());
                acc.add(batch.size());
                if (start == 0) {
                    FaultInjection.maybeFail(w.range().partition());
                }
            }
        }
        return new Stats(written, already, unreadable);
    }

    static byte[] npy(Tensor t) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            Npy.writeTo(out, t);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return out.toByteArray();
    }

    /** The DJL device: the GPU Spark assigned to this task when it has one, else as {@code --device} says. */
    static Device device(String name) {
        TaskContext tc = TaskContext.get();
        if (tc != null && tc.resources().contains("gpu")) {
            String[] addr = tc.resources().get("gpu").get().addresses();
            if (addr.length > 0) {
                return Device.gpu(Integer.parseInt(addr[0]));
            }
        }
        String v = name == null ? "auto" : name.trim().toLowerCase(Locale.ROOT);
        if (v.equals("cpu")) {
            return Device.cpu();
        }
        if (v.equals("gpu") || v.equals("cuda")) {
            return Device.gpu();
        }
        if (v.startsWith("gpu:") || v.startsWith("cuda:")) {
            return Device.gpu(Integer.parseInt(v.substring(v.indexOf(':') + 1)));
        }
        return Engine.getInstance().defaultDevice();
    }

    private static IdxImages readIdx(String images, String labels, int limit) {
        return IdxImages.read(Storage.localCopy(images, "idx", "--data-path"), Storage.localCopy(labels, "idx", "--labels-path"), limit);
    }

    /** A partition's image files as an extraction source (index i is the run's index). */
    private static CodeExtractor.Source folderSource(Work w) {
        int from = w.range().from();
        return new CodeExtractor.Source() {
            public int size() {
                return w.range().to();
            }

            public String describe(int i) {
                return w.files().get(i - from);
            }

            public Images.Rgb read(int i) {
                String uri = w.files().get(i - from);
                if (Storage.isLocal(uri)) {
                    return Images.readRgb(Storage.local(uri));
                }
                // decoders read local files: stage the image's bytes in a temporary file
                String name = Storage.path(uri).getName();
                java.nio.file.Path tmp = null;
                try {
                    tmp = Files.createTempFile("npp-img", name.substring(Math.max(0, name.lastIndexOf('.'))));
                    Files.write(tmp, Storage.read(uri, "--data-path"));
                    return Images.readRgb(tmp);
                } catch (IOException e) {
                    throw new NppException(uri + ": cannot stage for decoding: " + e.getMessage(), e);
                } finally {
                    if (tmp != null) {
                        tmp.toFile().delete();
                    }
                }
            }

            public long label(int i) {
                return w.labels()[i - from];
            }

            public List<String> classNames() {
                return List.of();
            }
        };
    }

    private record Listing(List<String> classes, List<String> files, long[] labels) {}

    /**
     * The image folder in ImageFolder's order: a local folder through {@link ImageFolder#scan}
     * itself, a remote one by the same rules (classes and directories in Python's string order,
     * files by name, ImageFolder's extensions).
     */
    private static Listing listFolder(String root) {
        List<String> files = new ArrayList<>();
        List<Long> labels = new ArrayList<>();
        List<String> classes;
        if (Storage.isLocal(root)) {
            ImageFolder f = ImageFolder.scan(Storage.local(root));
            for (ImageFolder.Entry e : f.entries()) {
                files.add(e.file().toAbsolutePath().toUri().toString());
                labels.add((long) e.label());
            }
            classes = f.classes();
        } else {
            classes = new ArrayList<>();
            for (FileStatus s : Storage.listStatus(root, "--data-path")) {
                if (s.isDirectory()) {
                    classes.add(s.getPath().getName());
                }
            }
            classes.sort(ImageFolder.PYTHON_ORDER);
            if (classes.isEmpty()) {
                throw new NppException("--data-path " + root + ": no class sub-folders (expected ROOT/CLASS/IMAGE files)");
            }
            for (int c = 0; c < classes.size(); c++) {
                List<FileStatus> dirs = new ArrayList<>();
                collectDirs(Storage.child(root, classes.get(c)), dirs);
                dirs.sort(Comparator.comparing(d -> d.getPath().toUri().getPath(), ImageFolder.PYTHON_ORDER));
                for (FileStatus d : dirs) {
                    List<String> names = new ArrayList<>();
                    for (FileStatus f : Storage.listStatus(d.getPath().toUri().toString(), "--data-path")) {
                        if (f.isFile() && ImageFolder.hasImageExtension(f.getPath().getName())) {
                            names.add(f.getPath().getName());
                        }
                    }
                    names.sort(ImageFolder.PYTHON_ORDER);
                    for (String nm : names) {
                        files.add(Storage.child(d.getPath().toUri().toString(), nm));
                        labels.add((long) c);
                    }
                }
            }
            if (files.isEmpty()) {
                throw new NppException("--data-path " + root + ": no image files (extensions " + ImageFolder.EXTENSIONS + ") in its class folders");
            }
        }
        return new Listing(classes, files, labels.stream().mapToLong(Long::longValue).toArray());
    }

    private static void collectDirs(String dir, List<FileStatus> out) {
        FileStatus[] all = Storage.listStatus(dir, "--data-path");
        try {
            out.add(Storage.fs(dir, "--data-path").getFileStatus(Storage.path(dir)));
        } catch (IOException e) {
            throw new NppException("--data-path " + dir + ": " + e.getMessage(), e);
        }
        for (FileStatus s : all) {
            if (s.isDirectory()) {
                collectDirs(s.getPath().toUri().toString(), out);
            }
        }
    }
}
