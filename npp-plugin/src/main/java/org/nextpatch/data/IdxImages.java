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
        return read(images, labelsFile, 0);
    }

    /**
     * Reads the first {@code limit} images and labels (all when limit &lt;= 0): both headers are checked
     * against each other first, and only the rows kept are read (a gzip file that inflates to gigabytes
     * costs the limit's worth).
     */
    public static IdxImages read(Path images, Path labelsFile, int limit) {
        Idx.Header ih = Idx.header(images);
        if (ih.shape().length != 3 || ih.type() != DType.UINT8) {
            throw new NppException(images + ": expected uint8 IDX images [N, H, W], got " + ih.type() + " " + Arrays.toString(ih.shape()));
        }
        long count = ih.shape()[0];
        if (labelsFile != null) {
            Idx.Header lh = Idx.header(labelsFile);
            if (lh.shape().length != 1 || lh.shape()[0] != count) {
                throw new NppException(labelsFile + ": expected " + count + " labels, got shape " + Arrays.toString(lh.shape()));
            }
        }
        long rows = limit > 0 ? Math.min(limit, count) : count;
        Tensor img = Idx.read(images, rows);
        Tensor lab = labelsFile == null ? Tensor.ofLongs(new long[]{rows}, new long[(int) rows]) : Idx.read(labelsFile, rows);
        boolean fashion = images.toString().toLowerCase(Locale.ROOT).contains("fashion");
        return new IdxImages(images, img.data(), lab.toLongArray(), (int) rows, (int) img.shape()[1],
                (int) img.shape()[2], fashion ? FashionMnist.CLASS_NAMES : List.of());
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
