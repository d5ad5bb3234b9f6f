package org.nextpatch.tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Counts NaN and infinite elements of floating-point data (integer types have none). */
public final class NonFinite {
    private NonFinite() {}

    /**
     * Non-finite elements among the whole elements in {@code data}'s remaining bytes, read in
     * {@code order}; the buffer's position is not changed.
     */
    public static long count(ByteBuffer data, DType dtype, ByteOrder order) {
        ByteBuffer b = data.duplicate().order(order);
        long n = 0;
        switch (dtype) {
            case FLOAT32 -> {
                java.nio.IntBuffer ib = b.asIntBuffer();
                for (int i = 0, e = ib.limit(); i < e; i++) {
                    if ((ib.get(i) & 0x7f800000) == 0x7f800000) {
                        n++;
                    }
                }
            }
            case FLOAT64 -> {
                java.nio.LongBuffer lb = b.asLongBuffer();
                for (int i = 0, e = lb.limit(); i < e; i++) {
                    if ((lb.get(i) & 0x7ff0000000000000L) == 0x7ff0000000000000L) {
                        n++;
                    }
                }
            }
            case FLOAT16, BFLOAT16 -> {
                int mask = dtype == DType.FLOAT16 ? 0x7c00 : 0x7f80;
                java.nio.ShortBuffer sb = b.asShortBuffer();
                for (int i = 0, e = sb.limit(); i < e; i++) {
                    if ((sb.get(i) & mask) == mask) {
                        n++;
                    }
                }
            }
            default -> {
                // integers and booleans are always finite
            }
        }
        return n;
    }

    /** Non-finite elements of a tensor. */
    public static long count(Tensor t) {
        return count(t.data(), t.dtype(), ByteOrder.LITTLE_ENDIAN);
    }
}
