package org.nextpatch.tensor;

import org.nextpatch.util.NppException;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * An engine-free dense tensor: element type, shape and a C-contiguous little-endian buffer.
 * <p>
 * This is how tensors cross module boundaries (checkpoints, npy files, ONNX initializers, DJL
 * parameters): never as engine objects. The buffer may be a memory-mapped region of a file, so a
 * large checkpoint is not copied onto the heap. One tensor holds at most 2^31 - 1 bytes (the
 * largest LlamaGen tensor, GPT-XXL's embedding, is 100 MB).
 */
public final class Tensor {
    private final DType dtype;
    private final long[] shape;
    private final ByteBuffer data;

    /**
     * @param dtype element type
     * @param shape dimensions (empty for a scalar)
     * @param data  C-contiguous little-endian elements; its remaining bytes must equal numel * element size
     */
    public Tensor(DType dtype, long[] shape, ByteBuffer data) {
        this.dtype = dtype;
        this.shape = shape.clone();
        long n = numel(shape);
        long need;
        try {
            need = Math.multiplyExact(n, dtype.bytes());
        } catch (ArithmeticException e) {
            throw new NppException("tensor of shape " + Arrays.toString(shape) + " and type " + dtype
                    + " has more bytes than a long counts");
        }
        if (need != data.remaining()) {
            throw new NppException("tensor of shape " + Arrays.toString(shape) + " and type " + dtype
                    + " needs " + need + " bytes, got " + data.remaining());
        }
        this.data = data.slice().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Number of elements of a shape. */
    public static long numel(long[] shape) {
        long n = 1;
        for (long s : shape) {
            if (s < 0) {
                throw new NppException("negative dimension in shape " + Arrays.toString(shape));
            }
            try {
                n = Math.multiplyExact(n, s);
            } catch (ArithmeticException e) {
                throw new NppException("shape " + Arrays.toString(shape) + " has more elements than a long counts");
            }
        }
        return n;
    }

    public static Tensor ofFloats(long[] shape, float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        return new Tensor(DType.FLOAT32, shape, b);
    }

    public static Tensor ofDoubles(long[] shape, double[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        b.asDoubleBuffer().put(values);
        return new Tensor(DType.FLOAT64, shape, b);
    }

    public static Tensor ofLongs(long[] shape, long[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        b.asLongBuffer().put(values);
        return new Tensor(DType.INT64, shape, b);
    }

    public static Tensor ofInts(long[] shape, int[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asIntBuffer().put(values);
        return new Tensor(DType.INT32, shape, b);
    }

    public static Tensor ofBytes(DType dtype, long[] shape, byte[] values) {
        return new Tensor(dtype, shape, ByteBuffer.wrap(values));
    }

    public DType dtype() {
        return dtype;
    }

    /** A copy of the shape. */
    public long[] shape() {
        return shape.clone();
    }

    /** The shape as ints (throws if a dimension does not fit). */
    public int[] intShape() {
        int[] s = new int[shape.length];
        for (int i = 0; i < s.length; i++) {
            s[i] = Math.toIntExact(shape[i]);
        }
        return s;
    }

    public int rank() {
        return shape.length;
    }

    public long numel() {
        return numel(shape);
    }

    /** A read-only little-endian view of the raw bytes, positioned at 0. */
    public ByteBuffer data() {
        return data.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Elements converted to float32 (float16, bfloat16, float64 and integers are converted). */
    public float[] toFloatArray() {
        int n = Math.toIntExact(numel());
        float[] out = new float[n];
        ByteBuffer b = data();
        switch (dtype) {
            case FLOAT32 -> b.asFloatBuffer().get(out);
            case FLOAT64 -> { for (int i = 0; i < n; i++) out[i] = (float) b.getDouble(i * 8); }
            case FLOAT16 -> { for (int i = 0; i < n; i++) out[i] = Half.toFloat(b.getShort(i * 2)); }
            case BFLOAT16 -> { for (int i = 0; i < n; i++) out[i] = Float.intBitsToFloat((b.getShort(i * 2) & 0xffff) << 16); }
            default -> { long[] l = toLongArray(); for (int i = 0; i < n; i++) out[i] = l[i]; }
        }
        return out;
    }

    /** Elements converted to float64. */
    public double[] toDoubleArray() {
        if (dtype == DType.FLOAT64) {
            double[] out = new double[Math.toIntExact(numel())];
            data().asDoubleBuffer().get(out);
            return out;
        }
        if (dtype.isFloating()) {
            float[] f = toFloatArray();
            double[] out = new double[f.length];
            for (int i = 0; i < f.length; i++) out[i] = f[i];
            return out;
        }
        long[] l = toLongArray();
        double[] out = new double[l.length];
        for (int i = 0; i < l.length; i++) out[i] = l[i];
        return out;
    }

    /** Elements converted to int64 (integer and bool types only). */
    public long[] toLongArray() {
        int n = Math.toIntExact(numel());
        long[] out = new long[n];
        ByteBuffer b = data();
        switch (dtype) {
            case INT64 -> b.asLongBuffer().get(out);
            case INT32 -> { for (int i = 0; i < n; i++) out[i] = b.getInt(i * 4); }
            case INT16 -> { for (int i = 0; i < n; i++) out[i] = b.getShort(i * 2); }
            case INT8 -> { for (int i = 0; i < n; i++) out[i] = b.get(i); }
            case UINT8, BOOL -> { for (int i = 0; i < n; i++) out[i] = b.get(i) & 0xff; }
            default -> throw new NppException("tensor of type " + dtype + " is not an integer tensor");
        }
        return out;
    }

    /** Raw bytes as an array (copy). */
    public byte[] toByteArray() {
        byte[] out = new byte[data.remaining()];
        data().get(out);
        return out;
    }

    /** Same data, another shape with the same element count. */
    public Tensor reshape(long... newShape) {
        if (numel(newShape) != numel()) {
            throw new NppException("cannot reshape " + Arrays.toString(shape) + " to " + Arrays.toString(newShape));
        }
        return new Tensor(dtype, newShape, data());
    }

    /** Element-wise equality of type, shape and bytes. */
    public boolean contentEquals(Tensor other) {
        return other != null && dtype == other.dtype && Arrays.equals(shape, other.shape) && data().equals(other.data());
    }

    @Override
    public String toString() {
        return "Tensor(" + dtype + ", " + Arrays.toString(shape) + ")";
    }
}
