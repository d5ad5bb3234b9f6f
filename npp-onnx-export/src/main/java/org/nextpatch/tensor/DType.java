package org.nextpatch.tensor;

/** Element types of tensors read from or written to PyTorch and NumPy files. */
public enum DType {
    FLOAT32(4), FLOAT16(2), BFLOAT16(2), FLOAT64(8), INT64(8), INT32(4), INT16(2), INT8(1), UINT8(1), BOOL(1);

    private final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    /** Size of one element in bytes. */
    public int bytes() {
        return bytes;
    }

    /** True for the floating-point types. */
    public boolean isFloating() {
        return this == FLOAT32 || this == FLOAT16 || this == BFLOAT16 || this == FLOAT64;
    }
}
