package org.nextpatch.data;

import org.nextpatch.io.Images.Rgb;

/**
 * Image resampling with the arithmetic of PIL's {@code Image.resize} on 8-bit RGB images (spec 8):
 * separable convolution, horizontal pass first, intermediate rounded to 8 bits, coefficients in
 * fixed point with 22 fractional bits. The filter support is widened by the scale factor when
 * downsampling (an antialiasing filter, unlike a plain bicubic interpolation).
 * <ul>
 *   <li>{@link Filter#BOX}: 1 on (-0.5, 0.5], support 0.5 (PIL's {@code Image.BOX}).</li>
 *   <li>{@link Filter#BICUBIC}: Keys' cubic with a = -0.5, support 2 (PIL's {@code Image.BICUBIC}).</li>
 * </ul>
 */
public final class Resample {
    private static final int PRECISION_BITS = 32 - 8 - 2;

    private Resample() {}

    /** The resampling filters PIL uses for the ADM centre crop. */
    public enum Filter {
        /** Box filter (area average). */
        BOX(0.5) {
            @Override
            double weight(double x) {
                return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
            }
        },
        /** Bicubic convolution, a = -0.5. */
        BICUBIC(2.0) {
            @Override
            double weight(double x) {
                final double a = -0.5;
                x = Math.abs(x);
                if (x < 1.0) {
                    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
                }
                if (x < 2.0) {
                    return (((x - 5) * x + 8) * x - 4) * a;
                }
                return 0.0;
            }
        };

        final double support;

        Filter(double support) {
            this.support = support;
        }

        abstract double weight(double x);
    }

    /** Per output pixel: first input index, number of taps, fixed-point weights. */
    record Coefficients(int[] first, int[] count, int[][] weights) {}

    /** The fixed-point filter taps for resampling {@code inSize} pixels to {@code outSize}. */
    static Coefficients coefficients(int inSize, int outSize, Filter filter) {
        double scale = (double) inSize / outSize;
        double filterScale = Math.max(scale, 1.0);
        double support = filter.support * filterScale;
        int[] first = new int[outSize];
        int[] count = new int[outSize];
        int[][] weights = new int[outSize][];
        for (int xx = 0; xx < outSize; xx++) {
            double center = (xx + 0.5) * scale;
            double ss = 1.0 / filterScale;
            // C casts truncate toward zero; the result is clamped to [0, inSize] anyway
            int xmin = Math.max((int) (center - support + 0.5), 0);
            int xmax = Math.min((int) (center + support + 0.5), inSize) - xmin;
            double[] k = new double[Math.max(xmax, 0)];
            double ww = 0;
            for (int x = 0; x < xmax; x++) {
                double w = filter.weight((x + xmin - center + 0.5) * ss);
                k[x] = w;
                ww += w;
            }
            int[] fixed = new int[k.length];
            for (int x = 0; x < k.length; x++) {
                double v = ww != 0.0 ? k[x] / ww : k[x];
                fixed[x] = v < 0 ? (int) (-0.5 + v * (1 << PRECISION_BITS)) : (int) (0.5 + v * (1 << PRECISION_BITS));
            }
            first[xx] = xmin;
            count[xx] = k.length;
            weights[xx] = fixed;
        }
        return new Coefficients(first, count, weights);
    }

    private static int clip8(int v) {
        if (v >= (1 << PRECISION_BITS << 8)) {
            return 255;
        }
        if (v <= 0) {
            return 0;
        }
        return v >> PRECISION_BITS;
    }

    /** Resizes an RGB image to {@code outW x outH} as PIL's {@code resize((outW, outH), filter)}. */
    public static Rgb resize(Rgb in, int outW, int outH, Filter filter) {
        if (outW <= 0 || outH <= 0) {
            throw new IllegalArgumentException("bad output size " + outW + "x" + outH);
        }
        Rgb img = in;
        if (outW != img.width()) {
            img = horizontal(img, outW, coefficients(img.width(), outW, filter));
        }
        if (outH != img.height()) {
            img = vertical(img, outH, coefficients(img.height(), outH, filter));
        }
        return img;
    }

    private static Rgb horizontal(Rgb in, int outW, Coefficients co) {
        int h = in.height();
        int w = in.width();
        int[] src = in.pixels();
        int[] dst = new int[outW * h];
        for (int y = 0; y < h; y++) {
            for (int xx = 0; xx < outW; xx++) {
                int[] k = co.weights()[xx];
                int xmin = co.first()[xx];
                int s0 = 1 << (PRECISION_BITS - 1);
                int s1 = s0;
                int s2 = s0;
                for (int x = 0; x < k.length; x++) {
                    int p = src[y * w + xmin + x];
                    s0 += ((p >> 16) & 0xFF) * k[x];
                    s1 += ((p >> 8) & 0xFF) * k[x];
                    s2 += (p & 0xFF) * k[x];
                }
                dst[y * outW + xx] = clip8(s0) << 16 | clip8(s1) << 8 | clip8(s2);
            }
        }
        return new Rgb(outW, h, dst);
    }

