package org.nextpatch.onnx;

import org.nextpatch.config.VqConfig;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Exports the decoder half of a LlamaGen VQ tokenizer (spec 7) as an ONNX graph: codes to images.
 * <p>
 * Input {@code codes [B, h*w]} int64 (row-major over the h x w code grid, h = w). Outputs
 * {@code images [B, 3, H, W]} float32 (the decoder output, roughly [-1, 1], before any clamp) and
 * {@code pixels [B, H, W, 3]} uint8 = {@code uint8(clamp(127.5 x + 128, 0, 255))} (truncating, spec
 * 6.5). The codebook is L2-normalised at export when the configuration says so. GroupNorm (32
 * groups, eps 1e-6) is written as InstanceNormalization over a (B, 32, -1) view plus the per-channel
 * affine, because GroupNormalization only exists from opset 18.
 */
public final class VqDecoderOnnxExporter {
    private static final float GROUP_NORM_EPS = 1e-6f;
    private static final double L2_EPS = 1e-12;

    private final VqConfig cfg;
    private final Map<String, Tensor> weights;

    /**
     * @param cfg     tokenizer configuration
     * @param weights the VQ state dict (upstream names; only decoder, post_quant_conv and the codebook are used)
     */
    public VqDecoderOnnxExporter(VqConfig cfg, Map<String, Tensor> weights) {
        this.cfg = cfg;
        this.weights = weights;
        Tensor emb = need("quantize.embedding.weight");
        if (!Arrays.equals(emb.shape(), new long[]{cfg.codebookSize(), cfg.codebookEmbedDim()})) {
            throw new NppException("VQ weight 'quantize.embedding.weight' has shape " + Arrays.toString(emb.shape())
                    + ", the configuration needs [" + cfg.codebookSize() + ", " + cfg.codebookEmbedDim() + "]");
        }
    }

    private Tensor need(String key) {
        Tensor t = weights.get(key);
        if (t == null) {
            throw new NppException("VQ weights lack '" + key + "' (is this a VQ tokenizer checkpoint of this configuration?)");
        }
        return t;
    }

    private String w(OnnxGraphBuilder g, String key) {
        return g.initializer(key, Tensor.ofFloats(need(key).shape(), need(key).toFloatArray()));
    }

    private String conv(OnnxGraphBuilder g, String x, String prefix, int pad) {
        return g.conv(x, w(g, prefix + ".weight"), w(g, prefix + ".bias"), 1, pad);
    }

    private String groupNorm(OnnxGraphBuilder g, String x, String prefix) {
        int c = Math.toIntExact(need(prefix + ".weight").shape()[0]);
        int groups = VqConfig.NORM_GROUPS;
        float[] ones = new float[groups];
        Arrays.fill(ones, 1f);
        // InstanceNormalization's own scale/bias are identity; the per-channel affine comes after.
        String shape = g.shape(x);
        String grouped = g.reshape(x, 0, groups, -1);
        String normed = g.op("InstanceNormalization",
                java.util.List.of(grouped, g.constF(ones), g.constF(new float[groups])),
                OnnxGraphBuilder.Attr.f("epsilon", GROUP_NORM_EPS));
        String back = g.reshapeTo(normed, shape);
        String gamma = g.initializer(prefix + ".weight", Tensor.ofFloats(new long[]{c, 1, 1}, need(prefix + ".weight").toFloatArray()));
        String beta = g.initializer(prefix + ".bias", Tensor.ofFloats(new long[]{c, 1, 1}, need(prefix + ".bias").toFloatArray()));
        return g.add(g.mul(back, gamma), beta);
    }

    private String resBlock(OnnxGraphBuilder g, String x, String p) {
        String h = conv(g, g.silu(groupNorm(g, x, p + ".norm1")), p + ".conv1", 1);
        h = conv(g, g.silu(groupNorm(g, h, p + ".norm2")), p + ".conv2", 1);
        String skip = weights.containsKey(p + ".nin_shortcut.weight") ? conv(g, x, p + ".nin_shortcut", 0) : x;
        return g.add(skip, h);
    }

