package org.nextpatch.data;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.io.Idx;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Optional;

/**
 * Fashion-MNIST (Zalando Research, MIT licence): 28x28 greyscale clothing images in 10 classes.
 * <p>
 * Where the data comes from, in order: a directory given by the user; Debian's
 * {@code dataset-fashion-mnist} package ({@value #SYSTEM_DIR}, 60,000 training and 10,000 test
 * images); otherwise the test split shipped inside the project's jar (10,000 images, no training
 * split), so the demo works right after cloning. A directory holds the upstream IDX files
 * {@code train-images-idx3-ubyte.gz}, {@code train-labels-idx1-ubyte.gz}, {@code t10k-...}
 * (gzipped or not).
 */
public final class FashionMnist {
    private static final Logger LOG = LogManager.getLogger(FashionMnist.class);

    /** Class names by label index, as upstream publishes them. */
    public static final List<String> CLASS_NAMES = List.of("T-shirt/top", "Trouser", "Pullover", "Dress",
            "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");
    /** Where Debian's dataset-fashion-mnist package installs the full dataset. */
    public static final String SYSTEM_DIR = "/usr/share/datasets/fashion-mnist";
    static final String RESOURCE_DIR = "/org/nextpatch/data/fashion-mnist/";
    static final String TEST_IMAGES = "t10k-images-idx3-ubyte";
    static final String TEST_LABELS = "t10k-labels-idx1-ubyte";
    static final String TRAIN_IMAGES = "train-images-idx3-ubyte";
    static final String TRAIN_LABELS = "train-labels-idx1-ubyte";

    /**
     * The loaded dataset.
     *
     * @param train  the training split, when the source has one
     * @param test   the test split
     * @param source where it was read from, for reports
     */
    public record Dataset(Optional<LabelledImages> train, LabelledImages test, String source) {}

    private FashionMnist() {}

    /**
     * Loads Fashion-MNIST.
     *
     * @param dir a directory with the IDX files, or null for the installed dataset when present and
     *            the shipped test split otherwise
     */
    public static Dataset load(Path dir) {
        if (dir != null) {
            if (!Files.isDirectory(dir)) {
                throw new NppException("--data " + dir + ": not a directory");
            }
            return fromDirectory(dir);
        }
        Path system = Path.of(SYSTEM_DIR);
        if (find(system, TEST_IMAGES) != null && find(system, TEST_LABELS) != null) {
            return fromDirectory(system);
        }
        return new Dataset(Optional.empty(), shippedTest(), "Fashion-MNIST test split shipped with npp (class path)");
    }

    /** The 10,000-image test split shipped on the class path. */
    public static LabelledImages shippedTest() {
        Path tmpDir = null;
        try {
            tmpDir = Files.createTempDirectory("npp-fashion-mnist");
            Path images = copyResource(TEST_IMAGES + ".gz", tmpDir);
            Path labels = copyResource(TEST_LABELS + ".gz", tmpDir);
            return read(images, labels);
        } catch (IOException e) {
            throw new NppException("cannot unpack the shipped Fashion-MNIST test split: " + e.getMessage(), e);
        } finally {
            if (tmpDir != null) {
                try (var s = Files.list(tmpDir)) {
                    for (Path p : s.toList()) {
                        Files.deleteIfExists(p);
                    }
                    Files.deleteIfExists(tmpDir);
                } catch (IOException ignored) {
                    // a temporary directory left behind is harmless
                }
            }
        }
    }

    private static Path copyResource(String name, Path dir) throws IOException {
        try (InputStream in = FashionMnist.class.getResourceAsStream(RESOURCE_DIR + name)) {
            if (in == null) {
                throw new NppException("the shipped Fashion-MNIST file " + name + " is missing from the class path");
            }
            Path out = dir.resolve(name);
            Files.copy(in, out, StandardCopyOption.REPLACE_EXISTING);
            return out;
        }
    }

    private static Dataset fromDirectory(Path dir) {
        Path testImages = require(dir, TEST_IMAGES);
        Path testLabels = require(dir, TEST_LABELS);
        LabelledImages test = read(testImages, testLabels);
        Path trainImages = find(dir, TRAIN_IMAGES);
        Path trainLabels = find(dir, TRAIN_LABELS);
        Optional<LabelledImages> train = Optional.empty();
        if (trainImages != null && trainLabels != null) {
            train = Optional.of(read(trainImages, trainLabels));
        } else {
            LOG.info("{} has no training split; only the test split is available", dir);
        }
        return new Dataset(train, test, "Fashion-MNIST from " + dir);
    }

    /** The file {@code base} or {@code base.gz} in dir, or null. */
    public static Path find(Path dir, String base) {
        for (String n : new String[]{base + ".gz", base}) {
            Path p = dir.resolve(n);
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        return null;
    }

    private static Path require(Path dir, String base) {
        Path p = find(dir, base);
        if (p == null) {
            throw new NppException(dir + ": no " + base + "[.gz] (expected the Fashion-MNIST IDX files)");
        }
        return p;
    }

    /** Reads an images file ([N, H, W] uint8) and its labels file ([N], values 0..9). */
    public static LabelledImages read(Path imagesFile, Path labelsFile) {
        Tensor images = Idx.read(imagesFile);
        Tensor labels = Idx.read(labelsFile);
        if (images.dtype() != DType.UINT8 || images.rank() != 3) {
            throw new NppException(imagesFile + ": expected uint8 images [N, H, W], got " + images);
        }
        if (labels.dtype() != DType.UINT8 || labels.rank() != 1) {
            throw new NppException(labelsFile + ": expected uint8 labels [N], got " + labels);
        }
        int[] s = images.intShape();
        if (labels.shape()[0] != s[0]) {
            throw new NppException(labelsFile + ": " + labels.shape()[0] + " labels for " + s[0] + " images in " + imagesFile);
        }
        long[] l = labels.toLongArray();
        int[] lab = new int[l.length];
        for (int i = 0; i < l.length; i++) {
            if (l[i] >= CLASS_NAMES.size()) {
                throw new NppException(labelsFile + ": label " + l[i] + " at index " + i + " is not a Fashion-MNIST class (0..9)");
            }
            lab[i] = (int) l[i];
        }
        return new LabelledImages(s[0], s[1], s[2], images.toByteArray(), lab, CLASS_NAMES);
    }

    /** Label counts per class (for reports and checks). */
    public static int[] classCounts(LabelledImages data) {
        int[] c = new int[data.numClasses()];
        for (int l : data.labels()) {
            c[l]++;
        }
        return c;
    }
}
