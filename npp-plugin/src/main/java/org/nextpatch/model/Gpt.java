package org.nextpatch.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import org.nextpatch.config.GptConfig;
import org.nextpatch.io.StateDicts;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.npp.NppLoss;
import org.nextpatch.npp.PatchGrouping;
import org.nextpatch.rope.Rope2d;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The class-conditional LlamaGen transformer (spec 6) in DJL, with Next Patch Prediction inputs
 * (spec 2-4) and a key/value cache for generation.
 * <p>
 * Parameters are plain NDArrays named by their upstream state-dict keys ({@link #parameters()}), all
 * float32 and requiring gradients, so a training loop can run a {@code GradientCollector} over
 * {@link #loss} and update them with its own optimizer. Dropout and class dropout use torch's
 * generator: seed it with {@code Engine.getInstance().setRandomSeed(seed)}.
 * <p>
 * Memory: every intermediate result joins the scope of the call's inputs (tokens, labels); create them
 * in a sub-manager of {@link #manager()} per step and close it afterwards.
 */
public final class Gpt implements AutoCloseable {
    static {
        org.nextpatch.model.EngineThreads.apply(); // before this class can start the DJL engine
    }

    private final GptConfig config;
    private final NDManager manager;
    private final LinkedHashMap<String, NDArray> params = new LinkedHashMap<>();
    private final NDArray tokEmbeddings;
    private final NDArray clsTable;
    private final List<Block> layers = new ArrayList<>();
    private final RmsNorm norm;
    private final NDArray output;
    private final Map<Integer, RopeTable> ropeTables = new HashMap<>();
    private final Map<Integer, NDArray> masks = new HashMap<>();
    private final DataType dtype;

    /**
     * Builds a model from a state dict (checked strictly against the configuration).
     *
     * @param source name of where the weights came from (for error messages)
     */
    public Gpt(GptConfig config, Map<String, Tensor> stateDict, Device device, String source) {
        this(config, stateDict, device, source, DataType.FLOAT32);
    }

    /**
     * Builds a model whose parameters have the given floating type: FLOAT32 (the normal case) or
     * FLOAT64 (exact gradient checks; every other computation follows the parameters' type).
     */
    public Gpt(GptConfig config, Map<String, Tensor> stateDict, Device device, String source, DataType dtype) {
        GptWeights.check(config, stateDict, source);
        if (dtype != DataType.FLOAT32 && dtype != DataType.FLOAT64) {
            throw new IllegalArgumentException("GPT parameters must be FLOAT32 or FLOAT64, got " + dtype);
        }
        this.config = config;
        this.dtype = dtype;
        this.manager = NDManager.newBaseManager(device);
        for (String key : GptWeights.expectedShapes(config).keySet()) {
            NDArray a = toParam(stateDict.get(key));
            a.setName(key);
            a.setRequiresGradient(true);
            params.put(key, a);
        }
        // Scalar operands as model-owned 0-d arrays: DJL closes a Number operand right after the op,
        // but autograd may read it again in backward (seen as sporadic NaN gradients).
        NDArray eps = manager.create(config.normEps()).toType(dtype, false);
        NDArray minusHalf = manager.create(-0.5).toType(dtype, false);
        NDArray attnScale = manager.create(1.0 / Math.sqrt(config.headDim())).toType(dtype, false);
        tokEmbeddings = params.get("tok_embeddings.weight");
        clsTable = params.get("cls_embedding.embedding_table.weight");
        for (int i = 0; i < config.nLayer(); i++) {
            String p = "layers." + i + ".";
            layers.add(new Block(i,
                    new RmsNorm(params.get(p + "attention_norm.weight"), eps, minusHalf),
                    new Attention(params.get(p + "attention.wqkv.weight"), params.get(p + "attention.wo.weight"),
                            config.dim(), config.nHead(), config.attnDropoutP(), config.residDropoutP(), attnScale),
                    new RmsNorm(params.get(p + "ffn_norm.weight"), eps, minusHalf),
                    new FeedForward(params.get(p + "feed_forward.w1.weight"), params.get(p + "feed_forward.w2.weight"),
                            params.get(p + "feed_forward.w3.weight"), config.ffnDropoutP())));
        }
        norm = new RmsNorm(params.get("norm.weight"), eps, minusHalf);
        output = params.get("output.weight");
    }

    private NDArray toParam(Tensor t) {
        Shape shape = new Shape(t.shape());
        if (dtype == DataType.FLOAT64) {
            return manager.create(t.toDoubleArray(), shape);
        }
        return t.dtype() == org.nextpatch.tensor.DType.FLOAT32 ? manager.create(t.data().asFloatBuffer(), shape)
                : manager.create(t.toFloatArray(), shape);
    }

    /**
     * Loads a LlamaGen/NPP checkpoint: the {@code model} weights by default (or {@code module},
     * {@code state_dict}, a raw dict), the {@code ema} weights with {@code useEma}; {@code module.} and
     * {@code _orig_mod.} prefixes stripped; every key checked against the configuration.
     */
    public static Gpt fromCheckpoint(Path checkpoint, GptConfig config, boolean useEma, Device device) {
        Map<String, Tensor> sd = StateDicts.select(TorchCheckpoint.load(checkpoint), useEma);
        return new Gpt(config, sd, device, checkpoint + (useEma ? " (ema)" : ""));
    }

    /** A freshly initialised model (upstream init, see {@link GptWeights#init}). */
    public static Gpt initialized(GptConfig config, long seed, Device device) {
        return new Gpt(config, GptWeights.init(config, seed), device, "initialisation");
    }

    public GptConfig config() {
        return config;
    }

    /** The manager that owns the parameters; create per-step sub-managers from it. */
    public NDManager manager() {
        return manager;
    }

    public Device device() {
        return manager.getDevice();
    }

    /** The parameters by upstream state-dict key, in module order (read-only view). */
    public Map<String, NDArray> parameters() {
        return Collections.unmodifiableMap(params);
    }

    /** Sets every parameter's gradient to zero (gradients accumulate until zeroed). */
    public void zeroGradients() {
        for (NDArray p : params.values()) {
            JniUtils.zeroGrad((PtNDArray) p);
        }
    }

    /** The parameters' floating type (FLOAT32 unless built for gradient checks). */
    public DataType dataType() {
        return dtype;
    }

    /** A copy of the weights as an upstream state dict (float32, or float64 for a FLOAT64 model). */
    public LinkedHashMap<String, Tensor> stateDict() {
        LinkedHashMap<String, Tensor> sd = new LinkedHashMap<>();
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            sd.put(e.getKey(), NdTensors.fromNd(e.getValue()));
        }
        return sd;
    }

    /**
     * Overwrites the weights in place (the parameter arrays keep their identity, so an optimizer's
     * references stay valid). Checked strictly.
     */
    public void loadStateDict(Map<String, Tensor> stateDict, String source) {
        GptWeights.check(config, stateDict, source);
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            Tensor t = stateDict.get(e.getKey());
            if (dtype == DataType.FLOAT64) {
                e.getValue().set(t.toDoubleArray());
            } else {
                e.getValue().set(t.dtype() == org.nextpatch.tensor.DType.FLOAT32 ? t.data().asFloatBuffer()
                        : java.nio.FloatBuffer.wrap(t.toFloatArray()));
            }
        }
    }

    /** The rotary table of a {@code side x side} grid (built once per side, spec 3). */
    public RopeTable ropeTable(int side) {
        return ropeTables.computeIfAbsent(side, s ->
                new RopeTable(manager, Rope2d.build(s, config.headDim(), config.ropeBase(), config.clsTokenNum())));
    }

    /** Additive causal mask {@code [n, n]}: 0 on and below the diagonal, a large negative above. */
    private NDArray causalMask(int n) {
        return masks.computeIfAbsent(n, len -> {
            NDArray rows = manager.arange(len).reshape(len, 1);
            NDArray cols = manager.arange(len).reshape(1, len);
            // -1e30 instead of -inf: exp underflows to exactly 0 all the same, and no inf - inf NaN can arise.
            NDArray m = cols.gt(rows).toType(DataType.FLOAT32, false).mul(-1e30f);
            rows.close();
            cols.close();
            return m;
        });
    }

    /** Class embeddings {@code [B, 1, d]}; in training, labels are replaced by the null class with the class-dropout probability. */
    private NDArray classEmbeddings(NDArray labels, boolean training) {
        NDArray l = int64(labels);
        if (training && config.classDropoutProb() > 0) {
            NDManager m = l.getManager();
            NDArray drop = m.randomUniform(0f, 1f, l.getShape()).lt((float) config.classDropoutProb());
            l = NDArrays.where(drop, m.full(l.getShape(), (float) config.nullClass(), DataType.INT64), l);
        }
        return Embedding.embedding(l, clsTable, ai.djl.ndarray.types.SparseFormat.DENSE).singletonOrThrow().expandDims(1);
    }

    private static NDArray int64(NDArray a) {
        return a.getDataType() == DataType.INT64 ? a : a.toType(DataType.INT64, false);
    }

    private void checkInputs(NDArray tokens, NDArray labels) {
        Shape ts = tokens.getShape();
        if (ts.dimension() != 2 || ts.get(1) != config.blockSize()) {
            throw new NppException("tokens must have shape [B, " + config.blockSize() + "], got " + ts);
        }
        if (labels.getShape().dimension() != 1 || labels.getShape().get(0) != ts.get(0)) {
            throw new NppException("labels must have shape [" + ts.get(0) + "], got " + labels.getShape());
        }
    }

    /**
     * Teacher-forced logits of an NPP stage: input {@code [class, patch_0 .. patch_{L-2}]} (mean token
     * embeddings per patch, spec 2) with the stage's own {@code Gp x Gp} rotary table (spec 3).
     *
     * @param tokens    {@code [B, T]} int64 image tokens in raster order
     * @param labels    {@code [B]} int64 class labels (the null class allowed)
     * @param patchSide p, a divisor of the grid side; 1 = plain next-token prediction
     * @param training  apply class dropout and dropouts
     * @return {@code [B, L, V]} float32; position {@code k} predicts patch {@code k}
     */
    public NDArray logits(NDArray tokens, NDArray labels, int patchSide, boolean training) {
        checkInputs(tokens, labels);
        int g = config.gridSide();
        int gp = PatchGrouping.patchGridSide(g, patchSide);
        int len = gp * gp;
        NDArray emb = Embedding.embedding(int64(tokens), tokEmbeddings, ai.djl.ndarray.types.SparseFormat.DENSE).singletonOrThrow();
        NDArray patches = PatchGrouping.patchEmbeddings(emb, g, patchSide);
        // The last patch is only a target, never an input.
        NDArray inputs = patches.get(":, :{}", len - 1);
        NDArray h = classEmbeddings(labels, training).concat(inputs, 1);
        if (training && config.tokenDropoutP() > 0) {
            h = Dropout.dropout(h, (float) config.tokenDropoutP(), true).singletonOrThrow();
        }
        RopeTable rope = ropeTable(gp);
        NDArray mask = causalMask(len);
        for (Block b : layers) {
            h = b.forward(h, rope, 0, mask, null, training);
        }
        return Linear.linear(norm.forward(h), output).singletonOrThrow();
    }

    /**
     * The NPP loss of a batch (spec 4): soft-label cross-entropy over the patches of side p; p = 1 is
     * plain next-token cross-entropy. A scalar float32 NDArray.
     */
    public NDArray loss(NDArray tokens, NDArray labels, int patchSide, boolean training) {
        NDArray logits = logits(tokens, labels, patchSide, training);
        return NppLoss.loss(logits, PatchGrouping.patchTargets(tokens, config.gridSide(), patchSide));
    }

    /** Per-example NPP loss {@code [B]} without dropout (scoring). */
    public NDArray perExampleLoss(NDArray tokens, NDArray labels, int patchSide) {
        NDArray logits = logits(tokens, labels, patchSide, false);
        return NppLoss.perExample(logits, PatchGrouping.patchTargets(tokens, config.gridSide(), patchSide));
    }

    /** An empty key/value cache for {@code rows} sequences of up to {@code 1 + T} positions. */
    public KvCache newCache(long rows) {
        return new KvCache(manager, config.nLayer(), rows, config.nHead(), config.clsTokenNum() + config.blockSize(),
                config.headDim(), dtype);
    }

    /**
     * Prefill (eval mode): runs the class position and fills the cache's position 0.
     *
     * @param labels {@code [R]} int64 (conditional rows then null-class rows under guidance)
     * @return {@code [R, V]} float32 logits for token 0
     */
    public NDArray prefill(NDArray labels, KvCache cache) {
        NDArray h = classEmbeddings(labels, false);
        return runCached(h, 0, cache);
    }

    /**
     * One decode step (eval mode): feeds {@code tokens [R]} at sequence position {@code pos}
     * (image token {@code pos - 1}) and returns the {@code [R, V]} logits of the next token.
     */
    public NDArray decode(NDArray tokens, int pos, KvCache cache) {
        NDArray h = Embedding.embedding(int64(tokens).reshape(-1, 1), tokEmbeddings, ai.djl.ndarray.types.SparseFormat.DENSE)
                .singletonOrThrow();
        return runCached(h, pos, cache);
    }

    private NDArray runCached(NDArray h, int pos, KvCache cache) {
        RopeTable rope = ropeTable(config.gridSide());
        for (Block b : layers) {
            // One new position attends to every cached one: no mask needed.
            h = b.forward(h, rope, pos, null, cache, false);
        }
        NDArray logits = Linear.linear(norm.forward(h), output).singletonOrThrow();
        return logits.reshape(logits.getShape().get(0), config.vocabSize());
    }

    @Override
    public void close() {
        manager.close();
    }
}
