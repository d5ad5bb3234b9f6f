package org.nextpatch.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.nextpatch.util.NppException;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The shape and regularisation of a class-conditional LlamaGen transformer, with the field names of
 * the upstream {@code ModelArgs} (spec section 6).
 *
 * @param dim              model width d
 * @param nLayer           number of transformer blocks
 * @param nHead            number of attention heads (head dim = dim / nHead)
 * @param vocabSize        image-token vocabulary V
 * @param numClasses       number of classes C (the class table has C + 1 rows, the last is the null class)
 * @param blockSize        number of image tokens T = G * G
 * @param clsTokenNum      number of class positions before the image tokens (1 upstream)
 * @param multipleOf       the FFN hidden size is rounded up to a multiple of this
 * @param ffnDimMultiplier optional multiplier on the FFN hidden size, {@code null} when unset
 * @param normEps          RMSNorm epsilon
 * @param ropeBase         rotary base
 * @param tokenDropoutP    dropout on the input sequence
 * @param attnDropoutP     dropout on attention weights
 * @param residDropoutP    dropout on the attention output projection
 * @param ffnDropoutP      dropout on the feed-forward output
 * @param classDropoutProb probability of replacing a label by the null class in training
 */
public record GptConfig(int dim, int nLayer, int nHead, int vocabSize, int numClasses, int blockSize,
                        int clsTokenNum, int multipleOf, Double ffnDimMultiplier, double normEps,
                        double ropeBase, double tokenDropoutP, double attnDropoutP, double residDropoutP,
                        double ffnDropoutP, double classDropoutProb) {
    /** Names these files in error messages. */
    private static final String WHAT = "GPT config";

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The keys of upstream {@code ModelArgs}; those that do not shape the model are accepted and ignored. */
    private static final java.util.Set<String> KEYS = java.util.Set.of("dim", "n_layer", "n_head", "n_kv_head",
            "multiple_of", "ffn_dim_multiplier", "rope_base", "norm_eps", "initializer_range", "token_dropout_p",
            "attn_dropout_p", "resid_dropout_p", "ffn_dropout_p", "drop_path_rate", "num_classes", "caption_dim",
            "class_dropout_prob", "model_type", "vocab_size", "cls_token_num", "block_size", "max_batch_size", "max_seq_len");

    /** The named sizes of LlamaGen: layers, heads, width. */
    private static final Map<String, int[]> NAMED = new LinkedHashMap<>();

    static {
        NAMED.put("GPT-B", new int[]{12, 12, 768});
        NAMED.put("GPT-L", new int[]{24, 16, 1024});
        NAMED.put("GPT-XL", new int[]{36, 20, 1280});
        NAMED.put("GPT-XXL", new int[]{48, 24, 1536});
    }

    /** Largest accepted {@code dim} (documented in docs/formats.md, "Limits and ranges"). */
    public static final int MAX_DIM = 8192;
    /** Largest accepted {@code n_layer}. */
    public static final int MAX_LAYERS = 512;
    /** Largest accepted {@code vocab_size}. */
    public static final int MAX_VOCAB = 1 << 20;
    /** Largest accepted {@code num_classes}. */
    public static final int MAX_CLASSES = 1_000_000;
    /** Largest accepted {@code block_size} (a 256 x 256 token grid). */
    public static final int MAX_BLOCK_SIZE = 65536;
    /** Largest accepted {@code multiple_of}. */
    public static final int MAX_MULTIPLE_OF = 65536;
    /** Largest accepted {@code ffn_dim_multiplier}. */
    public static final double MAX_FFN_MULTIPLIER = 16;

    /** Validates the configuration: every size against its limit before anything is computed from it. */
    public GptConfig {
        String c = "GPT configuration";
        Ranges.intIn(c, "dim", dim, 1, MAX_DIM);
        Ranges.intIn(c, "n_layer", nLayer, 1, MAX_LAYERS);
        Ranges.intIn(c, "n_head", nHead, 1, dim);
        Ranges.intIn(c, "vocab_size", vocabSize, 1, MAX_VOCAB);
        Ranges.intIn(c, "num_classes", numClasses, 1, MAX_CLASSES);
        Ranges.intIn(c, "block_size", blockSize, 1, MAX_BLOCK_SIZE);
        Ranges.intIn(c, "multiple_of", multipleOf, 1, MAX_MULTIPLE_OF);
        if (ffnDimMultiplier != null) {
            Ranges.floatIn(c, "ffn_dim_multiplier", ffnDimMultiplier, Float.MIN_NORMAL, MAX_FFN_MULTIPLIER);
        }
        Ranges.floatIn(c, "norm_eps", normEps, 1e-12, 1);
        Ranges.floatIn(c, "rope_base", ropeBase, 1, 1e12);
        Ranges.probability(c, "token_dropout_p", tokenDropoutP);
        Ranges.probability(c, "attn_dropout_p", attnDropoutP);
        Ranges.probability(c, "resid_dropout_p", residDropoutP);
        Ranges.probability(c, "ffn_dropout_p", ffnDropoutP);
        Ranges.probability(c, "class_dropout_prob", classDropoutProb);
        require(dim % nHead == 0, "dim " + dim + " is not divisible by n_head " + nHead);
        require((dim / nHead) % 4 == 0, "head dim " + dim / nHead + " must be a multiple of 4 for 2-D RoPE");
        require(clsTokenNum == 1, "only cls_token_num 1 (class-conditional LlamaGen) is supported, got " + clsTokenNum);
        int g = (int) Math.round(Math.sqrt(blockSize));
        require(g * g == blockSize, "block_size " + blockSize + " is not a square token grid");
        long h = ffnHidden(dim, ffnDimMultiplier, multipleOf);
        Ranges.tensor(c, "tok_embeddings.weight / output.weight [vocab_size, dim]", (long) vocabSize * dim);
        Ranges.tensor(c, "cls_embedding [num_classes + 1, dim]", (numClasses + 1L) * dim);
        Ranges.tensor(c, "feed_forward weights [ffn hidden, dim]", h * dim);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new NppException("invalid GPT configuration: " + message);
        }
    }

    /** The names accepted by {@link #named}. */
    public static java.util.Set<String> names() {
        return java.util.Collections.unmodifiableSet(NAMED.keySet());
    }

    /**
     * A named LlamaGen size (GPT-B, GPT-L, GPT-XL, GPT-XXL) with the upstream defaults: vocabulary
     * 16384, 1000 classes, dropouts 0.1 (attention 0), class dropout 0.1.
     *
     * @param name      the model name, e.g. {@code GPT-B}
     * @param blockSize the number of image tokens, {@code (imageSize / 16)^2}
     */
    public static GptConfig named(String name, int blockSize) {
        return named(name, blockSize, 16384, 1000);
    }

    /** A named size with a given vocabulary and class count. */
    public static GptConfig named(String name, int blockSize, int vocabSize, int numClasses) {
        int[] s = NAMED.get(name == null ? null : name.toUpperCase(Locale.ROOT));
        if (s == null) {
            throw new org.nextpatch.util.BadValueException("unknown GPT model '" + name + "'; choose one of " + NAMED.keySet()
                    + " or give --gpt-config FILE");
        }
        return new GptConfig(s[2], s[0], s[1], vocabSize, numClasses, blockSize, 1, 256, null, 1e-5,
                10000, 0.1, 0.0, 0.1, 0.1, 0.1);
    }

    /** Number of image tokens for an image size and a 16x downsampling tokenizer. */
    public static int blockSizeFor(int imageSize, int downsample) {
        if (imageSize <= 0 || imageSize % downsample != 0) {
            throw new org.nextpatch.util.BadValueException("--image-size " + imageSize + " is not a positive multiple of the tokenizer's downsampling " + downsample);
        }
        int g = imageSize / downsample;
        return g * g;
    }

    /** Reads a JSON file with upstream {@code ModelArgs} field names. */
    public static GptConfig fromJson(Path file) {
        return JsonFiles.read(file, WHAT, KEYS, GptConfig::fromJson);
    }

    /** Builds a configuration from a parsed JSON object with upstream field names. */
    public static GptConfig fromJson(JsonNode node) {
        if (node == null || !node.isObject()) {
            throw new NppException("a GPT config must be a JSON object");
        }
        int nHead = JsonFiles.reqInt(node, "n_head", WHAT);
        // Upstream ModelArgs fields that would change the model: only the class-conditional LlamaGen
        // values are implemented, so anything else is refused rather than silently ignored.
        JsonNode kv = node.get("n_kv_head");
        if (kv != null && !kv.isNull() && JsonFiles.reqInt(node, "n_kv_head", WHAT) != nHead) {
            throw new NppException(WHAT + ": n_kv_head " + kv.asText() + " differs from n_head " + nHead
                    + "; grouped-query attention is not supported (class-conditional LlamaGen uses n_kv_head = n_head)");
        }
        JsonNode type = node.get("model_type");
        if (type != null && !type.isNull() && !"c2i".equals(type.asText())) {
            throw new NppException(WHAT + ": model_type '" + type.asText() + "' is not supported; only 'c2i' (class-conditional)");
        }
        if (JsonFiles.optDouble(node, "drop_path_rate", 0.0, WHAT) != 0.0) {
            throw new NppException(WHAT + ": drop_path_rate " + node.get("drop_path_rate").asText()
                    + " is not supported (stochastic depth); upstream c2i training uses 0");
        }
        JsonNode mult = node.get("ffn_dim_multiplier");
        return new GptConfig(
                JsonFiles.reqInt(node, "dim", WHAT), JsonFiles.reqInt(node, "n_layer", WHAT), nHead,
                JsonFiles.optInt(node, "vocab_size", 16384, WHAT), JsonFiles.optInt(node, "num_classes", 1000, WHAT), JsonFiles.reqInt(node, "block_size", WHAT),
                JsonFiles.optInt(node, "cls_token_num", 1, WHAT), JsonFiles.optInt(node, "multiple_of", 256, WHAT),
                mult == null || mult.isNull() ? null : JsonFiles.optDouble(node, "ffn_dim_multiplier", 0, WHAT),
                JsonFiles.optDouble(node, "norm_eps", 1e-5, WHAT), JsonFiles.optDouble(node, "rope_base", 10000, WHAT),
                JsonFiles.optDouble(node, "token_dropout_p", 0.1, WHAT), JsonFiles.optDouble(node, "attn_dropout_p", 0.0, WHAT),
                JsonFiles.optDouble(node, "resid_dropout_p", 0.1, WHAT), JsonFiles.optDouble(node, "ffn_dropout_p", 0.1, WHAT),
                JsonFiles.optDouble(node, "class_dropout_prob", 0.1, WHAT));
    }

    /** The configuration as a JSON object with upstream field names. */
    public ObjectNode toJson() {
        ObjectNode n = JSON.createObjectNode();
        n.put("dim", dim).put("n_layer", nLayer).put("n_head", nHead).put("vocab_size", vocabSize)
                .put("num_classes", numClasses).put("block_size", blockSize).put("cls_token_num", clsTokenNum)
                .put("multiple_of", multipleOf);
        if (ffnDimMultiplier != null) {
            n.put("ffn_dim_multiplier", ffnDimMultiplier);
        } else {
            n.putNull("ffn_dim_multiplier");
        }
        n.put("norm_eps", normEps).put("rope_base", ropeBase).put("token_dropout_p", tokenDropoutP)
                .put("attn_dropout_p", attnDropoutP).put("resid_dropout_p", residDropoutP)
                .put("ffn_dropout_p", ffnDropoutP).put("class_dropout_prob", classDropoutProb);
        return n;
    }

    /** The configuration with every dropout (and class dropout) set to zero: evaluation and fixtures. */
    public GptConfig withoutDropout() {
        return new GptConfig(dim, nLayer, nHead, vocabSize, numClasses, blockSize, clsTokenNum, multipleOf,
                ffnDimMultiplier, normEps, ropeBase, 0, 0, 0, 0, 0);
    }

    /** Head dimension {@code dim / nHead}. */
    public int headDim() {
        return dim / nHead;
    }

    /** Token grid side G, with {@code G * G = blockSize}. */
    public int gridSide() {
        return (int) Math.round(Math.sqrt(blockSize));
    }

    /**
     * SwiGLU hidden size: {@code int(2 * 4d / 3)}, times the multiplier if set, rounded up to a
     * multiple of {@code multipleOf} (spec 6.1).
     */
    public int ffnHidden() {
        return (int) ffnHidden(dim, ffnDimMultiplier, multipleOf);
    }

    private static long ffnHidden(int dim, Double ffnDimMultiplier, int multipleOf) {
        long h = (int) (2.0 * 4 * dim / 3);
        if (ffnDimMultiplier != null) {
            h = (int) (ffnDimMultiplier * h);
        }
        return multipleOf * ((h + multipleOf - 1) / multipleOf);
    }

    /** Index of the null (unconditional) class row in the class table. */
    public int nullClass() {
        return numClasses;
    }

    /**
     * Every parameter's state-dict key and shape, in the upstream module order (spec 6.3; PyTorch
     * Linear weights are [out, in]).
     */
    public LinkedHashMap<String, long[]> stateDictShapes() {
        long d = dim;
        long h = ffnHidden();
        LinkedHashMap<String, long[]> m = new LinkedHashMap<>();
        m.put("tok_embeddings.weight", new long[]{vocabSize, d});
        m.put("cls_embedding.embedding_table.weight", new long[]{numClasses + 1L, d});
        for (int i = 0; i < nLayer; i++) {
            String p = "layers." + i + ".";
            m.put(p + "attention.wqkv.weight", new long[]{3 * d, d});
            m.put(p + "attention.wo.weight", new long[]{d, d});
            m.put(p + "feed_forward.w1.weight", new long[]{h, d});
            m.put(p + "feed_forward.w3.weight", new long[]{h, d});
            m.put(p + "feed_forward.w2.weight", new long[]{d, h});
            m.put(p + "attention_norm.weight", new long[]{d});
            m.put(p + "ffn_norm.weight", new long[]{d});
        }
        m.put("norm.weight", new long[]{d});
        m.put("output.weight", new long[]{vocabSize, d});
        return m;
    }

    /** Total parameter count of the model this configuration describes. */
    public long parameterCount() {
        long d = dim;
        long h = ffnHidden();
        long perLayer = 3 * d * d + d * d + 3 * d * h + 2 * d;
        return (numClasses + 1L) * d + (long) vocabSize * d + nLayer * perLayer + d + (long) vocabSize * d;
    }
}
