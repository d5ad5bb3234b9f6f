package org.nextpatch.io;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.AtomicFiles;
import org.nextpatch.util.NppException;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.stream.ImageInputStream;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.TreeMap;

/**
 * Image conversion, reading and writing.
 * <ul>
 *   <li>{@link #toUint8Nhwc}: decoder output (float NCHW, about [-1, 1]) to uint8 NHWC with the upstream
 *       conversion {@code uint8(clamp(127.5 x + 128, 0, 255))} (note +128 and the truncating cast; spec 6.5).</li>
 *   <li>{@link #writePng}, {@link #writeGrid}: PNG files and a labelled sample grid (one row per class).</li>
 *   <li>{@link #readRgb}: any readable image file to 8-bit RGB, converting greyscale, palette, 16-bit and
 *       CMYK/YCCK JPEG images the way PIL's {@code convert("RGB")} treats them (alpha dropped).</li>
 * </ul>
 * RGB images travel as {@code int[h][w]} packed {@code 0xRRGGBB} in {@link Rgb} to keep them engine-free.
 */
public final class Images {
    private static final Logger LOG = LogManager.getLogger(Images.class);

    private Images() {}

    /** An 8-bit RGB image: {@code pixels[y * width + x] = 0xRRGGBB}. */
    public record Rgb(int width, int height, int[] pixels) {
        /** Validates the size. */
        public Rgb {
            if (width <= 0 || height <= 0 || pixels.length != width * height) {
                throw new IllegalArgumentException("bad image size " + width + "x" + height);
            }
        }

        /** Channel {@code c} (0 red, 1 green, 2 blue) of pixel (x, y). */
        public int get(int x, int y, int c) {
            return (pixels[y * width + x] >> (16 - 8 * c)) & 0xFF;
        }

        /** This image as a {@link BufferedImage} of type INT_RGB. */
        public BufferedImage toBufferedImage() {
            BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
            img.setRGB(0, 0, width, height, pixels, 0, width);
            return img;
        }
    }

    // ------------------------------------------------------------------ tensors -> uint8

    /**
     * The upstream conversion of decoder output to pixels: float NCHW (3 channels) to uint8 NHWC,
     * {@code uint8(clamp(127.5 x + 128, 0, 255))} computed in float32 and truncated.
     */
    public static Tensor toUint8Nhwc(Tensor nchw) {
        long[] s = nchw.shape();
        if (s.length != 4 || s[1] != 3) {
            throw new NppException("images must be NCHW with 3 channels, got " + Arrays.toString(s));
        }
        int n = (int) s[0];
        int h = (int) s[2];
        int w = (int) s[3];
        float[] x = nchw.toFloatArray();
        byte[] out = new byte[n * h * w * 3];
        int plane = h * w;
        for (int b = 0; b < n; b++) {
            for (int c = 0; c < 3; c++) {
                int src = (b * 3 + c) * plane;
                for (int p = 0; p < plane; p++) {
                    float v = 127.5f * x[src + p] + 128.0f;
                    // NaN compares false everywhere and ends up 0, like torch's clamp+cast on CPU.
                    int q = v >= 255f ? 255 : (v > 0f ? (int) v : 0);
                    out[(b * plane + p) * 3 + c] = (byte) q;
                }
            }
        }
        return Tensor.ofBytes(DType.UINT8, new long[]{n, h, w, 3}, out);
    }

    /** Image {@code i} of a uint8 NHWC tensor with 3 channels. */
    public static Rgb fromNhwc(Tensor nhwc, int i) {
        long[] s = nhwc.shape();
        if (nhwc.dtype() != DType.UINT8 || s.length != 4 || s[3] != 3) {
            throw new NppException("expected uint8 NHWC images with 3 channels, got " + nhwc.dtype() + " " + Arrays.toString(s));
        }
        int h = (int) s[1];
        int w = (int) s[2];
        java.nio.ByteBuffer d = nhwc.data();
        int base = i * h * w * 3;
        int[] px = new int[h * w];
        for (int p = 0; p < px.length; p++) {
            int o = base + p * 3;
            px[p] = (d.get(o) & 0xFF) << 16 | (d.get(o + 1) & 0xFF) << 8 | (d.get(o + 2) & 0xFF);
        }
        return new Rgb(w, h, px);
    }

    // ------------------------------------------------------------------ writing

    /** Writes an image as PNG, atomically. */
    public static void writePng(Path file, Rgb image) {
        writePng(file, image.toBufferedImage());
    }

