package org.nextpatch.data;

import org.nextpatch.io.Idx;
import org.nextpatch.io.Images.Rgb;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * An MNIST-format (IDX) image set as an extraction/training source: uint8 greyscale images
 * {@code [N, H, W]} (replicated to three channels) with uint8 labels {@code [N]}.
 */
public final class IdxImages implements CodeExtractor.Source {
    private final Path imagesFile;
    private final ByteBuffer pixels;
    private final long[] labels;
    private final int n;
    private final int h;
    private final int w;
    private final List<String> names;

    private IdxImages(Path imagesFile, ByteBuffer pixels, long[] labels, int n, int h, int w, List<String> names) {
        this.imagesFile = imagesFile;
        this.pixels = pixels;
        this.labels = labels;
        this.n = n;
        this.h = h;
        this.w = w;
        this.names = names;
    }

    /** Whether a {@code --data-path} names an IDX image file rather than a folder. */
    public static boolean looksLikeIdx(Path p) {
        String name = p.getFileName() == null ? "" : p.getFileName().toString().toLowerCase(Locale.ROOT);
        return name.contains("idx3") || name.endsWith(".idx") || name.endsWith(".idx.gz");
    }

    /**
     * Reads an IDX image file and its label file (null: every label 0, for tokenizer training).
     * Fashion-MNIST class names are attached when the path says "fashion".
     */
    public static IdxImages read(Path images, Path labelsFile) {
        Tensor img = Idx.read(images);
        Tensor lab = labelsFile == null ? Tensor.ofLongs(new long[]{img.shape()[0]}, new long[(int) img.shape()[0]])
                : Idx.read(labelsFile);
        if (img.rank() != 3 || img.dtype() != DType.UINT8) {
            throw new NppException(images + ": expected uint8 IDX images [N, H, W], got " + img.dtype() + " " + Arrays.toString(img.shape()));
        }
        if (lab.rank() != 1 || lab.shape()[0] != img.shape()[0]) {
            throw new NppException(labelsFile + ": expected " + img.shape()[0] + " labels, got shape " + Arrays.toString(lab.shape()));
        }
        boolean fashion = images.toString().toLowerCase(Locale.ROOT).contains("fashion");
        return new IdxImages(images, img.data(), lab.toLongArray(), (int) img.shape()[0], (int) img.shape()[1],
                (int) img.shape()[2], fashion ? FashionMnist.CLASS_NAMES : List.of());
    }

    /** Keeps the first {@code limit} images (all when limit &lt;= 0 or larger than the set). */
    public IdxImages limit(int limit) {
        if (limit <= 0 || limit >= n) {
            return this;
        }
        return new IdxImages(imagesFile, pixels, Arrays.copyOf(labels, limit), limit, h, w, names);
    }

    @Override
    public int size() {
        return n;
    }

    @Override
    public String describe(int i) {
        return imagesFile + "[" + i + "]";
    }

    @Override
    public Rgb read(int i) {
        int[] px = new int[h * w];
        int base = i * h * w;
        for (int p = 0; p < px.length; p++) {
            int v = pixels.get(base + p) & 0xFF;
            px[p] = v << 16 | v << 8 | v;
        }
        return new Rgb(w, h, px);
    }

    @Override
    public long label(int i) {
        return labels[i];
    }

    @Override
    public List<String> classNames() {
        return names;
    }
}
