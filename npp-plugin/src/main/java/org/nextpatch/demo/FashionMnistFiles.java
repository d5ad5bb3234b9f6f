package org.nextpatch.demo;

import org.nextpatch.data.FashionMnist;
import org.nextpatch.util.NppException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The Fashion-MNIST IDX files as paths (the code extractor and the Tribuo data source read files, and
 * their provenance hashes them): from {@code --data DIR}, from Debian's dataset-fashion-mnist, or the
 * test split shipped on the class path, copied out once.
 *
 * @param trainImages training images, or null when only the test split is available
 * @param trainLabels training labels, or null
 * @param testImages  test images
 * @param testLabels  test labels
 * @param source      where they came from, for the report
 */
public record FashionMnistFiles(Path trainImages, Path trainLabels, Path testImages, Path testLabels, String source) {

    private static final String RESOURCES = "/org/nextpatch/data/fashion-mnist/";

    /** Whether the training split is present. */
    public boolean hasTrain() {
        return trainImages != null;
    }

    /**
     * Finds the files.
     *
     * @param dir     {@code --data} (null: the installed dataset when present, else the shipped test split)
     * @param copyTo  where the shipped split is copied when it is used
     */
    public static FashionMnistFiles locate(Path dir, Path copyTo) {
        if (dir != null) {
            if (!Files.isDirectory(dir)) {
                throw new NppException("--data " + dir + ": not a directory");
            }
            return fromDir(dir, true);
        }
        Path system = Path.of(FashionMnist.SYSTEM_DIR);
        if (FashionMnist.find(system, "t10k-images-idx3-ubyte") != null && FashionMnist.find(system, "t10k-labels-idx1-ubyte") != null) {
            return fromDir(system, false);
        }
        return copyShipped(copyTo);
    }

    /** Copies the test split shipped on the class path into {@code dir} (once) and returns its files. */
    public static FashionMnistFiles copyShipped(Path dir) {
        try {
            Files.createDirectories(dir);
            for (String name : new String[]{"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}) {
                Path out = dir.resolve(name);
                if (Files.isRegularFile(out)) {
                    continue;
                }
                try (InputStream in = FashionMnistFiles.class.getResourceAsStream(RESOURCES + name)) {
                    if (in == null) {
                        throw new NppException("the shipped Fashion-MNIST file " + name + " is missing from the class path");
                    }
                    Path tmp = org.nextpatch.util.AtomicFiles.createTemp(dir, name);
                    Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                    Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                }
            }
        } catch (IOException e) {
            throw new NppException("cannot copy the shipped Fashion-MNIST test split to " + dir + ": " + e.getMessage(), e);
        }
        return new FashionMnistFiles(null, null, dir.resolve("t10k-images-idx3-ubyte.gz"),
                dir.resolve("t10k-labels-idx1-ubyte.gz"),
                "Fashion-MNIST test split shipped with npp (10,000 images; install dataset-fashion-mnist or give --data for the full set)");
    }

    private static FashionMnistFiles fromDir(Path dir, boolean flag) {
        Path ti = FashionMnist.find(dir, "t10k-images-idx3-ubyte");
        Path tl = FashionMnist.find(dir, "t10k-labels-idx1-ubyte");
        if (ti == null || tl == null) {
            throw new NppException((flag ? "--data " : "") + dir + ": no t10k-images-idx3-ubyte[.gz] / t10k-labels-idx1-ubyte[.gz]");
        }
        Path ri = FashionMnist.find(dir, "train-images-idx3-ubyte");
        Path rl = FashionMnist.find(dir, "train-labels-idx1-ubyte");
        boolean train = ri != null && rl != null;
        return new FashionMnistFiles(train ? ri : null, train ? rl : null, ti, tl,
                "Fashion-MNIST from " + dir + (train ? " (train and test splits)" : " (test split only)"));
    }
}
