package org.nextpatch.onnx;

import org.nextpatch.config.GptConfig;
import org.nextpatch.rope.Rope2d;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Half;
import org.nextpatch.tensor.StateDictCheck;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Exports a class-conditional LlamaGen GPT (spec 6) to ONNX graphs for decoding.
 * <ul>
 *   <li>{@link #buildPrefill prefill}: {@code class_ids [B]} -> {@code logits [B, 1, V]},
 *       {@code present.{i}.key|value [B, H, 1, hd]} (the class position, whose RoPE row is zero).</li>
 *   <li>{@link #buildStep step}: {@code input_ids [B, S]}, {@code position_ids [B, S]} (sequence
 *       indices: image token t sits at index t + 1), {@code past_key_values.{i}.key|value [B, H, P, hd]}
 *       -> {@code logits [B, S, V]}, {@code present.{i}.key|value [B, H, P + S, hd]}; causal over
 *       past and new positions.</li>
 *   <li>{@link #buildGenerate generate}: the whole generation as one ONNX {@code Loop} (see
 *       {@link #GENERATE_INPUTS}): prefill, guidance with batch doubling inside the graph, the
 *       project's draw (temperature, top-k, top-p, inverse CDF from a {@code uniforms} input, or
 *       greedy) and T - 1 cached decode steps; output {@code tokens [B, T]}.</li>
 * </ul>
 * Implementation notes. Linear weights are stored transposed ({@code [in, out]}) so that every
 * projection is a plain MatMul; {@code w1} and {@code w3} are fused into one {@code [d, 2h]} matrix.
 * The 2-D RoPE of spec 6.4 rotates interleaved pairs {@code (x[2j], x[2j+1])}; the exporter permutes
 * each head's query and key output channels once (even channels first, then odd), which turns the
 * pairs into halves ({@code j} with {@code j + hd/2}): q.k is unchanged by a common permutation, and
 * the rotation becomes two slices, two products and a sum. Keys in the cache are therefore stored in
 * that permuted channel order (values are not permuted). The class row of the table is zero, so the
 * class position's q and k are zero exactly as upstream.
 * <p>
 * With {@code fp16} the weights are stored as float16 and every projection runs in float16 (inputs
 * cast down, results cast back); norms, softmax, the cache, logits and sampling stay float32.
 * <p>
 * With a {@link WeightQuantization} the projection matrices (attention qkv and output, feed-forward
 * w13 and w2, the output head) are stored block-quantized in their {@code [out, in]} layout and run as
 * {@code com.microsoft.MatMulNBits}; embeddings, norms and the RoPE tables stay float32, and so does
 * everything computed.
 */
public final class GptOnnxExporter {

    /** Scalar inputs of the generate graph besides {@code class_ids} and {@code uniforms}. */
    public static final List<String> GENERATE_INPUTS = List.of(
            "class_ids", "uniforms", "cfg_scale", "cfg_interval", "temperature", "top_k", "top_p", "greedy");

    private final GptConfig cfg;
    private final Map<String, Tensor> weights;
    private final boolean fp16;
    private final WeightQuantization quant;
    /** Quantized matrices by state-dict name, made once and shared by the three graphs. */
    private final Map<String, WeightQuantization.Packed> packed = new java.util.TreeMap<>();
    private final int d;
    private final int nh;
    private final int hd;
    private final int hidden;
    /** While exporting with external data: where the generate graph's loop-local weights go. */
    private ExternalDataFile sink;

    /**
     * @param cfg     model configuration (dropouts are ignored: graphs are for inference)
     * @param weights upstream state-dict names (spec 6.3), any float type
     * @param fp16    store projection weights as float16 and run projections in float16
     */
    public GptOnnxExporter(GptConfig cfg, Map<String, Tensor> weights, boolean fp16) {
        this(cfg, weights, fp16, null);
    }

    /**
     * @param quant weight-only quantization of the projection matrices (null: none); not with fp16
     */
    public GptOnnxExporter(GptConfig cfg, Map<String, Tensor> weights, boolean fp16, WeightQuantization quant) {
        if (fp16 && quant != null) {
            throw new NppException("float16 projections and " + quant.label() + " quantization exclude each other; choose one");
        }
        this.cfg = cfg;
        this.weights = weights;
        this.fp16 = fp16;
        this.quant = quant;
        this.d = cfg.dim();
        this.nh = cfg.nHead();
        this.hd = cfg.headDim();
        this.hidden = cfg.ffnHidden();
        checkWeights();
    }

    /** The model configuration. */
    public GptConfig config() {
        return cfg;
    }

    /** Whether projections run in float16. */
    public boolean fp16() {
        return fp16;
    }

    /** The precision recorded in the graphs' metadata and the manifest. */
    public String precision() {
        return quant != null ? quant.label() + "-weights" : fp16 ? "float16-projections" : "float32";
    }

    /**
     * The quantized matrices of the graphs built so far (state-dict name, {@code w13} for the fused
     * {@code w1}/{@code w3}, to codes and scales), in name order; empty without quantization.
     */
    public Map<String, WeightQuantization.Packed> quantizedTensors() {
        return java.util.Collections.unmodifiableMap(packed);
    }

    private void checkWeights() {
        // Extra entries (buffers, EMA copies) are harmless to an exporter: only coverage and shapes matter.
        StateDictCheck.of(cfg.stateDictShapes(), weights, Set.of())
                .throwIfBad("GPT weights do not match the configuration", false, "");
    }

    // ------------------------------------------------------------------ weights

    /**
     * A projection {@code [B, S, k] -> [B, S, n]}: a float weight {@code [k, n]} ({@code scales} null),
     * or MatMulNBits codes and scales.
     */
    private record Proj(String w, String scales, int k, int n) {}

    /** Names of the weights inside one model. */
    private record Layer(Proj wqkv, Proj wo, Proj w13, Proj w2, String attnNorm, String ffnNorm) {}

    private record Weights(String cls, String tok, List<Layer> layers, String norm, Proj out, String cos, String sin) {}

    /** Adds the weights; the class and token tables only when the graph uses them. */
    private Weights addWeights(OnnxGraphBuilder g, boolean classTable, boolean tokenTable) {
        return addWeights(g, classTable, tokenTable, false);
    }

    /** As above; with {@code local} the weights are initializers of {@code g} itself (a Loop body). */
    private Weights addWeights(OnnxGraphBuilder g0, boolean classTable, boolean tokenTable, boolean local) {
        Init g = (name, t) -> local ? g0.localInitializer(name, t) : g0.initializer(name, t);
        List<Layer> layers = new ArrayList<>();
        for (int i = 0; i < cfg.nLayer(); i++) {
            String p = "layers." + i + ".";
            float[] wqkv = permuteQk(f(p + "attention.wqkv.weight"));
            float[] w13 = concatRows(f(p + "feed_forward.w1.weight"), f(p + "feed_forward.w3.weight"));
            layers.add(new Layer(
                    proj(g, p + "attention.wqkv.weight", wqkv, 3 * d, d),
                    proj(g, p + "attention.wo.weight", f(p + "attention.wo.weight"), d, d),
                    proj(g, p + "feed_forward.w13.weight", w13, 2 * hidden, d),
                    proj(g, p + "feed_forward.w2.weight", f(p + "feed_forward.w2.weight"), d, hidden),
                    g.initializer(p + "attention_norm.weight", Tensor.ofFloats(new long[]{d}, f(p + "attention_norm.weight"))),
                    g.initializer(p + "ffn_norm.weight", Tensor.ofFloats(new long[]{d}, f(p + "ffn_norm.weight")))));
        }
        Rope2d rope = Rope2d.build(cfg.gridSide(), hd, cfg.ropeBase(), cfg.clsTokenNum());
        int rows = rope.rows();
        int half = hd / 2;
        float[] c = rope.cos();
        float[] s = rope.sin();
        // Rotate-half form after the channel permutation: y = x * [cos, cos] + swap(x) * [-sin, sin].
        float[] cosFull = new float[rows * hd];
        float[] sinFull = new float[rows * hd];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < half; j++) {
                cosFull[r * hd + j] = c[r * half + j];
                cosFull[r * hd + half + j] = c[r * half + j];
                sinFull[r * hd + j] = -s[r * half + j];
                sinFull[r * hd + half + j] = s[r * half + j];
            }
        }
        return new Weights(
                classTable ? g.initializer("cls_embedding.embedding_table.weight",
                        proj(f("cls_embedding.embedding_table.weight"), cfg.numClasses() + 1L, d)) : null,
                tokenTable ? g.initializer("tok_embeddings.weight", proj(f("tok_embeddings.weight"), cfg.vocabSize(), d)) : null,
                layers,
                g.initializer("norm.weight", Tensor.ofFloats(new long[]{d}, f("norm.weight"))),
                proj(g, "output.weight", f("output.weight"), cfg.vocabSize(), d),
                g.initializer("rope.cos", Tensor.ofFloats(new long[]{rows, hd}, cosFull)),
                g.initializer("rope.sin", Tensor.ofFloats(new long[]{rows, hd}, sinFull)));
    }

    /** Adds an initializer (to the top-level graph or locally). */
    private interface Init {
        String initializer(String name, Tensor t);
    }

    private float[] f(String key) {
        return weights.get(key).toFloatArray();
    }

    /**
     * A projection with PyTorch weight {@code w [n, k]}: quantized codes {@code <name>.q4|q8} and
     * {@code <name>.scales} as they are, else the transpose {@code <name>_t [k, n]} in the export precision.
     */
    private Proj proj(Init g, String name, float[] w, int n, int k) {
        if (quant == null) {
            return new Proj(g.initializer(name + "_t", proj(transpose(w, n, k), k, n)), null, k, n);
        }
        WeightQuantization.Packed q = packed.computeIfAbsent(name, c -> quant.quantize(w, n, k));
        return new Proj(g.initializer(name + quant.codesSuffix(), q.codes()), g.initializer(name + ".scales", q.scales()), k, n);
    }

    /** A weight in the export precision. */
    private Tensor proj(float[] values, long rows, long cols) {
        long[] shape = {rows, cols};
        if (!fp16) {
            return Tensor.ofFloats(shape, values);
        }
        ByteBuffer b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putShort(Half.fromFloat(v));
        }
        b.flip();
        return new Tensor(DType.FLOAT16, shape, b);
    }

    /** [rows, cols] -> [cols, rows]. */
    private static float[] transpose(float[] a, int rows, int cols) {
        float[] t = new float[a.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                t[c * rows + r] = a[r * cols + c];
            }
        }
        return t;
    }

    private static float[] concatRows(float[] a, float[] b) {
        float[] out = new float[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /**
     * Permutes the q and k output rows of {@code wqkv [3d, d]} within each head: new channel
     * {@code j < hd/2} takes old channel {@code 2j}, new channel {@code hd/2 + j} takes {@code 2j + 1}.
     */
    private float[] permuteQk(float[] wqkv) {
        float[] out = wqkv.clone();
        int half = hd / 2;
        for (int part = 0; part < 2; part++) {
            for (int h = 0; h < nh; h++) {
                int base = part * d + h * hd;
                for (int j = 0; j < half; j++) {
                    System.arraycopy(wqkv, (base + 2 * j) * d, out, (base + j) * d, d);
                    System.arraycopy(wqkv, (base + 2 * j + 1) * d, out, (base + half + j) * d, d);
                }
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ the transformer

    private String linear(OnnxGraphBuilder g, String x, Proj w) {
        if (w.scales() != null) {
            return g.matMulNBits(x, w.w(), w.scales(), w.k(), w.n(), quant);
        }
        if (!fp16) {
            return g.matMul(x, w.w());
        }
        return g.cast(g.matMul(g.cast(x, DType.FLOAT16), w.w()), DType.FLOAT32);
    }

    private String embed(OnnxGraphBuilder g, String table, String ids) {
        String e = g.gather(table, ids, 0);
        return fp16 ? g.cast(e, DType.FLOAT32) : e;
    }

    /** RMSNorm (spec 6.2): {@code x / sqrt(mean(x^2) + eps) * gain}, float32. */
    private String rmsNorm(OnnxGraphBuilder g, String x, String gain) {
        // Pow(x, 2) (not Mul(x, x)): ONNX Runtime fuses Pow-ReduceMean-Add-Sqrt-Div-Mul into one
        // SimplifiedLayerNormalization kernel.
        String ms = g.reduceMean(g.pow(x, g.scalarF(2f)), true, -1);
        String r = g.sqrt(g.add(ms, g.scalarF((float) cfg.normEps())));
        return g.mul(g.div(x, r), gain);
    }

    /** Rotary embedding in rotate-half form on {@code x [B, H, S, hd]} with cos/sin {@code [.., S, hd]}. */
    private String rope(OnnxGraphBuilder g, String x, String cos, String sin) {
        int half = hd / 2;
        String lo = g.slice(x, new long[]{0}, new long[]{half}, new long[]{3});
        String hi = g.slice(x, new long[]{half}, new long[]{hd}, new long[]{3});
        String swapped = g.concat(3, hi, lo);
        return g.add(g.mul(x, cos), g.mul(swapped, sin));
    }

    /** Output of {@link #forward}. */
    private record Forward(String logits, List<String> keys, List<String> values) {}

    /**
     * The transformer on {@code x [B, S, d]} with rotary rows {@code cos, sin} broadcastable to
     * {@code [B, H, S, hd]}, the past caches (empty lists: no past) and an optional additive mask
     * broadcastable to {@code [B, H, S, P + S]}.
     */
    private Forward forward(OnnxGraphBuilder g, Weights w, String x, String cos, String sin,
                            List<String> pastK, List<String> pastV, String mask) {
        return forward(g, w, x, cos, sin, null, pastK, pastV, mask);
    }

    /**
     * Earlier keys/values that attention reads but that are not part of this step's cache output (the
     * generate graph's per-chunk split): {@code length} is their number of positions, a [1] tensor.
     */
    private record Chunked(List<String> keys, List<String> values, String length) {}

    /**
     * As above; with {@code big} the attention also covers those earlier positions, as two blocks
     * under one softmax, and the returned caches hold only {@code past + new}.
     */
    private Forward forward(OnnxGraphBuilder g, Weights w, String x, String cos, String sin, Chunked big,
                            List<String> pastK, List<String> pastV, String mask) {
        List<String> keys = new ArrayList<>();
        List<String> values = new ArrayList<>();
        String h = x;
        for (int i = 0; i < cfg.nLayer(); i++) {
            Layer l = w.layers().get(i);
            String qkv = linear(g, rmsNorm(g, h, l.attnNorm()), l.wqkv());
            String q = heads(g, g.slice(qkv, new long[]{0}, new long[]{d}, new long[]{2}));
            String k = heads(g, g.slice(qkv, new long[]{d}, new long[]{2L * d}, new long[]{2}));
            String v = heads(g, g.slice(qkv, new long[]{2L * d}, new long[]{3L * d}, new long[]{2}));
            q = rope(g, q, cos, sin);
            k = rope(g, k, cos, sin);
            if (!pastK.isEmpty()) {
                k = g.concat(2, pastK.get(i), k);
                v = g.concat(2, pastV.get(i), v);
            }
            keys.add(k);
            values.add(v);
            String scale = g.scalarF((float) (1.0 / Math.sqrt(hd)));
            String att;
            if (big == null) {
                String scores = g.mul(g.matMul(q, g.transpose(k, 0, 1, 3, 2)), scale);
                if (mask != null) {
                    scores = g.add(scores, mask);
                }
                att = g.matMul(g.softmax(scores, -1), v);                     // [B, H, S, hd]
            } else {
                // softmax over [earlier | this chunk], then the two weighted sums
                String sBig = g.matMul(q, g.transpose(big.keys().get(i), 0, 1, 3, 2));
                String sSmall = g.matMul(q, g.transpose(k, 0, 1, 3, 2));
                String p = g.softmax(g.mul(g.concat(3, sBig, sSmall), scale), -1);
                String axis = g.constI64(3);
                String pBig = g.sliceDynamic(p, g.constI64(0), big.length(), axis, null);
                String pSmall = g.sliceDynamic(p, big.length(), g.constI64(Long.MAX_VALUE), axis, null);
                att = g.add(g.matMul(pBig, big.values().get(i)), g.matMul(pSmall, v));
            }
            String merged = g.reshape(g.transpose(att, 0, 2, 1, 3), 0, 0, d); // [B, S, d]
            h = g.add(h, linear(g, merged, l.wo()));
            String ff = linear(g, rmsNorm(g, h, l.ffnNorm()), l.w13());
            String a = g.slice(ff, new long[]{0}, new long[]{hidden}, new long[]{2});
            String b = g.slice(ff, new long[]{hidden}, new long[]{2L * hidden}, new long[]{2});
            h = g.add(h, linear(g, g.mul(g.silu(a), b), l.w2()));
        }
        String logits = linear(g, rmsNorm(g, h, w.norm()), w.out());
        return new Forward(logits, keys, values);
    }

    /** [B, S, d] -> [B, H, S, hd]. */
    private String heads(OnnxGraphBuilder g, String x) {
        return g.transpose(g.reshape(x, 0, 0, nh, hd), 0, 2, 1, 3);
    }

    // ------------------------------------------------------------------ graphs

    /** The metadata written into every GPT graph. */
    public Map<String, String> metadata(String graph) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("nextpatch.graph", graph);
        m.put("nextpatch.gpt_config", cfg.toJson().toString());
        m.put("nextpatch.precision", precision());
        if (quant != null) {
            m.put("nextpatch.quantization", "MatMulNBits bits " + quant.bits() + ", block " + quant.blockSize()
                    + ", accuracy_level " + quant.accuracyLevel() + ", symmetric (default zero point)");
        }
        m.put("nextpatch.decode_chunk", Integer.toString(chunkSize()));
        m.put("nextpatch.key_channel_order", "per head: even channels then odd channels (rotate-half form of the 2-D RoPE)");
        return m;
    }

    private List<String> cacheInputs(OnnxGraphBuilder g, String kind, boolean withPast) {
        List<String> out = new ArrayList<>();
        if (!withPast) {
            return out;
        }
        for (int i = 0; i < cfg.nLayer(); i++) {
            out.add(g.input("past_key_values." + i + "." + kind, DType.FLOAT32, "batch", nh, "past", hd));
        }
        return out;
    }

    private void cacheOutputs(OnnxGraphBuilder g, Forward fw, String length) {
        for (int i = 0; i < cfg.nLayer(); i++) {
            g.output(fw.keys().get(i), "present." + i + ".key", DType.FLOAT32, "batch", nh, length, hd);
            g.output(fw.values().get(i), "present." + i + ".value", DType.FLOAT32, "batch", nh, length, hd);
        }
    }

    /** The class-token prefill graph. */
    public OnnxGraphBuilder buildPrefill() {
        OnnxGraphBuilder g = new OnnxGraphBuilder("gpt_prefill");
        String ids = g.input("class_ids", DType.INT64, "batch");
        Weights w = addWeights(g, true, false);
        String x = g.unsqueeze(embed(g, w.cls(), ids), 1);                // [B, 1, d]
        String cos = g.slice(w.cos(), new long[]{0}, new long[]{1}, new long[]{0}); // [1, hd]: the zero class row
        String sin = g.slice(w.sin(), new long[]{0}, new long[]{1}, new long[]{0});
        Forward fw = forward(g, w, x, cos, sin, List.of(), List.of(), null);
        g.output(fw.logits(), "logits", DType.FLOAT32, "batch", 1, cfg.vocabSize());
        cacheOutputs(g, fw, "1");
        return g;
    }

    /** The decode-step graph with an explicit cache (any number S of new tokens). */
    public OnnxGraphBuilder buildStep() {
        OnnxGraphBuilder g = new OnnxGraphBuilder("gpt_step");
        String ids = g.input("input_ids", DType.INT64, "batch", "seq");
        String pos = g.input("position_ids", DType.INT64, "batch", "seq");
        List<String> pastK = new ArrayList<>();
        List<String> pastV = new ArrayList<>();
        for (int i = 0; i < cfg.nLayer(); i++) {
            pastK.add(g.input("past_key_values." + i + ".key", DType.FLOAT32, "batch", nh, "past", hd));
            pastV.add(g.input("past_key_values." + i + ".value", DType.FLOAT32, "batch", nh, "past", hd));
        }
        Weights w = addWeights(g, false, true);
        String x = embed(g, w.tok(), ids);                                // [B, S, d]
        String cos = g.unsqueeze(g.gather(w.cos(), pos, 0), 1);           // [B, 1, S, hd]
        String sin = g.unsqueeze(g.gather(w.sin(), pos, 0), 1);
        // Causal mask over [past + new]: new position i (absolute P + i) sees keys j <= P + i.
        String p = g.squeeze(g.slice(g.shape(pastK.get(0)), new long[]{2}, new long[]{3}, new long[]{0}), 0);
        String s = g.squeeze(g.slice(g.shape(ids), new long[]{1}, new long[]{2}, new long[]{0}), 0);
        String total = g.add(p, s);
        String qPos = g.unsqueeze(g.range(p, total, g.scalarI64(1)), 1); // [S, 1]
        String kPos = g.range(g.scalarI64(0), total, g.scalarI64(1));    // [P + S]
        String mask = g.where(g.less(qPos, kPos), g.scalarF(Float.NEGATIVE_INFINITY), g.scalarF(0f));
        Forward fw = forward(g, w, x, cos, sin, pastK, pastV, mask);
        g.output(fw.logits(), "logits", DType.FLOAT32, "batch", "seq", cfg.vocabSize());
        cacheOutputs(g, fw, "past_plus_seq");
        return g;
    }

    /**
     * The whole-generation graph. Inputs: {@code class_ids [B]} int64, {@code uniforms [B, T]} float32
     * (one per token, see {@code org.nextpatch.sample.Uniforms}), and scalars {@code cfg_scale} float,
     * {@code cfg_interval} int64 (negative: every step guided), {@code temperature} float,
     * {@code top_k} int64 (0 off), {@code top_p} float (1 off), {@code greedy} bool. Output
     * {@code tokens [B, T]} int64. Guidance doubles the batch inside the graph when
     * {@code cfg_scale != 1}.
     */
    public OnnxGraphBuilder buildGenerate() {
        int tokens = cfg.blockSize();
        int vocab = cfg.vocabSize();
        OnnxGraphBuilder g = new OnnxGraphBuilder("gpt_generate");
        if (sink != null) {
            g.externalDataSink(sink);
        }
        String cls = g.input("class_ids", DType.INT64, "batch");
        String uniforms = g.input("uniforms", DType.FLOAT32, "batch", tokens);
        String scale = g.input("cfg_scale", DType.FLOAT32);
        String interval = g.input("cfg_interval", DType.INT64);
        String temperature = g.input("temperature", DType.FLOAT32);
        String topK = g.input("top_k", DType.INT64);
        String topP = g.input("top_p", DType.FLOAT32);
        String greedy = g.input("greedy", DType.BOOL);
        SamplingGraph smp = new SamplingGraph(vocab, scale, temperature, topK, topP, greedy);

        // Batch doubling: [cond; uncond] when guided, i.e. for a scale above 1 (as upstream).
        String b = g.slice(g.shape(cls), new long[]{0}, new long[]{1}, new long[]{0}); // [1]
        String guided = g.greater(scale, g.scalarF(1f));
        OnnxGraphBuilder thenG = g.subgraph("doubled_ids");
        String nulls = thenG.expand(g.constI64(cfg.nullClass()), b);
        thenG.outputAnyShape(thenG.concat(0, cls, nulls), "ids_doubled", DType.INT64);
        OnnxGraphBuilder elseG = g.subgraph("plain_ids");
        elseG.outputAnyShape(cls, "ids_plain", DType.INT64);
        String ids2 = SamplingGraph.ifElse(g, guided, thenG.buildGraph(), elseG.buildGraph());
        String b2 = g.slice(g.shape(ids2), new long[]{0}, new long[]{1}, new long[]{0});
        String reps = g.concat(0, g.div(b2, b), g.constI64(1));          // [B'/B, 1]

        // All T steps (step 0 = the class-token prefill, step s >= 1 feeds token s - 1) run in two
        // nested Loops: the outer one over chunks of G steps (G = grid side), the inner one over the
        // steps of a chunk. The inner loop carries only the chunk's new keys/values and reads the
        // earlier ones from the outer loop's carried cache without copying them; the chunk is appended
        // once per chunk. (A cache carried by one loop would be copied whole at every step: ONNX
        // Runtime cannot update a loop-carried tensor in place.) The weights are initializers of the
        // inner body itself, so that ONNX Runtime pre-packs them for its matrix products.
        int chunk = chunkSize();
        int outerTrips = (tokens + chunk - 1) / chunk;
        OnnxGraphBuilder outer = g.subgraph("decode_chunk");
        String j = outer.input("chunk_index", DType.INT64);
        String outerCond = outer.input("chunk_cond_in", DType.BOOL);
        String outerTok = outer.inputAnyShape("chunk_tok_in", DType.INT64);
        List<String> bigK = new ArrayList<>();
        List<String> bigV = new ArrayList<>();
        for (int i = 0; i < cfg.nLayer(); i++) {
            bigK.add(outer.inputAnyShape("cache." + i + ".key_in", DType.FLOAT32));
            bigV.add(outer.inputAnyShape("cache." + i + ".value_in", DType.FLOAT32));
        }
        String bigLen = outer.slice(outer.shape(bigK.get(0)), new long[]{2}, new long[]{3}, new long[]{0}); // [1]

        OnnxGraphBuilder body = g.subgraph("decode_step");
        String m = body.input("m", DType.INT64);
        String condIn = body.input("cond_in", DType.BOOL);
        String tokIn = body.inputAnyShape("tok_in", DType.INT64);
        List<String> smallK = new ArrayList<>();
        List<String> smallV = new ArrayList<>();
        for (int i = 0; i < cfg.nLayer(); i++) {
            smallK.add(body.inputAnyShape("chunk." + i + ".key_in", DType.FLOAT32));
            smallV.add(body.inputAnyShape("chunk." + i + ".value_in", DType.FLOAT32));
        }
        Weights w = addWeights(body, true, true, true);
        String s = body.add(body.mul(j, g.scalarI64(chunk)), m);             // step = sequence index
        String first = body.equal(s, g.scalarI64(0));
        String clsX = body.unsqueeze(embed(body, w.cls(), ids2), 1);        // [B', 1, d]
        String tokX = embed(body, w.tok(), body.tile(body.unsqueeze(tokIn, 1), reps)); // [B', 1, d]
        String x = body.where(first, clsX, tokX);
        // padding steps beyond the table reuse its last row (their tokens are dropped)
        String sIdx = body.unsqueeze(body.min(s, g.scalarI64(tokens)), 0);  // [1]
        String cos = body.gather(w.cos(), sIdx, 0);                          // [1, hd]
        String sin = body.gather(w.sin(), sIdx, 0);
        Forward fw = forward(body, w, x, cos, sin, new Chunked(bigK, bigV, bigLen), smallK, smallV, null);
        String logits = body.squeeze(fw.logits(), 1);
        // The prefill is always guided; decode step n = s - 1 when guided and (cfg_interval < 0 or
        // n <= cfg_interval).
        String n = body.sub(s, g.scalarI64(1));
        String stepGuided = body.and(guided, body.or(first, body.or(body.less(interval, g.scalarI64(0)),
                body.not(body.greater(n, interval)))));
        String u = body.gather(uniforms, body.min(s, g.scalarI64(tokens - 1L)), 1); // [B]
        String tok = smp.choose(body, smp.guide(body, logits, b, b2, stepGuided), u);
        body.outputAnyShape(condIn, "cond_out", DType.BOOL);
        body.outputAnyShape(tok, "tok_out", DType.INT64);
        for (int i = 0; i < cfg.nLayer(); i++) {
            body.outputAnyShape(fw.keys().get(i), "chunk." + i + ".key_out", DType.FLOAT32);
            body.outputAnyShape(fw.values().get(i), "chunk." + i + ".value_out", DType.FLOAT32);
        }
        body.outputAnyShape(tok, "tok_scan", DType.INT64);

        List<String> innerCarried = new ArrayList<>();
        innerCarried.add(outerTok);
        for (int i = 0; i < cfg.nLayer(); i++) {
            // empty [B', H, 0, hd] chunk caches to start from
            innerCarried.add(outer.slice(bigK.get(i), new long[]{0}, new long[]{0}, new long[]{2}));
            innerCarried.add(outer.slice(bigV.get(i), new long[]{0}, new long[]{0}, new long[]{2}));
        }
        List<String> inner = outer.loop(g.scalarI64(chunk), g.scalarBool(true), innerCarried, body.buildGraph(), 1);
        outer.outputAnyShape(outerCond, "chunk_cond_out", DType.BOOL);
        outer.outputAnyShape(inner.get(0), "chunk_tok_out", DType.INT64);
        for (int i = 0; i < cfg.nLayer(); i++) {
            outer.outputAnyShape(outer.concat(2, bigK.get(i), inner.get(1 + 2 * i)), "cache." + i + ".key_out", DType.FLOAT32);
            outer.outputAnyShape(outer.concat(2, bigV.get(i), inner.get(2 + 2 * i)), "cache." + i + ".value_out", DType.FLOAT32);
        }
        outer.outputAnyShape(inner.get(inner.size() - 1), "chunk_tok_scan", DType.INT64);   // [chunk, B]

        // Start: token 0 placeholder (unused at step 0) and empty [B', H, 0, hd] caches.
        List<String> carried = new ArrayList<>();
        carried.add(g.constantOfShape(b, Tensor.ofLongs(new long[]{1}, new long[]{0})));
        String empty = g.constantOfShape(g.concat(0, b2, g.constI64(nh, 0, hd)), Tensor.ofFloats(new long[]{1}, new float[]{0f}));
        for (int i = 0; i < cfg.nLayer(); i++) {
            carried.add(empty);
            carried.add(empty);
        }
        // carried = (tok, k0, v0, k1, v1, ...), the order of the outer body's inputs
        List<String> outs = g.loop(g.scalarI64(outerTrips), g.scalarBool(true), carried, outer.buildGraph(), 1);
        String scanned = g.reshape(outs.get(outs.size() - 1), (long) outerTrips * chunk, -1); // [steps, B]
        String all = g.slice(g.transpose(scanned, 1, 0), new long[]{0}, new long[]{tokens}, new long[]{1});
        g.output(all, "tokens", DType.INT64, "batch", tokens);
        return g;
    }

    /**
     * Decode steps per inner loop of the generate graph: the grid side G by default (cache copies
     * about T^2 / 2G + T G / 2 positions instead of T^2 / 2); {@code -Dnpp.onnx.chunk=N} overrides it
     * for experiments (N >= T gives a single cache growing every step).
     */
    int chunkSize() {
        int c = Integer.getInteger("npp.onnx.chunk", cfg.gridSide());
        return Math.max(1, Math.min(c, cfg.blockSize()));
    }

    // ------------------------------------------------------------------ export

    /** Above this many weight bytes the GPT graphs use one shared external weights file by default. */
    public static final long AUTO_EXTERNAL_BYTES = 256L << 20;

    /** The file holding the weights shared by the three GPT graphs when they use external data. */
    public static final String WEIGHTS_FILE = "gpt-weights.onnx.data";

    /**
     * Writes prefill, step and generate graphs into {@code dir}; returns the files written.
     *
     * @param externalData true: weights in {@value #WEIGHTS_FILE}, shared by the three graphs (each
     *                     tensor stored once); false: inline; null: external when the weights exceed
     *                     {@value #AUTO_EXTERNAL_BYTES} bytes: every named LlamaGen size, so that the three
     *                     graphs share one copy of the weights (and protobuf's 2 GB limit is never near)
     */
    public List<Path> exportAll(Path dir, Boolean externalData) {
        return exportAll(dir, externalData, Map.of());
    }

    /**
     * As {@link #exportAll(Path, Boolean)}, with extra metadata entries in every graph (e.g.
     * Tribuo's provenance). Use this rather than saving {@link #buildGenerate()} by hand: the
     * generate graph's weights live in its loop body and reach the external data file only when it
     * is built for an external export.
     */
    public List<Path> exportAll(Path dir, Boolean externalData, Map<String, String> extraMetadata) {
        boolean external = externalData != null ? externalData
                : cfg.parameterCount() * (fp16 ? 2L : 4L) > AUTO_EXTERNAL_BYTES; // quantized too: the same sizes share one file
        String[] graphs = {"prefill", "step", "generate"};
        List<Path> files = new ArrayList<>();
        if (!external) {
            for (String graph : graphs) {
                Path f = dir.resolve("gpt-" + graph + ".onnx");
                build(graph).save(f, withExtra(graph, extraMetadata), false);
                files.add(f);
            }
            return files;
        }
        // Weights first (once), then the small graph files that point into them.
        List<ai.onnx.proto.OnnxMl.ModelProto> models = new ArrayList<>();
        try (ExternalDataFile data = new ExternalDataFile(dir.resolve(WEIGHTS_FILE))) {
            sink = data;
            try {
                for (String graph : graphs) {
                    models.add(build(graph).buildExternal(withExtra(graph, extraMetadata), data));
                }
            } finally {
                sink = null;
            }
            data.commit();
        }
        for (int i = 0; i < graphs.length; i++) {
            Path f = dir.resolve("gpt-" + graphs[i] + ".onnx");
            ai.onnx.proto.OnnxMl.ModelProto m = models.get(i);
            org.nextpatch.util.AtomicFiles.write(f, m::writeTo);
            files.add(f);
        }
        files.add(dir.resolve(WEIGHTS_FILE));
        return files;
    }

    private Map<String, String> withExtra(String graph, Map<String, String> extra) {
        Map<String, String> m = new LinkedHashMap<>(metadata(graph));
        m.putAll(extra);
        return m;
    }

    private OnnxGraphBuilder build(String graph) {
        return switch (graph) {
            case "prefill" -> buildPrefill();
            case "step" -> buildStep();
            case "generate" -> buildGenerate();
            default -> throw new IllegalArgumentException("graph must be prefill, step or generate, got " + graph);
        };
    }

    /**
     * One graph as an in-memory model with its weights inline (for Tribuo's {@code ONNXExportable},
     * which hands back a {@code ModelProto}); only for models below the 2 GB protobuf limit.
     *
     * @param graph {@code prefill}, {@code step} or {@code generate}
     */
    public ai.onnx.proto.OnnxMl.ModelProto toModelProto(String graph, Map<String, String> extraMetadata) {
        OnnxGraphBuilder g = build(graph);
        if (g.initializerBytes() > 1_900_000_000L) {
            throw new NppException("the " + graph + " graph's weights (" + g.initializerBytes() / 1_000_000
                    + " MB) exceed the 2 GB protobuf limit; export to files with external data (npp export-onnx)");
        }
        Map<String, String> meta = new LinkedHashMap<>(metadata(graph));
        meta.putAll(extraMetadata);
        return g.build(meta);
    }

    /** External data is used when asked, or (null) when the weights exceed 1.5 GB (protobuf limit 2 GB). */
    static boolean useExternal(OnnxGraphBuilder g, Boolean externalData) {
        return externalData != null ? externalData : g.initializerBytes() > 1_500_000_000L;
    }

}
