package org.nextpatch.data;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.io.Images;
import org.nextpatch.io.Images.Rgb;
import org.nextpatch.model.VqModel;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.AtomicFiles;
import org.nextpatch.util.NppException;
import org.nextpatch.util.Progress;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Images to token files in the upstream extraction layout (spec section 8, LlamaGen's
 * {@code extract_codes_c2i.py}): ADM centre crop, TenCrop or centre + horizontal flip, pixels
 * {@code (x / 255 - 0.5) / 0.5}, VQ encode, then {@code {code_path}/imagenet{S}_codes/{i}.npy}
 * (int64 {@code (1, n_aug, T)}) and {@code {code_path}/imagenet{S}_labels/{i}.npy} (int64 {@code (1,)}).
 * <p>
 * Images that cannot be decoded are reported by name and skipped (their index stays unused, so the
 * indices of the others do not depend on which files failed). Files already written are skipped, so
 * an interrupted run resumes where it stopped.
 */
public final class CodeExtractor {
    private static final Logger LOG = LogManager.getLogger(CodeExtractor.class);

    private CodeExtractor() {}

    /** A dataset of labelled images addressed by index. */
    public interface Source {
        /** Number of images. */
        int size();

        /** A name for messages (the file path). */
        String describe(int i);

        /** Image {@code i} as 8-bit RGB; throws {@link NppException} when it cannot be decoded. */
        Rgb read(int i);

        /** Class of image {@code i}. */
        long label(int i);

        /** Class names by index, or an empty list when unknown. */
        List<String> classNames();
    }

    /**
     * Extraction settings.
     *
     * @param imageSize S, the crop side fed to the tokenizer
     * @param tenCrop   ten crops (corners, centre, flipped) of the ADM crop at {@code int(S * cropRange)};
     *                  otherwise the ADM crop at S and its mirror image
     * @param cropRange the enlargement before TenCrop (1.1 upstream default, 1.05 for the second set)
     * @param codePath  output root
     * @param batchSize images encoded per forward pass
     */
    public record Settings(int imageSize, boolean tenCrop, double cropRange, Path codePath, int batchSize) {
        /** Validates the settings. */
        public Settings {
            if (imageSize <= 0) {
                throw new org.nextpatch.util.BadValueException("--image-size must be positive, got " + imageSize);
            }
            if (tenCrop && (cropRange < 1.0 || Double.isNaN(cropRange))) {
                throw new org.nextpatch.util.BadValueException("--crop-range must be at least 1.0, got " + cropRange);
            }
            if (batchSize <= 0) {
                throw new org.nextpatch.util.BadValueException("--batch-size must be positive, got " + batchSize);
            }
        }

        /** Side of the ADM centre crop: {@code int(S * crop_range)} with ten crops, else S. */
        public int admSize() {
            return tenCrop ? (int) (imageSize * cropRange) : imageSize;
        }

        /** Augmentations per image: 10 or 2. */
        public int augmentations() {
            return tenCrop ? 10 : 2;
        }

        /** {@code {code_path}/imagenet{S}_codes}. */
        public Path codesDir() {
            return codePath.resolve("imagenet" + imageSize + "_codes");
        }

        /** {@code {code_path}/imagenet{S}_labels}. */
        public Path labelsDir() {
            return codePath.resolve("imagenet" + imageSize + "_labels");
        }
    }

    /** What a run did. */
    public record Result(int written, int alreadyThere, List<String> unreadable) {}

    /** The augmented crops of one image, in upstream order. */
    public static Rgb[] augment(Rgb image, Settings s) {
        Rgb adm = Resample.admCenterCrop(image, s.admSize());
        if (s.tenCrop()) {
            return Resample.tenCrop(adm, s.imageSize());
        }
        return new Rgb[]{adm, Resample.flipHorizontal(adm)};
    }

    /**
     * Writes one crop as CHW floats at {@code dst[offset..]}: torchvision's ToTensor then
     * Normalize(0.5, 0.5), in float32 as upstream.
     */
    public static void toChw(Rgb img, float[] dst, int offset) {
        int plane = img.width() * img.height();
        int[] px = img.pixels();
        for (int p = 0; p < plane; p++) {
            for (int c = 0; c < 3; c++) {
                float v = ((px[p] >> (16 - 8 * c)) & 0xFF) / 255f;
                dst[offset + c * plane + p] = (v - 0.5f) / 0.5f;
            }
        }
    }

