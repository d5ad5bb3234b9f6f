package org.nextpatch.rope;

/**
 * The LlamaGen 2-D rotary table (spec 6.4, and spec 3 for NPP patch grids), engine-free.
 * <p>
 * For a {@code side x side} grid and head dimension {@code hd} the table has
 * {@code clsTokenNum + side*side} rows of {@code hd/2} (cos, sin) pairs. Pair {@code j < hd/4}
 * rotates by {@code row * theta_j}, pair {@code hd/4 + j} by {@code col * theta_j}, with
 * {@code theta_j = base^(-j / (hd/4))}. The class rows are all zero (cos = 0 AND sin = 0), so q and k
 * at the class position vanish: this is the upstream behaviour the released weights were trained
 * with, kept on purpose. Values are computed in float32 like the upstream {@code float()} tensors.
 * <p>
 * Pairs are interleaved adjacent channels {@code (x[2j], x[2j+1])}; see {@link #apply}.
 */
public final class Rope2d {
    private final int side;
    private final int headDim;
    private final int clsTokenNum;
    private final float[] cos;
    private final float[] sin;

    private Rope2d(int side, int headDim, int clsTokenNum, float[] cos, float[] sin) {
        this.side = side;
        this.headDim = headDim;
        this.clsTokenNum = clsTokenNum;
        this.cos = cos;
        this.sin = sin;
    }

    /**
     * Builds the table for a grid.
     *
     * @param side        grid side (token grid G, or patch grid G/p for an NPP stage)
     * @param headDim     attention head dimension, a multiple of 4
     * @param base        rotary base (10000 upstream)
     * @param clsTokenNum number of leading class rows (all zero)
     */
    public static Rope2d build(int side, int headDim, double base, int clsTokenNum) {
        if (side <= 0 || headDim <= 0 || headDim % 4 != 0 || clsTokenNum < 0) {
            throw new IllegalArgumentException("Rope2d needs side > 0, head dim a multiple of 4 and clsTokenNum >= 0; got side "
                    + side + ", head dim " + headDim + ", cls " + clsTokenNum);
        }
        int half = headDim / 2;
        int quarter = headDim / 4;
        // Upstream: freqs = 1 / (base ** (arange(0, half, 2)[:quarter].float() / half)), all float32.
        float[] freqs = new float[quarter];
        for (int j = 0; j < quarter; j++) {
            float exponent = (float) (2 * j) / (float) half;
            freqs[j] = 1.0f / (float) Math.pow(base, exponent);
        }
        int rows = clsTokenNum + side * side;
        float[] c = new float[rows * half];
        float[] s = new float[rows * half];
        for (int r = 0; r < side; r++) {
            for (int col = 0; col < side; col++) {
                int row = clsTokenNum + r * side + col;
                for (int j = 0; j < quarter; j++) {
                    float ar = (float) r * freqs[j];
                    float ac = (float) col * freqs[j];
                    c[row * half + j] = (float) Math.cos(ar);
                    s[row * half + j] = (float) Math.sin(ar);
                    c[row * half + quarter + j] = (float) Math.cos(ac);
                    s[row * half + quarter + j] = (float) Math.sin(ac);
                }
            }
        }
        return new Rope2d(side, headDim, clsTokenNum, c, s);
    }

    /** Grid side. */
    public int side() {
        return side;
    }

    /** Head dimension. */
    public int headDim() {
        return headDim;
    }

    /** Number of leading (zero) class rows. */
    public int clsTokenNum() {
        return clsTokenNum;
    }

    /** Number of rows: {@code clsTokenNum + side*side}. */
    public int rows() {
        return clsTokenNum + side * side;
    }

    /** Number of pairs per row: {@code headDim / 2}. */
    public int pairs() {
        return headDim / 2;
    }

    /** Cosines, row-major {@code [rows, headDim/2]} (a copy). */
    public float[] cos() {
        return cos.clone();
    }

    /** Sines, row-major {@code [rows, headDim/2]} (a copy). */
    public float[] sin() {
        return sin.clone();
    }

    /** Cosines of the first {@code n} rows, row-major {@code [n, headDim/2]}. */
    public float[] cos(int n) {
        return java.util.Arrays.copyOf(cos, checkRows(n) * pairs());
    }

    /** Sines of the first {@code n} rows, row-major {@code [n, headDim/2]}. */
    public float[] sin(int n) {
        return java.util.Arrays.copyOf(sin, checkRows(n) * pairs());
    }

    private int checkRows(int n) {
        if (n < 0 || n > rows()) {
            throw new IllegalArgumentException("Rope2d has " + rows() + " rows, asked for " + n);
        }
        return n;
    }

    /** The interleaved {@code [rows, headDim/2, 2]} table (cos, sin) as upstream's {@code freqs_cis}. */
    public float[] interleaved() {
        float[] out = new float[cos.length * 2];
        for (int i = 0; i < cos.length; i++) {
            out[2 * i] = cos[i];
            out[2 * i + 1] = sin[i];
        }
        return out;
    }

    /**
     * Rotates one head vector in place at sequence position {@code pos} (float32, interleaved pairs):
     * {@code y[2j] = x[2j] cos - x[2j+1] sin}, {@code y[2j+1] = x[2j+1] cos + x[2j] sin}.
     * A reference for tests and engine-free code.
     */
    public void apply(float[] x, int offset, int pos) {
        int half = pairs();
        for (int j = 0; j < half; j++) {
            float c = cos[pos * half + j];
            float s = sin[pos * half + j];
            float a = x[offset + 2 * j];
            float b = x[offset + 2 * j + 1];
            x[offset + 2 * j] = a * c - b * s;
            x[offset + 2 * j + 1] = b * c + a * s;
        }
    }
}