    /** Writes an image as PNG, atomically. */
    public static void writePng(Path file, BufferedImage image) {
        AtomicFiles.write(file, out -> {
            if (!ImageIO.write(image, "png", out)) {
                throw new IOException("no PNG writer");
            }
        });
    }

    /** Writes every image of a uint8 NHWC tensor as {@code dir/prefix%06d.png}. */
    public static void writePngs(Path dir, String prefix, Tensor nhwc) {
        long n = nhwc.shape()[0];
        for (int i = 0; i < n; i++) {
            writePng(dir.resolve(String.format("%s%06d.png", prefix, i)), fromNhwc(nhwc, i));
        }
    }

    /**
     * A sample grid: one row per class (rows sorted by class id, images in their given order), the
     * class label (its name when {@code classNames} is given) left of each row. Small images are
     * enlarged by an integer factor (nearest neighbour) so that a cell is at least 64 pixels high.
     *
     * @param nhwc       uint8 [N, H, W, 3]
     * @param labels     the class of each image, length N
     * @param classNames optional names indexed by class id (null for numbers)
     */
    public static BufferedImage grid(Tensor nhwc, long[] labels, List<String> classNames) {
        long[] s = nhwc.shape();
        int n = (int) s[0];
        if (labels.length != n) {
            throw new NppException("grid: " + labels.length + " labels for " + n + " images");
        }
        int h = (int) s[1];
        int w = (int) s[2];
        int scale = Math.max(1, (64 + h - 1) / h);
        TreeMap<Long, List<Integer>> rows = new TreeMap<>();
        for (int i = 0; i < n; i++) {
            rows.computeIfAbsent(labels[i], k -> new ArrayList<>()).add(i);
        }
        int cols = rows.values().stream().mapToInt(List::size).max().orElse(1);
        String[] names = new String[rows.size()];
        int r = 0;
        for (long label : rows.keySet()) {
            String name = classNames != null && label >= 0 && label < classNames.size() ? classNames.get((int) label) : null;
            names[r++] = name == null ? String.valueOf(label) : label + " " + name;
        }
        int pad = 2;
        int cellW = w * scale;
        int cellH = h * scale;
        int labelW = labelWidth(names);
        int gw = labelW + cols * (cellW + pad) + pad;
        int gh = Math.max(1, rows.size()) * (cellH + pad) + pad;
        BufferedImage out = new BufferedImage(gw, gh, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, gw, gh);
            r = 0;
            for (List<Integer> row : rows.values()) {
                int y0 = pad + r * (cellH + pad);
                drawLabel(g, names[r], 4, y0, cellH);
                for (int c = 0; c < row.size(); c++) {
                    BufferedImage img = fromNhwc(nhwc, row.get(c)).toBufferedImage();
                    int x0 = labelW + pad + c * (cellW + pad);
                    g.drawImage(img, x0, y0, cellW, cellH, null); // nearest neighbour by default
                }
                r++;
            }
        } finally {
            g.dispose();
        }
        return out;
    }

    /** Writes {@link #grid} as a PNG file. */
    public static void writeGrid(Path file, Tensor nhwc, long[] labels, List<String> classNames) {
        writePng(file, grid(nhwc, labels, classNames));
    }

    private static final Font LABEL_FONT = new Font(Font.SANS_SERIF, Font.PLAIN, 12);

    private static int labelWidth(String[] names) {
        try {
            BufferedImage probe = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = probe.createGraphics();
            FontMetrics fm = g.getFontMetrics(LABEL_FONT);
            int max = 0;
            for (String s : names) {
                max = Math.max(max, fm.stringWidth(s));
            }
            g.dispose();
            return max + 8;
        } catch (RuntimeException | Error e) {
            // A headless JRE without fonts cannot measure text: leave the labels out.
            return 0;
        }
    }

    private static void drawLabel(Graphics2D g, String text, int x, int y0, int cellH) {
        try {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setFont(LABEL_FONT);
            g.setColor(Color.BLACK);
            FontMetrics fm = g.getFontMetrics();
            g.drawString(text, x, y0 + (cellH + fm.getAscent()) / 2 - 2);
        } catch (RuntimeException | Error e) {
            LOG.debug("cannot draw grid labels ({}); writing the grid without them", e.toString());
        }
    }

    // ------------------------------------------------------------------ reading

    /**
     * Reads an image file as 8-bit RGB. Greyscale is replicated to three channels, palettes are looked
     * up, alpha is dropped (as PIL's {@code convert("RGB")}), 16-bit samples are scaled to 8 bits, and
     * CMYK/YCCK JPEG files (which Java's JPEG reader refuses) are decoded from their raw raster.
     * <p>
     * Refused, before or while decoding: anything but a regular file (a FIFO would block), an image
     * whose header declares more than {@link #MAX_PIXELS} pixels, and a truncated file (a JPEG whose
     * data ends early, where Java's reader would fill the rest with grey and PIL raises "image file is
     * truncated"; other formats' readers fail on their own). Running out of heap while decoding is an
     * {@link OutOfMemoryError}, never a refusal, so which images are refused does not depend on the heap.
     *
     * @throws NppException naming the file when it cannot be decoded
     */
    public static Rgb readRgb(Path file) {
        org.nextpatch.util.RegularFiles.requireRegular(file, null);
        long[] size = new long[2];
        try {
            BufferedImage img;
            try {
                img = decode(file, size);
            } catch (IOException | RuntimeException e) {
                if (e instanceof NppException n) {
                    throw n;
                }
                rethrowOutOfMemory(file, size, e);
                // Java's JPEG reader refuses 4-channel (CMYK/YCCK) JPEG files: decode the raw raster.
                Rgb cmyk = tryReadCmykJpeg(file);
                if (cmyk != null) {
                    return cmyk;
                }
                throw new NppException(file + ": cannot decode image (" + e.getMessage() + ")", e);
            }
            if (img == null) {
                throw new NppException(file + ": not a readable image format");
            }
            if (img.getColorModel().getNumColorComponents() == 4) {
                // Newer JDKs decode CMYK JPEG files but keep the inks: convert them as PIL does.
                Rgb cmyk = tryReadCmykJpeg(file);
                if (cmyk != null) {
                    return cmyk;
                }
            }
            return toRgb(img);
        } catch (OutOfMemoryError e) {
            throw outOfMemory(file, size);
        }
    }

    /**
     * Largest image decoded, in pixels: PIL's {@code Image.MAX_IMAGE_PIXELS} (89,478,485, about
     * 9459 x 9459), above which upstream's PIL warns of a decompression bomb (and errors above twice
     * that). A fixed limit read from the header before decoding, so whether an image is refused never
     * depends on the heap; far above any training image.
     */
    public static final long MAX_PIXELS = 89_478_485L;

    /**
     * Decodes the first image of a file as {@link ImageIO#read} does, after checking the declared size
     * against {@link #MAX_PIXELS} (stored in {@code size}); null when no reader knows the format.
     */
    private static BufferedImage decode(Path file, long[] size) throws IOException {
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            if (in == null) {
                throw new IOException("cannot open");
            }
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) {
                return null;
            }
            ImageReader r = readers.next();
            try {
                r.setInput(in, true, true);
                size[0] = r.getWidth(0);
                size[1] = r.getHeight(0);
                if (size[0] * size[1] > MAX_PIXELS) {
                    throw new NppException(file + ": image of " + size[0] + "x" + size[1] + " pixels is larger than the "
                            + String.format(java.util.Locale.ROOT, "%,d", MAX_PIXELS) + "-pixel limit");
                }
                List<String> truncated = new ArrayList<>();
                r.addIIOReadWarningListener((src, warning) -> {
                    if (warning.toLowerCase(java.util.Locale.ROOT).contains("premature end")) {
                        truncated.add(warning);
                    }
                });
                BufferedImage img = r.read(0, r.getDefaultReadParam());
                if (!truncated.isEmpty()) {
                    throw new NppException(file + ": image file is truncated (" + truncated.get(0) + ")");
                }
                return img;
            } finally {
                r.dispose();
            }
        }
    }

    /** Readers wrap any Throwable (an OutOfMemoryError too) in an IIOException: a lack of heap is no refusal. */
    private static void rethrowOutOfMemory(Path file, long[] size, Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof OutOfMemoryError) {
                throw outOfMemory(file, size);
            }
        }
    }

    private static OutOfMemoryError outOfMemory(Path file, long[] size) {
        return new OutOfMemoryError(file + ": not enough heap to decode this " + size[0] + "x" + size[1]
                + " image; give the JVM more heap (-Xmx)");
    }

    /** Converts any decoded image to 8-bit RGB without colour management (raw samples, as PIL). */
    public static Rgb toRgb(BufferedImage img) {
        int w = img.getWidth();
        int h = img.getHeight();
        int[] px = new int[w * h];
        ColorModel cm = img.getColorModel();
        Raster r = img.getRaster();
        int comps = cm.getNumColorComponents();
        boolean eightBitRgb = comps == 3 && cm.getColorSpace().isCS_sRGB() && allEightBit(cm);
        if (cm instanceof IndexColorModel || eightBitRgb) {
            img.getRGB(0, 0, w, h, px, 0, w);
            for (int i = 0; i < px.length; i++) {
                px[i] &= 0xFFFFFF;
            }
            return new Rgb(w, h, px);
        }
        if (comps != 1 && comps != 3) {
            throw new NppException("unsupported image with " + comps + " colour components");
        }
        int[] max = new int[comps];
        for (int c = 0; c < comps; c++) {
            max[c] = (1 << cm.getComponentSize(c)) - 1;
        }
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int v = 0;
                for (int c = 0; c < 3; c++) {
                    int band = comps == 1 ? 0 : c;
                    int s = r.getSample(x, y, band);
                    int q = max[band] == 255 ? s : (int) ((s * 255L + max[band] / 2) / max[band]);
                    v = v << 8 | q;
                }
                px[y * w + x] = v;
            }
        }
        return new Rgb(w, h, px);
    }

    private static boolean allEightBit(ColorModel cm) {
        for (int s : cm.getComponentSize()) {
            if (s != 8) {
                return false;
            }
        }
        return true;
    }

    /**
     * Decodes a 4-channel JPEG from its raw raster: YCCK (Adobe transform 2) is first turned back into
     * CMYK; Adobe files store inverted inks, so {@code R = C' K' / 255} with {@code C' = 255 - C}.
     * Returns null when the file is not such a JPEG.
     */
    private static Rgb tryReadCmykJpeg(Path file) {
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            if (in == null) {
                return null;
            }
            Iterator<ImageReader> it = ImageIO.getImageReadersByFormatName("jpeg");
            if (!it.hasNext()) {
                return null;
            }
            ImageReader reader = it.next();
            try {
                reader.setInput(in);
                Raster raster = reader.readRaster(0, null);
                if (raster.getNumBands() != 4) {
                    return null;
                }
                int transform = adobeTransform(reader.getImageMetadata(0));
                int w = raster.getWidth();
                int h = raster.getHeight();
                int[] px = new int[w * h];
                int[] s = new int[4];
                for (int y = 0; y < h; y++) {
                    for (int x = 0; x < w; x++) {
                        raster.getPixel(x, y, s);
                        int c0 = s[0];
                        int c1 = s[1];
                        int c2 = s[2];
                        if (transform == 2) { // YCbCr -> the stored (inverted) C, M, Y
                            double yy = s[0];
                            double cb = s[1] - 128.0;
                            double cr = s[2] - 128.0;
                            c0 = clamp255(yy + 1.402 * cr);
                            c1 = clamp255(yy - 0.344136 * cb - 0.714136 * cr);
                            c2 = clamp255(yy + 1.772 * cb);
                        }
                        int k = s[3];
                        if (transform < 0) { // no Adobe marker: plain (non-inverted) inks
                            c0 = 255 - c0;
                            c1 = 255 - c1;
                            c2 = 255 - c2;
                            k = 255 - k;
                        }
                        px[y * w + x] = (c0 * k / 255) << 16 | (c1 * k / 255) << 8 | (c2 * k / 255);
                    }
                }
                return new Rgb(w, h, px);
            } finally {
                reader.dispose();
            }
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private static int clamp255(double v) {
        return (int) Math.max(0, Math.min(255, Math.round(v)));
    }

    /** The Adobe APP14 transform (0 none, 1 YCbCr, 2 YCCK), or -1 when the file has no Adobe marker. */
    private static int adobeTransform(IIOMetadata meta) {
        if (meta == null) {
            return -1;
        }
        try {
            org.w3c.dom.Node root = meta.getAsTree("javax_imageio_jpeg_image_1.0");
            org.w3c.dom.NodeList list = ((org.w3c.dom.Element) root).getElementsByTagName("app14Adobe");
            if (list.getLength() == 0) {
                return -1;
            }
            org.w3c.dom.Node t = list.item(0).getAttributes().getNamedItem("transform");
            return t == null ? 0 : Integer.parseInt(t.getNodeValue());
        } catch (RuntimeException e) {
            return -1;
        }
    }

    /** Whether Java can decode files with this name's extension at all (JDK: png, jpg, bmp, gif, tif, wbmp). */
    public static boolean hasReaderFor(Path file) {
        String name = file.getFileName().toString();
        int dot = name.lastIndexOf('.');
        return dot >= 0 && ImageIO.getImageReadersBySuffix(name.substring(dot + 1)).hasNext();
    }

}
