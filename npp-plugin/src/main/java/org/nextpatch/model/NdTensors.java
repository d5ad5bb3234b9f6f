package org.nextpatch.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Conversions between engine-free {@link Tensor}s and DJL {@link NDArray}s. */
public final class NdTensors {
    private NdTensors() {}

    /** Copies a tensor into a new NDArray of the same type (float16/bfloat16/float64 become float32). */
    public static NDArray toNd(NDManager manager, Tensor t) {
        Shape shape = new Shape(t.shape());
        return switch (t.dtype()) {
            case FLOAT32 -> manager.create(t.data().asFloatBuffer(), shape);
            case FLOAT16, BFLOAT16, FLOAT64 -> manager.create(t.toFloatArray(), shape);
            case INT64 -> manager.create(t.data().asLongBuffer(), shape);
            case INT32 -> manager.create(t.data().asIntBuffer(), shape);
            case INT8 -> manager.create(t.toByteArray(), shape).toType(DataType.INT8, false);
            case UINT8 -> manager.create(ByteBuffer.wrap(t.toByteArray()), shape, DataType.UINT8);
            case BOOL -> manager.create(ByteBuffer.wrap(t.toByteArray()), shape, DataType.BOOLEAN);
            case INT16 -> manager.create(t.toLongArray(), shape);
        };
    }

    /** Copies an NDArray (float32, float16, int64, int32, uint8, int8, bool) into a tensor. */
    public static Tensor fromNd(NDArray a) {
        long[] shape = a.getShape().getShape();
        DType dtype = switch (a.getDataType()) {
            case FLOAT32 -> DType.FLOAT32;
            case FLOAT16 -> DType.FLOAT16;
            case FLOAT64 -> DType.FLOAT64;
            case INT64 -> DType.INT64;
            case INT32 -> DType.INT32;
            case INT8 -> DType.INT8;
            case UINT8 -> DType.UINT8;
            case BOOLEAN -> DType.BOOL;
            default -> throw new NppException("cannot convert an NDArray of type " + a.getDataType());
        };
        ByteBuffer src = a.toByteBuffer();
        ByteBuffer copy = ByteBuffer.allocate(src.remaining()).order(ByteOrder.LITTLE_ENDIAN);
        copy.put(src.order(ByteOrder.nativeOrder()));
        copy.flip();
        return new Tensor(dtype, shape, copy);
    }
}