    private static Rgb vertical(Rgb in, int outH, Coefficients co) {
        int w = in.width();
        int[] src = in.pixels();
        int[] dst = new int[w * outH];
        for (int yy = 0; yy < outH; yy++) {
            int[] k = co.weights()[yy];
            int ymin = co.first()[yy];
            for (int x = 0; x < w; x++) {
                int s0 = 1 << (PRECISION_BITS - 1);
                int s1 = s0;
                int s2 = s0;
                for (int y = 0; y < k.length; y++) {
                    int p = src[(ymin + y) * w + x];
                    s0 += ((p >> 16) & 0xFF) * k[y];
                    s1 += ((p >> 8) & 0xFF) * k[y];
                    s2 += (p & 0xFF) * k[y];
                }
                dst[yy * w + x] = clip8(s0) << 16 | clip8(s1) << 8 | clip8(s2);
            }
        }
        return new Rgb(w, outH, dst);
    }

    /** Crops the rectangle at (left, top) of the given size. */
    public static Rgb crop(Rgb in, int left, int top, int width, int height) {
        if (left < 0 || top < 0 || left + width > in.width() || top + height > in.height()) {
            throw new IllegalArgumentException("crop outside the image");
        }
        int[] dst = new int[width * height];
        for (int y = 0; y < height; y++) {
            System.arraycopy(in.pixels(), (top + y) * in.width() + left, dst, y * width, width);
        }
        return new Rgb(width, height, dst);
    }

    /** Mirrors the image left to right. */
    public static Rgb flipHorizontal(Rgb in) {
        int w = in.width();
        int[] dst = new int[in.pixels().length];
        for (int y = 0; y < in.height(); y++) {
            for (int x = 0; x < w; x++) {
                dst[y * w + x] = in.pixels()[y * w + (w - 1 - x)];
            }
        }
        return new Rgb(w, in.height(), dst);
    }

    /**
     * The ADM centre crop ({@code center_crop_arr} of guided-diffusion/LlamaGen): halve with a box
     * filter while the short side is at least twice the target, bicubic-resize so that the short side
     * equals the target (sizes rounded half to even, as Python's {@code round}), then crop the centre
     * (offsets rounded down).
     */
    public static Rgb admCenterCrop(Rgb in, int size) {
        Rgb img = in;
        while (Math.min(img.width(), img.height()) >= 2 * size) {
            img = resize(img, img.width() / 2, img.height() / 2, Filter.BOX);
        }
        double scale = (double) size / Math.min(img.width(), img.height());
        int w = (int) Math.rint(img.width() * scale);
        int h = (int) Math.rint(img.height() * scale);
        if (w != img.width() || h != img.height()) {
            img = resize(img, w, h, Filter.BICUBIC);
        }
        return crop(img, (img.width() - size) / 2, (img.height() - size) / 2, size, size);
    }

    /**
     * torchvision's {@code TenCrop(size)}: the four corners and the centre of the image, then the same
     * five of the horizontally flipped image. The centre offsets are {@code round((W - size) / 2)}
     * (half to even).
     */
    public static Rgb[] tenCrop(Rgb in, int size) {
        Rgb[] out = new Rgb[10];
        Rgb[] a = fiveCrop(in, size);
        Rgb[] b = fiveCrop(flipHorizontal(in), size);
        System.arraycopy(a, 0, out, 0, 5);
        System.arraycopy(b, 0, out, 5, 5);
        return out;
    }

    /** torchvision's {@code FiveCrop(size)}: top-left, top-right, bottom-left, bottom-right, centre. */
    public static Rgb[] fiveCrop(Rgb in, int size) {
        int w = in.width();
        int h = in.height();
        if (size > w || size > h) {
            throw new IllegalArgumentException("crop size " + size + " is larger than the image " + w + "x" + h);
        }
        int cTop = (int) Math.rint((h - size) / 2.0);
        int cLeft = (int) Math.rint((w - size) / 2.0);
        return new Rgb[]{
            crop(in, 0, 0, size, size),
            crop(in, w - size, 0, size, size),
            crop(in, 0, h - size, size, size),
            crop(in, w - size, h - size, size, size),
            crop(in, cLeft, cTop, size, size),
        };
    }
}
