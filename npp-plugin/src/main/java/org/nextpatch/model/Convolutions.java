package org.nextpatch.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * The one 2-D convolution the project's DJL models call, so that a workaround for the native library
 * lives in one place.
 *
 * <p>libtorch 2.5.1 bundles oneDNN 3.5.3, whose AVX2/AVX-512 kernel for the input gradient of a
 * convolution with an output-channel count that is not a multiple of the SIMD block (8 or 16) drops
 * whole kernel taps on some CPUs and often returns NaN from uninitialised memory (the forward pass
 * and the weight and bias gradients are right). While gradients are being recorded, such a
 * convolution therefore runs with its output channels padded by zero filters to a multiple of
 * {@value #CHANNEL_BLOCK} and the extra channels are sliced off: the values are the same, the
 * gradients flow through the slice and the padding to the real filters, and the faulty kernel is
 * never chosen. Inference (no gradient recording) runs the convolution exactly as before.
 *
 * <p>{@link #conv2d} serves models that hold their own weights ({@link VqModel}); {@link #block} is
 * the same as a DJL block ({@code FeatureNet}).
 */
public final class Convolutions {
    /** Output channels are padded to a multiple of this while recording gradients (AVX-512 block). */
    public static final int CHANNEL_BLOCK = 16;

    private Convolutions() {}

    /**
     * {@code conv2d(x, weight, bias)} with square stride and padding, no dilation, one group.
     *
     * @param x      (B, C, H, W)
     * @param weight (O, C, k, k)
     * @param bias   (O), or null
     */
    public static NDArray conv2d(NDArray x, NDArray weight, NDArray bias, int stride, int pad) {
        long out = weight.getShape().get(0);
        boolean pad16 = out % CHANNEL_BLOCK != 0 && JniUtils.isGradMode();
        if (!pad16) {
            return raw(x, weight, bias, stride, pad);
        }
        long extra = CHANNEL_BLOCK - out % CHANNEL_BLOCK;
        Shape ws = weight.getShape();
        NDArray zw = x.getManager().zeros(new Shape(extra, ws.get(1), ws.get(2), ws.get(3)), weight.getDataType());
        NDArray w = NDArrays.concat(new NDList(weight, zw), 0);
        NDArray b = null;
        if (bias != null) {
            b = NDArrays.concat(new NDList(bias, x.getManager().zeros(new Shape(extra), bias.getDataType())), 0);
        }
        return raw(x, w, b, stride, pad).get(new NDIndex(":, 0:" + out));
    }

    /** The library's convolution as it is, with no workaround (for {@code npp doctor}'s probe and tests). */
    public static NDArray raw(NDArray x, NDArray weight, NDArray bias, int stride, int pad) {
        return Conv2d.conv2d(x, weight, bias, new Shape(stride, stride), new Shape(pad, pad), new Shape(1, 1), 1)
                .singletonOrThrow();
    }

    /** A 3x3-style DJL convolution block (stride 1, square kernel and padding) that convolves through {@link #conv2d}. */
    public static Conv2d block(int filters, int kernel, int pad) {
        return new Block(Conv2d.builder().setKernelShape(new Shape(kernel, kernel)).optPadding(new Shape(pad, pad))
                .setFilters(filters), pad);
    }

    /** DJL's {@code Conv2d} with the same parameters and initialisation; only the forward call differs. */
    private static final class Block extends Conv2d {
        private final int pad;

        Block(Conv2d.Builder builder, int pad) {
            super(builder);
            this.pad = pad;
        }

        @Override
        protected NDList forwardInternal(ParameterStore store, NDList inputs, boolean training, PairList<String, Object> params) {
            NDArray x = inputs.singletonOrThrow();
            NDArray w = store.getValue(weight, x.getDevice(), training);
            NDArray b = includeBias ? store.getValue(bias, x.getDevice(), training) : null;
            return new NDList(Convolutions.conv2d(x, w, b, 1, pad));
        }
    }
}