    /** Runs the extraction. */
    public static Result run(VqModel model, Source source, Settings s) {
        int f = model.config().downsample();
        if (s.imageSize() % f != 0) {
            throw new NppException("--image-size " + s.imageSize() + " is not a multiple of the tokenizer's downsampling " + f);
        }
        try {
            Files.createDirectories(s.codesDir());
            Files.createDirectories(s.labelsDir());
        } catch (java.io.IOException e) {
            throw new NppException("--code-path " + s.codePath() + ": cannot create: " + e.getMessage(), e);
        }
        writeClassNames(source, s);
        int n = source.size();
        int nAug = s.augmentations();
        int side = s.imageSize();
        int perCrop = 3 * side * side;
        int written = 0;
        int already = 0;
        List<String> unreadable = new ArrayList<>();
        List<Integer> pending = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if (Files.exists(codeFile(s, i)) && Files.exists(labelFile(s, i))) {
                already++;
            } else {
                pending.add(i);
            }
        }
        if (already > 0) {
            LOG.info("extract-codes: {} of {} images already done, {} to go", already, n, pending.size());
        }
        ExecutorService pool = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "extract-codes-reader");
            t.setDaemon(true);
            return t;
        });
        try (Progress p = Progress.start("extract-codes", pending.size(), "img")) {
            // decode and crop the next batch on reader threads while the current one is encoded
            Future<Prepared> next = pending.isEmpty() ? null
                    : pool.submit(() -> prepare(source, s, pending.subList(0, Math.min(s.batchSize(), pending.size()))));
            for (int start = 0; start < pending.size(); start += s.batchSize()) {
                Prepared cur = await(next);
                int nextStart = start + s.batchSize();
                next = nextStart >= pending.size() ? null : pool.submit(() -> prepare(source, s,
                        pending.subList(nextStart, Math.min(nextStart + s.batchSize(), pending.size()))));
                for (String bad : cur.unreadable()) {
                    unreadable.add(bad);
                    p.step(1);
                }
                if (cur.indices().isEmpty()) {
                    continue;
                }
                int m = cur.indices().size();
                long[] codes = model.encode(Tensor.ofFloats(new long[]{(long) m * nAug, 3, side, side}, cur.pixels())).toLongArray();
                int per = codes.length / m;
                for (int b = 0; b < m; b++) {
                    int idx = cur.indices().get(b);
                    long[] mine = java.util.Arrays.copyOfRange(codes, b * per, (b + 1) * per);
                    Npy.write(codeFile(s, idx), Tensor.ofLongs(new long[]{1, nAug, per / nAug}, mine));
                    // labels last: a run killed in between redoes this image
                    Npy.write(labelFile(s, idx), Tensor.ofLongs(new long[]{1}, new long[]{source.label(idx)}));
                    written++;
                }
                p.step(m);
                p.status(written + " written" + (already > 0 ? ", " + already + " done before" : "")
                        + (unreadable.isEmpty() ? "" : ", " + unreadable.size() + " unreadable"));
            }
        } finally {
            pool.shutdownNow();
        }
        if (!unreadable.isEmpty()) {
            LOG.warn("{} image(s) could not be read and were skipped: {}{}", unreadable.size(),
                    String.join(", ", unreadable.subList(0, Math.min(10, unreadable.size()))),
                    unreadable.size() > 10 ? ", ..." : "");
        }
        LOG.info("extract-codes: {} written, {} already there, {} unreadable -> {}", written, already, unreadable.size(), s.codesDir());
        return new Result(written, already, List.copyOf(unreadable));
    }

    /**
     * One batch encoded: the readable images' indices, each one's codes {@code (1, n_aug, T)} (what
     * {@link #run} writes as {@code {i}.npy}) and the names of the images that could not be read.
     */
    public record Encoded(List<Integer> indices, List<Tensor> codes, List<String> unreadable) {}

    /**
     * Reads, crops and encodes one batch exactly as {@link #run} does, for callers that write the
     * files themselves (the Spark job, which writes through Hadoop file systems).
     */
    public static Encoded encodeBatch(VqModel model, Source source, Settings s, List<Integer> batch) {
        int f = model.config().downsample();
        if (s.imageSize() % f != 0) {
            throw new NppException("--image-size " + s.imageSize() + " is not a multiple of the tokenizer's downsampling " + f);
        }
        Prepared cur = prepare(source, s, batch);
        int m = cur.indices().size();
        List<Tensor> out = new ArrayList<>();
        if (m > 0) {
            int nAug = s.augmentations();
            int side = s.imageSize();
            long[] codes = model.encode(Tensor.ofFloats(new long[]{(long) m * nAug, 3, side, side}, cur.pixels())).toLongArray();
            int per = codes.length / m;
            for (int b = 0; b < m; b++) {
                out.add(Tensor.ofLongs(new long[]{1, nAug, per / nAug}, java.util.Arrays.copyOfRange(codes, b * per, (b + 1) * per)));
            }
        }
        return new Encoded(cur.indices(), List.copyOf(out), cur.unreadable());
    }

    /** A batch ready for the tokenizer: the readable images' indices, their crops as NCHW floats, and the failures. */
    private record Prepared(List<Integer> indices, float[] pixels, List<String> unreadable) {}

    /** Reads and crops a batch, its images in parallel (common fork-join pool). */
    private static Prepared prepare(Source source, Settings s, List<Integer> batch) {
        int nAug = s.augmentations();
        int perImage = nAug * 3 * s.imageSize() * s.imageSize();
        Rgb[][] crops = new Rgb[batch.size()][];
        String[] errors = new String[batch.size()];
        // the batch's images in parallel: decoding and resampling dominate on a GPU machine
        java.util.stream.IntStream.range(0, batch.size()).parallel().forEach(b -> {
            int i = batch.get(b);
            try {
                crops[b] = augment(source.read(i), s);
            } catch (RuntimeException e) {
                // a corrupt file can make a decoder throw anything: report it, never stop the run
                errors[b] = e.getMessage() != null ? e.getMessage() : e.toString();
            }
        });
        List<Integer> ok = new ArrayList<>();
        List<String> bad = new ArrayList<>();
        for (int b = 0; b < batch.size(); b++) {
            if (crops[b] == null) {
                LOG.warn("skipping {}: {}", source.describe(batch.get(b)), errors[b]);
                bad.add(source.describe(batch.get(b)));
            } else {
                ok.add(batch.get(b));
            }
        }
        float[] x = new float[ok.size() * perImage];
        int k = 0;
        for (Rgb[] c : crops) {
            if (c == null) {
                continue;
            }
            for (int a = 0; a < nAug; a++) {
                toChw(c[a], x, k * perImage + a * 3 * s.imageSize() * s.imageSize());
            }
            k++;
        }
        return new Prepared(ok, x, bad);
    }

    private static Prepared await(Future<Prepared> f) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new NppException("extract-codes interrupted");
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException r) {
                throw r;
            }
            if (c instanceof OutOfMemoryError) {
                // never skip an image for want of heap: which images are skipped must not depend on -Xmx
                throw new NppException("extract-codes: out of memory while decoding images (" + c.getMessage()
                        + "); give the JVM more heap (-Xmx) or lower --batch-size", c);
            }
            throw new NppException("extract-codes: " + c, c);
        }
    }

    /** {@code imagenet{S}_codes/{i}.npy}. */
    public static Path codeFile(Settings s, int i) {
        return s.codesDir().resolve(i + ".npy");
    }

    /** {@code imagenet{S}_labels/{i}.npy}. */
    public static Path labelFile(Settings s, int i) {
        return s.labelsDir().resolve(i + ".npy");
    }

    /** Class names (one per line, line = label) beside the code folders, for grids and reports. */
    private static void writeClassNames(Source source, Settings s) {
        List<String> names = source.classNames();
        if (!names.isEmpty()) {
            AtomicFiles.writeString(s.codePath().resolve("classes.txt"), String.join("\n", names) + "\n");
        }
    }

    /** A class-per-folder dataset as a source. */
    public static Source of(ImageFolder folder) {
        return new Source() {
            @Override
            public int size() {
                return folder.entries().size();
            }

            @Override
            public String describe(int i) {
                return folder.entries().get(i).file().toString();
            }

            @Override
            public Rgb read(int i) {
                return Images.readRgb(folder.entries().get(i).file());
            }

            @Override
            public long label(int i) {
                return folder.entries().get(i).label();
            }

            @Override
            public List<String> classNames() {
                return folder.classes();
            }
        };
    }
}
