package org.nextpatch.tribuo;

import org.nextpatch.config.VqConfig;
import org.nextpatch.onnx.WeightQuantization;
import org.nextpatch.tensor.Tensor;

import java.util.Map;

/**
 * How {@link NppModel#exportOnnxGraphs(java.nio.file.Path, OnnxGraphOptions)} writes its folder, as
 * {@code npp export-onnx}'s flags do: float16 projections ({@code --fp16}) or weight-only quantized
 * matrices ({@code --quantize}), the tokenizer's decoder beside the GPT graphs ({@code --vq-ckpt}),
 * and whether a folder holding something else may be replaced ({@code --overwrite}).
 * <pre>{@code
 * model.exportOnnxGraphs(dir, OnnxGraphOptions.defaults().withQuantization(WeightQuantization.INT4)
 *         .withDecoder(vqConfig, vqWeights));
 * }</pre>
 *
 * @param fp16         store the projection weights as float16
 * @param quantization weight-only quantization of the projection and output-head matrices, or null
 * @param vq           the tokenizer's configuration, or null for no {@code vq-decoder.onnx}
 * @param vqWeights    the tokenizer's state dict (with {@code vq})
 * @param overwrite    replace whatever the folder holds; false: only a new or empty folder, or an
 *                     earlier export of the same weights
 */
public record OnnxGraphOptions(boolean fp16, WeightQuantization quantization, VqConfig vq,
                               Map<String, Tensor> vqWeights, boolean overwrite) {

    /** Checks that the options go together. */
    public OnnxGraphOptions {
        if (fp16 && quantization != null) {
            throw new IllegalArgumentException("fp16 and quantization exclude each other: the quantized matrices "
                    + "replace the projections fp16 would store in half precision");
        }
        if ((vq == null) != (vqWeights == null)) {
            throw new IllegalArgumentException("the decoder needs both the tokenizer's configuration and its weights");
        }
    }

    /** Float32 graphs, no decoder, a new or empty folder (or this model's earlier export). */
    public static OnnxGraphOptions defaults() {
        return new OnnxGraphOptions(false, null, null, null, false);
    }

    /** These options with float16 projections on or off. */
    public OnnxGraphOptions withFp16(boolean on) {
        return new OnnxGraphOptions(on, quantization, vq, vqWeights, overwrite);
    }

    /** These options with quantized matrices ({@code WeightQuantization.INT8} or {@code INT4}; null: float). */
    public OnnxGraphOptions withQuantization(WeightQuantization q) {
        return new OnnxGraphOptions(fp16, q, vq, vqWeights, overwrite);
    }

    /** These options with the tokenizer's decoder in the same folder and manifest. */
    public OnnxGraphOptions withDecoder(VqConfig config, Map<String, Tensor> weights) {
        return new OnnxGraphOptions(fp16, quantization, config, weights, overwrite);
    }

    /** These options allowing (or not) a folder that holds something else to be replaced. */
    public OnnxGraphOptions withOverwrite(boolean on) {
        return new OnnxGraphOptions(fp16, quantization, vq, vqWeights, on);
    }
}
