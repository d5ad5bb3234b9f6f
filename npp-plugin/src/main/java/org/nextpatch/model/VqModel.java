package org.nextpatch.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.norm.Dropout;
import ai.djl.nn.norm.LayerNorm;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.config.VqConfig;
import org.nextpatch.io.StateDicts;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.StateDictCheck;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;
import org.nextpatch.util.RandomStreams;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * The LlamaGen VQ tokenizer (spec section 7) in DJL: convolutional encoder, L2-normalised codebook
 * quantizer, convolutional decoder.
 *
 * <p>The weights live as plain NDArrays under their upstream state-dict names, and the forward pass is
 * written as functions over them (no DJL Blocks), so loading and exporting the upstream {@code model}
 * dictionary is a name-for-name copy. Every op is written {@code activation.op(weight)} so that its
 * result joins the activation's (per call) memory scope, not the model's; the NDArray-level methods
 * also make a few intermediates from the weights, so callers run them inside an {@link NDScope} (the
 * Tensor-level {@link #encode}/{@link #decode} do).
 *
 * <p>Training ({@code train-vq}) uses the same forward functions with {@link #setTraining} on: the
 * parameters then require gradients and dropout is applied.
 */
public final class VqModel implements AutoCloseable {
    static {
        org.nextpatch.model.EngineThreads.apply(); // before this class can start the DJL engine
    }

    private static final Logger LOG = LogManager.getLogger(VqModel.class);

    /** Length of the upstream {@code quantize.codebook_used} usage buffer (fixed upstream). */
    public static final int CODEBOOK_USED_LENGTH = 65536;
    /** Key of the usage buffer, accepted but not needed for inference. */
    public static final String CODEBOOK_USED = "quantize.codebook_used";

    private static final float NORM_EPS = 1e-6f;
    /** F.normalize's default epsilon. */
    private static final double L2_EPS = 1e-12;

    private final VqConfig config;
    private final NDManager manager;
    private final LinkedHashMap<String, NDArray> params;
    private boolean training;

    private VqModel(VqConfig config, NDManager manager, LinkedHashMap<String, NDArray> params) {
        this.config = config;
        this.manager = manager;
        this.params = params;
    }

    /** The configuration this model was built for. */
    public VqConfig config() {
        return config;
    }

    /** The device the weights live on. */
    public Device device() {
        return manager.getDevice();
    }

    // ------------------------------------------------------------------ state-dict layout

    /**
     * Every parameter of the architecture with its shape, in the order of the upstream module tree
     * (the order {@code torch.save} writes), excluding the {@code quantize.codebook_used} buffer.
     */
    public static LinkedHashMap<String, long[]> parameterShapes(VqConfig c) {
        LinkedHashMap<String, long[]> s = new LinkedHashMap<>();
        int levels = c.levels();
        // encoder
        conv(s, "encoder.conv_in", c.ch(), 3, 3);
        int blockIn = c.ch();
        for (int l = 0; l < levels; l++) {
            String p = "encoder.conv_blocks." + l;
            int blockOut = c.channels(l);
            for (int i = 0; i < c.numResBlocks(); i++) {
                res(s, p + ".res." + i, blockIn, blockOut);
                blockIn = blockOut;
            }
            if (l == levels - 1) {
                for (int i = 0; i < c.numResBlocks(); i++) {
                    attn(s, p + ".attn." + i, blockIn);
                }
            }
            if (l != levels - 1) {
                conv(s, p + ".downsample.conv", blockIn, blockIn, 3);
            }
        }
        res(s, "encoder.mid.0", blockIn, blockIn);
        attn(s, "encoder.mid.1", blockIn);
        res(s, "encoder.mid.2", blockIn, blockIn);
        norm(s, "encoder.norm_out", blockIn);
        conv(s, "encoder.conv_out", c.zChannels(), blockIn, 3);
        // decoder
        blockIn = c.channels(levels - 1);
        conv(s, "decoder.conv_in", blockIn, c.zChannels(), 3);
        res(s, "decoder.mid.0", blockIn, blockIn);
        attn(s, "decoder.mid.1", blockIn);
        res(s, "decoder.mid.2", blockIn, blockIn);
        for (int l = 0; l < levels; l++) {
            String p = "decoder.conv_blocks." + l;
            int blockOut = c.channels(levels - 1 - l);
            for (int i = 0; i < c.decoderResBlocks(); i++) {
                res(s, p + ".res." + i, blockIn, blockOut);
                blockIn = blockOut;
            }
            if (l == 0) {
                for (int i = 0; i < c.decoderResBlocks(); i++) {
                    attn(s, p + ".attn." + i, blockIn);
                }
            }
            if (l != levels - 1) {
                conv(s, p + ".upsample.conv", blockIn, blockIn, 3);
            }
        }
        norm(s, "decoder.norm_out", blockIn);
        conv(s, "decoder.conv_out", 3, blockIn, 3);
        s.put("quantize.embedding.weight", new long[]{c.codebookSize(), c.codebookEmbedDim()});
        conv(s, "quant_conv", c.codebookEmbedDim(), c.zChannels(), 1);
        conv(s, "post_quant_conv", c.zChannels(), c.codebookEmbedDim(), 1);
        return s;
    }

    private static void conv(Map<String, long[]> s, String p, int out, int in, int k) {
        s.put(p + ".weight", new long[]{out, in, k, k});
        s.put(p + ".bias", new long[]{out});
    }

    private static void norm(Map<String, long[]> s, String p, int c) {
        s.put(p + ".weight", new long[]{c});
        s.put(p + ".bias", new long[]{c});
    }

    private static void res(Map<String, long[]> s, String p, int in, int out) {
        norm(s, p + ".norm1", in);
        conv(s, p + ".conv1", out, in, 3);
        norm(s, p + ".norm2", out);
        conv(s, p + ".conv2", out, out, 3);
        if (in != out) {
            conv(s, p + ".nin_shortcut", out, in, 1);
        }
    }

    private static void attn(Map<String, long[]> s, String p, int c) {
        norm(s, p + ".norm", c);
        conv(s, p + ".q", c, c, 1);
        conv(s, p + ".k", c, c, 1);
        conv(s, p + ".v", c, c, 1);
        conv(s, p + ".proj_out", c, c, 1);
    }

    // ------------------------------------------------------------------ construction

    /**
     * Builds the model from an upstream {@code model} state dict, strictly: every parameter must be
     * present with its exact shape and nothing unknown may be left over ({@code quantize.codebook_used}
     * is accepted and ignored). Float16/bfloat16/float64 weights are converted to float32.
     *
     * @param source names the checkpoint in error messages
     */
    public static VqModel fromStateDict(VqConfig config, Map<String, Tensor> stateDict, Device device, String source) {
        LinkedHashMap<String, long[]> shapes = parameterShapes(config);
        StateDictCheck.of(shapes, stateDict, Set.of(CODEBOOK_USED))
                .throwIfBad(source + ": not a VQ checkpoint for " + config.toJson(), true, "(check --vq-config)");
        NDManager m = NDManager.newBaseManager(device);
        LinkedHashMap<String, NDArray> p = new LinkedHashMap<>();
        for (String k : shapes.keySet()) {
            Tensor t = stateDict.get(k);
            NDArray a = NdTensors.toNd(m, t.dtype() == DType.FLOAT32 ? t : Tensor.ofFloats(t.shape(), t.toFloatArray()));
            a.setName(k);
            p.put(k, a);
        }
        return new VqModel(config, m, p);
    }

    /** Checkpoint key under which {@code train-vq} records the tokenizer's configuration (upstream has none). */
    public static final String CONFIG_KEY = "vq_config";

    /**
     * Loads a tokenizer checkpoint in the upstream layout ({@code {"model": state_dict}}).
     *
     * @param file   the checkpoint
     * @param config the configuration ({@code --vq-config}); when null, the one recorded in the
     *               checkpoint by {@code train-vq}, else VQ-16
     */
    public static VqModel load(Path file, VqConfig config, Device device) {
        Object root = TorchCheckpoint.load(file);
        config = configFor(root, config);
        LinkedHashMap<String, Tensor> sd;
        try {
            sd = StateDicts.select(root, false);
        } catch (NppException e) {
            throw new NppException(file + ": " + e.getMessage(), e);
        }
        VqModel m = fromStateDict(config.withoutDropout(), sd, device, file.toString());
        LOG.info("loaded VQ tokenizer {} ({} parameters, codebook {} x {}, downsampling {})", file, m.parameterCount(),
                config.codebookSize(), config.codebookEmbedDim(), config.downsample());
        return m;
    }

    /**
     * The configuration of a tokenizer checkpoint: the one given ({@code --vq-config}), else the one
     * {@code train-vq} recorded in the checkpoint, else VQ-16 (upstream checkpoints record none).
     */
    public static VqConfig configFor(Object root, VqConfig given) {
        if (given != null) {
            return given;
        }
        VqConfig recorded = recordedConfig(root);
        return recorded != null ? recorded : VqConfig.vq16();
    }

    /** The configuration {@code train-vq} stored in a checkpoint tree, or null. */
    public static VqConfig recordedConfig(Object root) {
        if (root instanceof Map<?, ?> map && map.get(CONFIG_KEY) instanceof Map<?, ?> c) {
            return VqConfig.fromJson(new ObjectMapper().valueToTree(c));
        }
        return null;
    }

    /** The configuration as a plain map for a checkpoint's {@value #CONFIG_KEY} entry. */
    public static Map<String, Object> configAsMap(VqConfig c) {
        LinkedHashMap<String, Object> m = new LinkedHashMap<>();
        m.put("codebook_size", (long) c.codebookSize());
        m.put("codebook_embed_dim", (long) c.codebookEmbedDim());
        m.put("ch", (long) c.ch());
        List<Object> mult = new ArrayList<>();
        c.chMult().forEach(v -> mult.add((long) v));
        m.put("ch_mult", mult);
        m.put("z_channels", (long) c.zChannels());
        m.put("num_res_blocks", (long) c.numResBlocks());
        m.put("codebook_l2_norm", c.codebookL2Norm());
        m.put("dropout", c.dropout());
        return m;
    }

    /**
     * A freshly initialised model for training: convolution weights and biases uniform in
     * +-1/sqrt(fan_in) (PyTorch's default Conv2d init), GroupNorm gains 1 and shifts 0, codebook uniform
     * in +-1/K (upstream), all from one seeded generator so that runs are reproducible.
     */
    public static VqModel initialise(VqConfig config, long seed, Device device) {
        SplittableRandom rng = RandomStreams.stream(seed, RandomStreams.Purpose.VQ_INIT, 0);
        NDManager m = NDManager.newBaseManager(device);
        LinkedHashMap<String, NDArray> p = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : parameterShapes(config).entrySet()) {
            String k = e.getKey();
            long[] shape = e.getValue();
            int n = (int) Tensor.numel(shape);
            float[] v = new float[n];
            if (k.equals("quantize.embedding.weight")) {
                fillUniform(v, 1.0 / config.codebookSize(), rng);
            } else if (shape.length == 1 && isNormParam(k)) {
                Arrays.fill(v, k.endsWith(".weight") ? 1f : 0f);
            } else {
                long[] wShape = parameterShapes(config).get(k.substring(0, k.lastIndexOf('.')) + ".weight");
                long fanIn = wShape[1] * wShape[2] * wShape[3];
                fillUniform(v, 1.0 / Math.sqrt(fanIn), rng);
            }
            NDArray a = m.create(v, new Shape(shape));
            a.setName(k);
            p.put(k, a);
        }
        return new VqModel(config, m, p);
    }

    private static boolean isNormParam(String key) {
        String module = key.substring(0, key.lastIndexOf('.'));
        return module.endsWith(".norm1") || module.endsWith(".norm2") || module.endsWith(".norm")
                || module.endsWith("norm_out");
    }

    private static void fillUniform(float[] v, double bound, SplittableRandom rng) {
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
        }
    }

    /**
     * The weights as an upstream {@code model} state dict (float32, upstream key order), including a
     * {@code quantize.codebook_used} buffer of zeros.
     */
    public LinkedHashMap<String, Tensor> stateDict() {
        LinkedHashMap<String, Tensor> sd = new LinkedHashMap<>();
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            if (e.getKey().startsWith("quantize.")) {
                continue;
            }
            if (e.getKey().startsWith("quant_conv.")) {
                // upstream registers quantize before quant_conv / post_quant_conv
                sd.put(CODEBOOK_USED, Tensor.ofFloats(new long[]{CODEBOOK_USED_LENGTH}, new float[CODEBOOK_USED_LENGTH]));
                sd.put("quantize.embedding.weight", NdTensors.fromNd(params.get("quantize.embedding.weight")));
            }
            sd.put(e.getKey(), NdTensors.fromNd(e.getValue()));
        }
        return sd;
    }

    /**
     * A copy of this model with its weights in another floating type, e.g. float64 to check float32
     * gradients against (inputs must then be of the same type).
     */
    public VqModel withDataType(DataType type) {
        NDManager m = NDManager.newBaseManager(manager.getDevice());
        LinkedHashMap<String, NDArray> p = new LinkedHashMap<>();
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            NDArray a = e.getValue().toType(type, true);
            a.attach(m);
            a.setName(e.getKey());
            p.put(e.getKey(), a);
        }
        return new VqModel(config, m, p);
    }

    /** The manager that owns the weights (per-call managers are made under it). */
    public NDManager parametersManager() {
        return manager;
    }

    /** The parameters (upstream names), e.g. for an optimiser. */
    public Map<String, NDArray> parameters() {
        return Collections.unmodifiableMap(params);
    }

    /** Total number of parameters. */
    public long parameterCount() {
        long n = 0;
        for (NDArray a : params.values()) {
            n += a.size();
        }
        return n;
    }

    /**
     * Switches training mode: parameters require gradients and dropout (if configured) is applied.
     */
    public void setTraining(boolean on) {
        training = on;
        for (NDArray a : params.values()) {
            a.setRequiresGradient(on);
        }
    }

    // ------------------------------------------------------------------ public inference API

    /**
     * Encodes images to codes.
     *
     * @param images float32 NCHW in [-1, 1], H and W multiples of the downsampling factor
     * @return int64 [B, h*w], row-major over the (h, w) code grid
     */
    public Tensor encode(Tensor images) {
        long[] s = images.shape();
        int f = config.downsample();
        if (s.length != 4 || s[1] != 3 || s[2] % f != 0 || s[3] % f != 0 || s[0] < 1) {
            throw new NppException("images must be float NCHW with 3 channels and sides divisible by " + f
                    + ", got " + Arrays.toString(s));
        }
        try (Autograd.Scope noGrad = Autograd.noGrad(); NDManager sub = manager.newSubManager();
             NDScope scope = new NDScope()) {
            NDArray x = NdTensors.toNd(sub, images.dtype() == DType.FLOAT32 ? images
                    : Tensor.ofFloats(s, images.toFloatArray()));
            return NdTensors.fromNd(encodeIndices(x));
        }
    }

    /**
     * Decodes a square grid of codes.
     *
     * @param codes int64 [B, T] with T = g*g, row-major
     * @return float32 NCHW [B, 3, g*f, g*f], the decoder output before any clamp
     */
    public Tensor decode(Tensor codes) {
        long[] s = codes.shape();
        if (s.length != 2 || s[0] < 1) {
            throw new NppException("codes must be [B, T], got " + Arrays.toString(s));
        }
        int g = (int) Math.round(Math.sqrt(s[1]));
        if ((long) g * g != s[1]) {
            throw new NppException("codes have " + s[1] + " tokens per image, not a square grid");
        }
        return decode(codes, g, g);
    }

    /**
     * Decodes code grids of h rows and w columns.
     *
     * @param codes int64 [B, h*w], row-major
     * @return float32 NCHW [B, 3, h*f, w*f], the decoder output before any clamp
     */
    public Tensor decode(Tensor codes, int h, int w) {
        long[] s = codes.shape();
        if (s.length != 2 || s[0] < 1 || s[1] != (long) h * w) {
            throw new NppException("codes must be [B, " + h + "*" + w + "], got " + Arrays.toString(s));
        }
        long[] idx = codes.toLongArray();
        for (long v : idx) {
            if (v < 0 || v >= config.codebookSize()) {
                throw new NppException("code " + v + " is outside the codebook [0, " + config.codebookSize() + ")");
            }
        }
        try (Autograd.Scope noGrad = Autograd.noGrad(); NDManager sub = manager.newSubManager();
             NDScope scope = new NDScope()) {
            NDArray c = sub.create(idx, new Shape(s));
            return NdTensors.fromNd(decodeIndices(c, h, w));
        }
    }

    /** Encodes float32 NCHW images to int64 [B, h*w] codes (result in the input's scope). */
    public NDArray encodeIndices(NDArray images) {
        NDArray z = encodeLatent(images);
        long b = z.getShape().get(0);
        NDArray flat = flattenLatent(z);
        return nearestCodes(flat).reshape(b, -1);
    }

    /** Decodes int64 [B, h*w] codes on an h x w grid to float32 NCHW images. */
    public NDArray decodeIndices(NDArray codes, int h, int w) {
        long b = codes.getShape().get(0);
        NDArray emb = normalisedCodebook();
        NDArray zq = emb.get(new NDIndex("{}", codes.flatten()));
        zq = zq.reshape(b, h, w, config.codebookEmbedDim()).transpose(0, 3, 1, 2);
        return decodeLatent(zq);
    }

    // ------------------------------------------------------------------ building blocks used by training

    /** Encoder plus {@code quant_conv}: (B, 3, H, W) -> (B, e, h, w), not normalised. */
    public NDArray encodeLatent(NDArray x) {
        NDArray h = conv(x, "encoder.conv_in", 1, 1);
        int levels = config.levels();
        for (int l = 0; l < levels; l++) {
            String p = "encoder.conv_blocks." + l;
            for (int i = 0; i < config.numResBlocks(); i++) {
                h = resBlock(h, p + ".res." + i);
                if (l == levels - 1) {
                    h = attnBlock(h, p + ".attn." + i);
                }
            }
            if (l != levels - 1) {
                // pad right and bottom by one, then a 3x3 stride-2 convolution without padding
                h = conv(h.pad(new Shape(0, 1, 0, 1), 0), p + ".downsample.conv", 2, 0);
            }
        }
        h = resBlock(h, "encoder.mid.0");
        h = attnBlock(h, "encoder.mid.1");
        h = resBlock(h, "encoder.mid.2");
        h = swish(groupNorm(h, "encoder.norm_out"));
        h = conv(h, "encoder.conv_out", 1, 1);
        return conv(h, "quant_conv", 1, 0);
    }

    /**
     * The latent as (B*h*w, e) rows in row-major (b, h, w) order, L2-normalised when the configuration
     * says so.
     */
    public NDArray flattenLatent(NDArray z) {
        NDArray flat = z.transpose(0, 2, 3, 1).reshape(-1, config.codebookEmbedDim());
        return config.codebookL2Norm() ? l2Normalise(flat) : flat;
    }

    /** The codebook rows, L2-normalised when the configuration says so. */
    public NDArray normalisedCodebook() {
        NDArray e = params.get("quantize.embedding.weight");
        return config.codebookL2Norm() ? l2Normalise(e) : e;
    }

    /**
     * Nearest codebook row of each latent row by squared Euclidean distance
     * {@code |z|^2 + |e|^2 - 2 z.e} (as upstream), lowest index on ties.
     */
    public NDArray nearestCodes(NDArray flat) {
        NDArray emb = normalisedCodebook();
        NDArray d = flat.square().sum(new int[]{1}, true)
                .add(emb.square().sum(new int[]{1}).reshape(1, -1))
                .sub(flat.matMul(emb.transpose()).mul(2f));
        return d.argMin(1);
    }

    /** {@code post_quant_conv} plus the decoder: (B, e, h, w) -> (B, 3, H, W). */
    public NDArray decodeLatent(NDArray zq) {
        NDArray h = conv(zq, "post_quant_conv", 1, 0);
        h = conv(h, "decoder.conv_in", 1, 1);
        h = resBlock(h, "decoder.mid.0");
        h = attnBlock(h, "decoder.mid.1");
        h = resBlock(h, "decoder.mid.2");
        int levels = config.levels();
        for (int l = 0; l < levels; l++) {
            String p = "decoder.conv_blocks." + l;
            for (int i = 0; i < config.decoderResBlocks(); i++) {
                h = resBlock(h, p + ".res." + i);
                if (l == 0) {
                    h = attnBlock(h, p + ".attn." + i);
                }
            }
            if (l != levels - 1) {
                h = conv(upsampleNearest2(h), p + ".upsample.conv", 1, 1);
            }
        }
        h = swish(groupNorm(h, "decoder.norm_out"));
        return conv(h, "decoder.conv_out", 1, 1);
    }

    /** The training objective's parts (scalars) and the chosen codes of one batch. */
    public record TrainLoss(NDArray total, NDArray reconstruction, NDArray codebook, NDArray commitment,
                            NDArray codes, NDArray reconstructed) {}

    /**
     * The VQ training objective on a batch (upstream {@code VectorQuantizer.forward} plus an L2
     * reconstruction term): with z the (normalised) latent and z_q its nearest code vector,
     * {@code |x - D(z + sg(z_q - z))|^2 + |z_q - sg(z)|^2 + beta |sg(z_q) - z|^2}, each a mean;
     * the decoder input uses the straight-through estimator so that gradients reach the encoder.
     * Run inside an {@link NDScope} and a gradient collector, with {@link #setTraining} on.
     */
    public TrainLoss trainingLoss(NDArray x, float beta) {
        NDArray z = encodeLatent(x);
        Shape s = z.getShape();
        NDArray flat = flattenLatent(z);
        NDArray idx = nearestCodes(flat.stopGradient());
        NDArray zq = normalisedCodebook().get(new NDIndex("{}", idx));
        NDArray codebook = zq.sub(flat.stopGradient()).square().mean();
        // Scalars as arrays of the input's manager: DJL's mul(Number) frees its scalar at once while
        // autograd still reads it in backward (CPU use-after-free: NaN losses after a few steps).
        NDArray commitment = zq.stopGradient().sub(flat).square().mean().mul(x.getManager().create(beta));
        NDArray straightThrough = flat.add(zq.sub(flat).stopGradient());
        NDArray zqImage = straightThrough.reshape(s.get(0), s.get(2), s.get(3), s.get(1)).transpose(0, 3, 1, 2);
        NDArray rec = decodeLatent(zqImage);
        NDArray recLoss = rec.sub(x).square().mean();
        NDArray total = recLoss.add(codebook).add(commitment);
        return new TrainLoss(total, recLoss, codebook, commitment, idx, rec);
    }

    // ------------------------------------------------------------------ layers

    private NDArray param(String key) {
        NDArray a = params.get(key);
        if (a == null) {
            throw new IllegalStateException("no parameter " + key);
        }
        return a;
    }

    private NDArray conv(NDArray x, String prefix, int stride, int pad) {
        return Convolutions.conv2d(x, param(prefix + ".weight"), param(prefix + ".bias"), stride, pad);
    }

    /**
     * GroupNorm(32, C, eps 1e-6, affine): DJL has no group_norm op, so the (B, C, H, W) activation is
     * viewed as (B, 32, C/32*H*W) and layer-normalised over the last axis (same statistics: biased
     * variance per sample and group), then the per-channel affine is applied.
     */
    private NDArray groupNorm(NDArray x, String prefix) {
        Shape s = x.getShape();
        long b = s.get(0);
        long c = s.get(1);
        NDArray g = x.reshape(b, VqConfig.NORM_GROUPS, -1);
        long n = g.getShape().get(2);
        NDManager m = x.getManager();
        NDArray normed = LayerNorm.layerNorm(g, new Shape(n), m.ones(new Shape(n), x.getDataType()), m.zeros(new Shape(n), x.getDataType()), NORM_EPS)
                .singletonOrThrow();
        NDArray gamma = param(prefix + ".weight").reshape(1, c, 1, 1);
        NDArray beta = param(prefix + ".bias").reshape(1, c, 1, 1);
        return normed.reshape(s).mul(gamma).add(beta);
    }

    private static NDArray swish(NDArray x) {
        return x.mul(x.getNDArrayInternal().sigmoid());
    }

    private NDArray resBlock(NDArray x, String p) {
        NDArray h = swish(groupNorm(x, p + ".norm1"));
        h = conv(h, p + ".conv1", 1, 1);
        h = swish(groupNorm(h, p + ".norm2"));
        if (training && config.dropout() > 0) {
            h = Dropout.dropout(h, (float) config.dropout(), true).singletonOrThrow();
        }
        h = conv(h, p + ".conv2", 1, 1);
        NDArray skip = params.containsKey(p + ".nin_shortcut.weight") ? conv(x, p + ".nin_shortcut", 1, 0) : x;
        return skip.add(h);
    }

    /** Single-head self-attention over the H*W positions, scale C^-0.5. */
    private NDArray attnBlock(NDArray x, String p) {
        Shape s = x.getShape();
        long b = s.get(0);
        long c = s.get(1);
        long hw = s.get(2) * s.get(3);
        NDArray h = groupNorm(x, p + ".norm");
        NDArray q = conv(h, p + ".q", 1, 0).reshape(b, c, hw).transpose(0, 2, 1); // (B, HW, C)
        NDArray k = conv(h, p + ".k", 1, 0).reshape(b, c, hw);                    // (B, C, HW)
        NDArray v = conv(h, p + ".v", 1, 0).reshape(b, c, hw);                    // (B, C, HW)
        NDArray w = q.batchMatMul(k).mul(x.getManager().create((float) Math.pow(c, -0.5))).softmax(2); // (B, HWq, HWk); scalar as array: see trainingLoss
        NDArray out = v.batchMatMul(w.transpose(0, 2, 1)).reshape(s);             // (B, C, HWq)
        return x.add(conv(out, p + ".proj_out", 1, 0));
    }

    /** Nearest-neighbour x2 upsampling: every pixel becomes a 2x2 block. */
    private static NDArray upsampleNearest2(NDArray x) {
        Shape s = x.getShape();
        long b = s.get(0);
        long c = s.get(1);
        long h = s.get(2);
        long w = s.get(3);
        return x.reshape(b, c, h, 1, w, 1).broadcast(b, c, h, 2, w, 2).reshape(b, c, 2 * h, 2 * w);
    }

    /** F.normalize(x, p=2, dim=-1): x / max(|x|, 1e-12). */
    private static NDArray l2Normalise(NDArray x) {
        return x.div(x.norm(new int[]{-1}, true).maximum(x.getManager().create(L2_EPS))); // scalar as array: see trainingLoss
    }

    @Override
    public void close() {
        manager.close();
    }
}