    /** Single-head attention over H*W positions with scale C^-0.5, then proj_out and the residual. */
    private String attnBlock(OnnxGraphBuilder g, String x, String p) {
        long c = need(p + ".q.weight").shape()[0];
        String h = groupNorm(g, x, p + ".norm");
        String q = g.transpose(g.reshape(conv(g, h, p + ".q", 0), 0, c, -1), 0, 2, 1); // [B, HW, C]
        String k = g.reshape(conv(g, h, p + ".k", 0), 0, c, -1);                       // [B, C, HW]
        String v = g.reshape(conv(g, h, p + ".v", 0), 0, c, -1);                       // [B, C, HW]
        String att = g.softmax(g.mul(g.matMul(q, k), g.scalarF((float) Math.pow(c, -0.5))), 2); // [B, HWq, HWk]
        String out = g.matMul(v, g.transpose(att, 0, 2, 1));                           // [B, C, HWq]
        return g.add(x, conv(g, g.reshapeTo(out, g.shape(x)), p + ".proj_out", 0));
    }

    /** Builds the decoder graph. */
    public OnnxGraphBuilder build() {
        OnnxGraphBuilder g = new OnnxGraphBuilder("vq_decoder");
        String codes = g.input("codes", DType.INT64, "batch", "codes");
        int e = cfg.codebookEmbedDim();
        float[] book = need("quantize.embedding.weight").toFloatArray();
        if (cfg.codebookL2Norm()) {
            for (int r = 0; r < cfg.codebookSize(); r++) {
                double n = 0;
                for (int j = 0; j < e; j++) n += (double) book[r * e + j] * book[r * e + j];
                float div = (float) Math.max(Math.sqrt(n), L2_EPS);
                for (int j = 0; j < e; j++) book[r * e + j] /= div;
            }
        }
        String table = g.initializer("quantize.embedding.normalised", book, cfg.codebookSize(), e);
        // side = sqrt(h*w), computed in the graph so one export serves any square code grid.
        String n = g.slice(g.shape(codes), new long[]{1}, new long[]{2}, new long[]{0});
        String side = g.cast(g.sqrt(g.cast(n, DType.FLOAT32)), DType.INT64); // exact for squares up to 2^24
        String zq = g.gather(table, codes, 0);                                // [B, hw, e]
        String grid = g.reshapeTo(zq, g.concat(0, g.constI64(0), side, side, g.constI64(e)));
        String h = g.transpose(grid, 0, 3, 1, 2);                             // [B, e, h, w]
        h = conv(g, h, "post_quant_conv", 0);
        h = conv(g, h, "decoder.conv_in", 1);
        h = resBlock(g, h, "decoder.mid.0");
        h = attnBlock(g, h, "decoder.mid.1");
        h = resBlock(g, h, "decoder.mid.2");
        int levels = cfg.levels();
        for (int l = 0; l < levels; l++) {
            String p = "decoder.conv_blocks." + l;
            for (int i = 0; i < cfg.decoderResBlocks(); i++) {
                h = resBlock(g, h, p + ".res." + i);
                if (weights.containsKey(p + ".attn." + i + ".norm.weight")) {
                    h = attnBlock(g, h, p + ".attn." + i);
                }
            }
            if (l != levels - 1) {
                h = conv(g, g.upsampleNearest(h, 2f), p + ".upsample.conv", 1);
            }
        }
        h = conv(g, g.silu(groupNorm(g, h, "decoder.norm_out")), "decoder.conv_out", 1);
        g.output(h, "images", DType.FLOAT32, "batch", 3, "height", "width");
        String scaled = g.add(g.mul(h, g.scalarF(127.5f)), g.scalarF(128f));
        String clipped = g.op("Clip", scaled, g.scalarF(0f), g.scalarF(255f));
        g.output(g.cast(g.transpose(clipped, 0, 2, 3, 1), DType.UINT8), "pixels", DType.UINT8, "batch", "height", "width", 3);
        return g;
    }

    /** Metadata written into the graph. */
    public Map<String, String> metadata() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("nextpatch.graph", "vq-decoder");
        m.put("nextpatch.vq_config", cfg.toJson().toString());
        return m;
    }

    /** Writes {@code vq-decoder.onnx} into {@code dir}. */
    public Path export(Path dir) {
        Path f = dir.resolve("vq-decoder.onnx");
        OnnxGraphBuilder g = build();
        g.save(f, metadata(), GptOnnxExporter.useExternal(g, null));
        return f;
    }
}
