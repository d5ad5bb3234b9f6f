package org.nextpatch.onnx;

import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.nio.ByteBuffer;
import java.util.Locale;

/**
 * Weight-only quantization of a projection matrix for ONNX Runtime's {@code com.microsoft.MatMulNBits}:
 * {@code Y = A W^T} with {@code W [N, K]} (output channels by inputs, PyTorch's {@code Linear} layout)
 * stored as {@code bits}-bit codes in blocks of {@code blockSize} along K, one float32 scale per block.
 * <p>
 * Symmetric, no zero points (the operator's default zero point {@code z = 2^(bits-1)}: 8 for int4, 128
 * for int8). Per block, the entry of largest magnitude {@code m} (with its sign) sets
 * {@code scale = m / -z}, so that it maps exactly to code 0 ({@code q = -z}); every entry gets
 * {@code q = clamp(round(w / scale), -z, z - 1)}, stored as the unsigned code {@code q + z}, and
 * dequantizes to {@code (code - z) * scale = q * scale}. The layout is the operator's: {@code B} uint8
 * {@code [N, blocks, blockSize * bits / 8]} (int4: element j of a block in byte j/2, low nibble for even
 * j), {@code scales} float32 {@code [N * blocks]}; inputs past K (the last block's padding) hold code z
 * (value 0).
 * <p>
 * {@code accuracyLevel} is the operator's attribute: the lowest precision ONNX Runtime may use for the
 * activations. 0 (or 1) multiplies in float32 with the dequantized weights (exactly
 * {@link #dequantize}); 4 quantizes each activation block to int8 too and uses integer dot products
 * (VNNI/AVX2 on x86), several times faster on CPUs at a small extra error.
 *
 * @param bits          4 or 8
 * @param blockSize     a power of two, at least 16
 * @param accuracyLevel the MatMulNBits {@code accuracy_level} attribute, 0 to 4
 */
public record WeightQuantization(int bits, int blockSize, int accuracyLevel) {

    /** int8 codes, blocks of 32, int8 compute. */
    public static final WeightQuantization INT8 = new WeightQuantization(8, 32, 4);
    /** int4 codes, blocks of 32, int8 compute. */
    public static final WeightQuantization INT4 = new WeightQuantization(4, 32, 4);

    public WeightQuantization {
        if (bits != 4 && bits != 8) {
            throw new NppException("quantization bits must be 4 or 8, got " + bits);
        }
        if (blockSize < 16 || Integer.bitCount(blockSize) != 1) {
            throw new NppException("quantization block size must be a power of two >= 16, got " + blockSize);
        }
        if (accuracyLevel < 0 || accuracyLevel > 4) {
            throw new NppException("quantization accuracy level must be 0 to 4, got " + accuracyLevel);
        }
    }

    /**
     * {@code int8} or {@code int4} (the default block size and accuracy level).
     *
     * @param what how to name the value in the message (a flag or a parameter)
     */
    public static WeightQuantization parse(String name, String what) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "int8" -> INT8;
            case "int4" -> INT4;
            default -> throw new NppException(what + " must be int8 or int4, got '" + name + "'");
        };
    }

    /** The scheme's short name: {@code int8} or {@code int4}. */
    public String label() {
        return "int" + bits;
    }

    /** This scheme with another accuracy level (e.g. 0 for float32 products, as tests use). */
    public WeightQuantization withAccuracyLevel(int level) {
        return new WeightQuantization(bits, blockSize, level);
    }

    /** Suffix of a quantized matrix's codes initializer ({@code .q4}, {@code .q8}); its scales end in {@code .scales}. */
    public String codesSuffix() {
        return ".q" + bits;
    }

    /** The default zero point: code of the value 0. */
    int zeroPoint() {
        return 1 << (bits - 1);
    }

    /** Blocks per output channel for K inputs. */
    public int blocks(int k) {
        return (k + blockSize - 1) / blockSize;
    }

    /** Bytes of one block's codes. */
    int blobSize() {
        return blockSize * bits / 8;
    }

    /**
     * The MatMulNBits inputs {@code B} and {@code scales} of one {@code [n, k]} matrix.
     *
     * @param codes  uint8 {@code [n, blocks, blob]}
     * @param scales float32 {@code [n * blocks]}
     */
    public record Packed(Tensor codes, Tensor scales, int n, int k) {
        /** Bytes of the codes and scales. */
        public long bytes() {
            return codes.data().remaining() + scales.data().remaining();
        }
    }

    /**
     * Quantizes {@code w [n, k]} (row-major, output channel by input).
     */
    public Packed quantize(float[] w, int n, int k) {
        if (w.length != (long) n * k) {
            throw new IllegalArgumentException("matrix of " + w.length + " values is not " + n + " x " + k);
        }
        int blocks = blocks(k);
        int blob = blobSize();
        int z = zeroPoint();
        byte[] codes = new byte[n * blocks * blob];
        float[] scales = new float[n * blocks];
        for (int r = 0; r < n; r++) {
            for (int b = 0; b < blocks; b++) {
                int from = r * k + b * blockSize;
                int len = Math.min(blockSize, k - b * blockSize);
                float scale = blockScale(w, from, len, z);
                scales[r * blocks + b] = scale;
                int out = (r * blocks + b) * blob;
                for (int j = 0; j < blockSize; j++) {
                    int code = j < len ? code(w[from + j], scale, z) : z;
                    if (bits == 8) {
                        codes[out + j] = (byte) code;
                    } else {
                        codes[out + j / 2] |= (byte) ((j % 2 == 0) ? code : code << 4);
                    }
                }
            }
        }
        return new Packed(Tensor.ofBytes(DType.UINT8, new long[]{n, blocks, blob}, codes),
                Tensor.ofFloats(new long[]{(long) n * blocks}, scales), n, k);
    }

    /** {@code -m / z} for the block's entry m of largest magnitude (0 for an all-zero block). */
    private static float blockScale(float[] w, int from, int len, int z) {
        float m = 0;
        for (int j = 0; j < len; j++) {
            if (Math.abs(w[from + j]) > Math.abs(m)) {
                m = w[from + j];
            }
        }
        return m / -z;
    }

    private static int code(float v, float scale, int z) {
        if (scale == 0f) {
            return z;
        }
        long q = Math.round(v / scale);
        return (int) Math.max(0, Math.min(2L * z - 1, q + z));
    }

    /** The float matrix {@code [n, k]} that {@code p} stands for: {@code (code - z) * scale}. */
    public float[] dequantize(Packed p, int n, int k) {
        int blocks = blocks(k);
        int blob = blobSize();
        int z = zeroPoint();
        ByteBuffer c = p.codes().data();
        float[] s = p.scales().toFloatArray();
        float[] w = new float[n * k];
        for (int r = 0; r < n; r++) {
            for (int i = 0; i < k; i++) {
                int b = i / blockSize;
                int j = i % blockSize;
                int at = (r * blocks + b) * blob;
                int code = bits == 8 ? c.get(at + j) & 0xff : (c.get(at + j / 2) >> (j % 2 == 0 ? 0 : 4)) & 0xf;
                w[r * k + i] = (code - z) * s[r * blocks + b];
            }
        }
        return w;
    }

    /** {@code quantize} then {@code dequantize}: the weights a quantized graph computes with. */
    public float[] roundTrip(float[] w, int n, int k) {
        return dequantize(quantize(w, n, k), n, k);
    }
}
