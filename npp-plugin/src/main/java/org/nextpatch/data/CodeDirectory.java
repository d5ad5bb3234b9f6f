package org.nextpatch.data;

import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A directory of image codes in the upstream extraction layout (spec 8):
 * {@code {codePath}/imagenet{S}_codes/{i}.npy} int64 {@code (1, nAug, T)} and
 * {@code {codePath}/imagenet{S}_labels/{i}.npy} int64 {@code (1,)}, {@code i} the image's index in the
 * class-sorted folder listing.
 * <p>
 * Images are listed in increasing index order; each has {@code nAug} augmentations (crops, flips) of
 * {@code T} tokens. Files are read on access (a full ImageNet code set does not fit in memory). If the
 * code directory's name ends with {@code ten_crop}, a sibling {@code <name>_105} holding the same layout
 * (codes extracted with crop range 1.05) is detected as upstream does; training reads it for half the
 * accesses ({@link #tenCrop105()}).
 */
public final class CodeDirectory {
    private final Path root;
    private final int imageSize;
    private final Path codesDir;
    private final Path labelsDir;
    private final long[] indices;
    private final int augmentations;
    private final int tokens;
    /** Token ids and labels must lie below these once {@link #checkValues} has run (checked on every read too). */
    private volatile long vocabLimit = Long.MAX_VALUE;
    private volatile long classLimit = Long.MAX_VALUE;

    private CodeDirectory(Path root, int imageSize, Path codesDir, Path labelsDir, long[] indices, int augmentations,
                          int tokens) {
        this.root = root;
        this.imageSize = imageSize;
        this.codesDir = codesDir;
        this.labelsDir = labelsDir;
        this.indices = indices;
        this.augmentations = augmentations;
        this.tokens = tokens;
    }

    /**
     * Opens {@code {codePath}/imagenet{imageSize}_codes} and {@code _labels}, checks that every code
     * file has a label file and reads the first file's header for the augmentation and token counts.
     *
     * @throws NppException naming the directory or file when the layout is not there
     */
    public static CodeDirectory open(Path codePath, int imageSize) {
        if (!Files.isDirectory(codePath)) {
            throw new NppException("--code-path " + codePath + ": not a directory");
        }
        Path codes = codePath.resolve("imagenet" + imageSize + "_codes");
        Path labels = codePath.resolve("imagenet" + imageSize + "_labels");
        if (!Files.isDirectory(codes) || !Files.isDirectory(labels)) {
            throw new NppException("--code-path " + codePath + ": expected directories imagenet" + imageSize
                    + "_codes and imagenet" + imageSize + "_labels (upstream layout for --image-size " + imageSize + ")"
                    + existingHint(codePath));
        }
        long[] idx = listIndices(codes);
        if (idx.length == 0) {
            throw new NppException(codes + ": no <index>.npy code files");
        }
        for (long i : idx) {
            if (!Files.isRegularFile(labels.resolve(i + ".npy"))) {
                throw new NppException(labels.resolve(i + ".npy") + ": missing label file for code file "
                        + codes.resolve(i + ".npy"));
            }
        }
        Path first = codes.resolve(idx[0] + ".npy");
        long[] shape;
        try (Npy.Reader r = Npy.open(first)) {
            shape = r.header().shape();
        }
        if (shape.length != 3 || shape[0] != 1 || shape[1] < 1 || shape[2] < 1) {
            throw new NppException(first + ": code file has shape " + Arrays.toString(shape) + ", expected (1, n_aug, T)");
        }
        return new CodeDirectory(codePath, imageSize, codes, labels, idx, (int) shape[1], (int) shape[2]);
    }

    private static String existingHint(Path codePath) {
        try (Stream<Path> s = Files.list(codePath)) {
            List<String> names = s.map(p -> p.getFileName().toString()).filter(n -> n.matches("imagenet\\d+_codes")).sorted().toList();
            return names.isEmpty() ? "" : "; found " + String.join(", ", names);
        } catch (IOException e) {
            return "";
        }
    }

    private static long[] listIndices(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString())
                    .filter(n -> n.matches("\\d+\\.npy"))
                    .mapToLong(n -> Long.parseLong(n.substring(0, n.length() - 4)))
                    .sorted()
                    .toArray();
        } catch (IOException e) {
            throw new NppException(dir + ": cannot list: " + e.getMessage(), e);
        }
    }

    /** The code path given to {@link #open}. */
    public Path root() {
        return root;
    }

    /** The image size S in the directory names. */
    public int imageSize() {
        return imageSize;
    }

    /** Number of images (code files). */
    public int images() {
        return indices.length;
    }

    /** Augmentations per image (from the first file; every file is checked when read). */
    public int augmentations() {
        return augmentations;
    }

    /** Tokens per augmentation, T. */
    public int tokens() {
        return tokens;
    }

    /** Number of (image, augmentation) rows. */
    public long rows() {
        return (long) indices.length * augmentations;
    }

    /** The file index {@code i} of the {@code n}-th image. */
    public long fileIndex(int n) {
        return indices[n];
    }

    /** All augmentations of the {@code n}-th image, row-major {@code [nAug * T]}. */
    public long[] codes(int n) {
        Path f = codesDir.resolve(indices[n] + ".npy");
        Tensor t = Npy.read(f);
        long[] shape = t.shape();
        if (t.dtype().isFloating()) {
            throw new NppException(f + ": token ids must be integers, got " + t.dtype() + " values");
        }
        if (shape.length != 3 || shape[0] != 1 || shape[1] != augmentations || shape[2] != tokens) {
            throw new NppException(f + ": code file has shape " + Arrays.toString(shape) + ", expected (1, "
                    + augmentations + ", " + tokens + ") like the other files of " + codesDir);
        }
        long[] v = t.toLongArray();
        long limit = vocabLimit;
        for (int i = 0; i < v.length; i++) {
            if (v[i] < 0 || v[i] >= limit) {
                throw new NppException(f + ": token id " + v[i] + " at position " + i + " is outside the model's vocabulary 0.."
                        + (limit - 1));
            }
        }
        return v;
    }

    /**
     * Reads every code and label file once and checks them against a model before any work: integer
     * token ids in {@code [0, vocabSize)}, integer labels in {@code [0, numClasses)}. Later reads are
     * checked too, so a file changed during a run is still named.
     *
     * @throws NppException naming the first file that does not fit
     */
    public void checkValues(long vocabSize, long numClasses) {
        vocabLimit = vocabSize;
        classLimit = numClasses;
        try (org.nextpatch.util.Progress p = indices.length >= 10_000
                ? org.nextpatch.util.Progress.start("check codes", indices.length, "img") : null) {
            for (int n = 0; n < indices.length; n++) {
                codes(n);
                label(n);
                if (p != null) {
                    p.step(1);
                }
            }
        }
    }

    /** Augmentation {@code aug} of the {@code n}-th image: {@code T} tokens. */
    public long[] codes(int n, int aug) {
        if (aug < 0 || aug >= augmentations) {
            throw new IllegalArgumentException("augmentation " + aug + " out of range 0.." + (augmentations - 1));
        }
        long[] all = codes(n);
        return Arrays.copyOfRange(all, aug * tokens, (aug + 1) * tokens);
    }

    /** The class label of the {@code n}-th image. */
    public long label(int n) {
        Path f = labelsDir.resolve(indices[n] + ".npy");
        Tensor t = Npy.read(f);
        if (t.numel() != 1) {
            throw new NppException(f + ": label file has shape " + Arrays.toString(t.shape()) + ", expected (1,)");
        }
        if (t.dtype().isFloating()) {
            throw new NppException(f + ": labels must be integers, got " + t.dtype() + " values");
        }
        long l = t.toLongArray()[0];
        if (l < 0 || l >= classLimit) {
            throw new NppException(f + ": label " + l + " is outside the model's classes 0.." + (classLimit - 1));
        }
        return l;
    }

    /** Every (image, augmentation) pair, image-major. */
    public List<int[]> rowList() {
        List<int[]> out = new ArrayList<>(Math.toIntExact(rows()));
        for (int n = 0; n < indices.length; n++) {
            for (int a = 0; a < augmentations; a++) {
                out.add(new int[]{n, a});
            }
        }
        return out;
    }

    /**
     * The crop-range-1.05 sibling, as upstream finds it: when this directory's name ends with
     * {@code ten_crop}, the directory {@code <name>_105} beside it, if it holds the same layout.
     */
    public Optional<CodeDirectory> tenCrop105() {
        Path name = root.toAbsolutePath().normalize().getFileName();
        if (name == null || !name.toString().endsWith("ten_crop")) {
            return Optional.empty();
        }
        Path sibling = root.toAbsolutePath().normalize().resolveSibling(name + "_105");
        if (!Files.isDirectory(sibling.resolve("imagenet" + imageSize + "_codes"))
                || !Files.isDirectory(sibling.resolve("imagenet" + imageSize + "_labels"))) {
            return Optional.empty();
        }
        CodeDirectory other = open(sibling, imageSize);
        if (other.images() != images() || other.tokens() != tokens()) {
            throw new NppException(sibling + ": the ten_crop_105 sibling has " + other.images() + " images of "
                    + other.tokens() + " tokens, but " + root + " has " + images() + " of " + tokens());
        }
        return Optional.of(other);
    }
}
