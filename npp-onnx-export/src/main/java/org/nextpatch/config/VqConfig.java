package org.nextpatch.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.nextpatch.util.NppException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The shape of a LlamaGen VQ tokenizer (spec section 7), with the field names of the upstream
 * {@code VQ} model arguments as written in the fixture's {@code vq-config.json}.
 *
 * <p>The encoder has {@code numResBlocks} residual blocks per level, the decoder one more
 * ({@code numResBlocks + 1}), as upstream. Every level but the last halves the resolution, so the
 * downsampling factor is {@code 2^(ch_mult.length - 1)}. GroupNorm uses 32 groups, so every level's
 * channel count {@code ch * ch_mult[l]} must be a multiple of 32.
 *
 * @param codebookSize     number of codes K (the GPT vocabulary)
 * @param codebookEmbedDim width of a code vector (8 upstream)
 * @param ch               base channel count
 * @param chMult           channel multiplier per resolution level (encoder order; the decoder reverses it)
 * @param zChannels        channels of the latent before {@code quant_conv}
 * @param numResBlocks     residual blocks per encoder level
 * @param codebookL2Norm   whether latents and codebook rows are L2-normalised before the nearest search
 * @param dropout          dropout inside the residual blocks (0 upstream)
 */
public record VqConfig(int codebookSize, int codebookEmbedDim, int ch, List<Integer> chMult, int zChannels,
                       int numResBlocks, boolean codebookL2Norm, double dropout) {
    /** Names these files in error messages. */
    private static final String WHAT = "VQ config";

    /** GroupNorm group count used everywhere in the VQ model. */
    public static final int NORM_GROUPS = 32;

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The keys read here, their upstream aliases, and upstream training arguments that do not shape the model. */
    private static final java.util.Set<String> KEYS = java.util.Set.of("codebook_size", "codebook_embed_dim", "ch",
            "ch_mult", "encoder_ch_mult", "decoder_ch_mult", "z_channels", "num_res_blocks", "codebook_l2_norm", "dropout",
            "dropout_p", "codebook_show_usage", "commit_loss_beta", "entropy_loss_ratio");

    /** Largest accepted {@code codebook_size} (documented in docs/formats.md, "Limits and ranges"). */
    public static final int MAX_CODEBOOK = 1 << 20;
    /** Largest accepted {@code codebook_embed_dim}, {@code z_channels} and channels of a level ({@code ch * ch_mult[l]}). */
    public static final int MAX_CHANNELS = 4096;
    /** Most entries in {@code ch_mult} (a downsampling of 2^7 = 128). */
    public static final int MAX_LEVELS = 8;
    /** Largest accepted {@code num_res_blocks}. */
    public static final int MAX_RES_BLOCKS = 16;

    /** Validates the configuration (sizes against their limits first) and freezes the multiplier list. */
    public VqConfig {
        String c = "VQ configuration";
        Ranges.intIn(c, "codebook_size", codebookSize, 1, MAX_CODEBOOK);
        Ranges.intIn(c, "codebook_embed_dim", codebookEmbedDim, 1, MAX_CHANNELS);
        Ranges.intIn(c, "ch", ch, 1, MAX_CHANNELS);
        require(chMult != null && !chMult.isEmpty(), "ch_mult must be a non-empty list");
        Ranges.intIn(c, "the length of ch_mult", chMult.size(), 1, MAX_LEVELS);
        chMult = List.copyOf(chMult);
        for (int m : chMult) {
            Ranges.intIn(c, "ch * ch_mult entry", (long) ch * m, 1, MAX_CHANNELS);
            if ((ch * m) % NORM_GROUPS != 0) {
                throw new NppException("invalid VQ configuration: ch * ch_mult = " + ch * m + " is not a multiple of the "
                        + NORM_GROUPS + " GroupNorm groups");
            }
        }
        Ranges.intIn(c, "z_channels", zChannels, 1, MAX_CHANNELS);
        Ranges.intIn(c, "num_res_blocks", numResBlocks, 1, MAX_RES_BLOCKS);
        Ranges.probability(c, "dropout", dropout);
        Ranges.tensor(c, "the codebook [codebook_size, codebook_embed_dim]", (long) codebookSize * codebookEmbedDim);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new NppException("invalid VQ configuration: " + message);
        }
    }

    /**
     * The upstream {@code vq_ds16_c2i} tokenizer ("VQ-16"): codebook 16384 x 8 (L2-normalised), ch 128,
     * ch_mult [1, 1, 2, 2, 4], z_channels 256, 2 residual blocks, dropout 0.
     */
    public static VqConfig vq16() {
        return new VqConfig(16384, 8, 128, List.of(1, 1, 2, 2, 4), 256, 2, true, 0.0);
    }

    /** A named tokenizer configuration; only {@code VQ-16} exists. */
    public static VqConfig named(String name) {
        if (name != null && name.toUpperCase(Locale.ROOT).equals("VQ-16")) {
            return vq16();
        }
        throw new org.nextpatch.util.BadValueException("unknown VQ model '" + name + "'; choose VQ-16 or give --vq-config FILE");
    }

    /** Spatial downsampling factor: {@code 2^(ch_mult.length - 1)}. */
    public int downsample() {
        return 1 << (chMult.size() - 1);
    }

    /** Number of resolution levels ({@code ch_mult.length}). */
    public int levels() {
        return chMult.size();
    }

    /** Residual blocks per decoder level ({@code num_res_blocks + 1}, as upstream). */
    public int decoderResBlocks() {
        return numResBlocks + 1;
    }

    /** Channel count of encoder level {@code l}: {@code ch * ch_mult[l]}. */
    public int channels(int level) {
        return ch * chMult.get(level);
    }

    /** Token grid side for a square image of the given size. */
    public int gridSide(int imageSize) {
        if (imageSize <= 0 || imageSize % downsample() != 0) {
            throw new NppException("--image-size " + imageSize + " is not a positive multiple of the tokenizer's downsampling "
                    + downsample());
        }
        return imageSize / downsample();
    }

    /** The configuration with dropout 0 (evaluation). */
    public VqConfig withoutDropout() {
        return new VqConfig(codebookSize, codebookEmbedDim, ch, chMult, zChannels, numResBlocks, codebookL2Norm, 0.0);
    }

    /** Reads a JSON file with the fixture's field names. */
    public static VqConfig fromJson(Path file) {
        return JsonFiles.read(file, WHAT, KEYS, VqConfig::fromJson);
    }

    /** A JSON list of integers, or null when the field is absent or null. */
    private static List<Integer> intList(JsonNode node, String key) {
        JsonNode list = node.get(key);
        if (list == null || list.isNull()) {
            return null;
        }
        List<Integer> out = new ArrayList<>();
        for (JsonNode m : list) {  // empty for a non-array
            if (m.canConvertToInt()) {
                out.add(m.asInt());
            }
        }
        if (!list.isArray() || out.size() != list.size()) {
            throw new NppException("VQ config field '" + key + "' must be a list of integers");
        }
        return out;
    }

    /**
     * Builds a configuration from a parsed JSON object. Missing fields take the VQ-16 values; the
     * upstream argument names {@code encoder_ch_mult} and {@code dropout_p} are accepted as aliases.
     */
    public static VqConfig fromJson(JsonNode node) {
        if (node == null || !node.isObject()) {
            throw new NppException("a VQ config must be a JSON object");
        }
        VqConfig d = vq16();
        String multKey = node.has("ch_mult") ? "ch_mult" : "encoder_ch_mult";
        List<Integer> mult = intList(node, multKey);
        if (mult == null) {
            mult = d.chMult();
        }
        List<Integer> dec = intList(node, "decoder_ch_mult");
        if (dec != null && !dec.equals(mult)) {
            throw new NppException("VQ config: decoder_ch_mult " + dec + " differs from the encoder's " + mult
                    + "; the LlamaGen tokenizer uses one ch_mult for both");
        }
        JsonNode l2 = node.get("codebook_l2_norm");
        if (l2 != null && !l2.isNull() && !l2.isBoolean()) {
            throw new NppException("VQ config field 'codebook_l2_norm' must be true or false");
        }
        String dropKey = node.has("dropout") ? "dropout" : "dropout_p";
        return new VqConfig(
                JsonFiles.optInt(node, "codebook_size", d.codebookSize(), WHAT), JsonFiles.optInt(node, "codebook_embed_dim", d.codebookEmbedDim(), WHAT),
                JsonFiles.optInt(node, "ch", d.ch(), WHAT), mult, JsonFiles.optInt(node, "z_channels", d.zChannels(), WHAT),
                JsonFiles.optInt(node, "num_res_blocks", d.numResBlocks(), WHAT),
                l2 == null || l2.isNull() ? d.codebookL2Norm() : l2.asBoolean(),
                JsonFiles.optDouble(node, dropKey, d.dropout(), WHAT));
    }

    /** The configuration as a JSON object with the fixture's field names. */
    public ObjectNode toJson() {
        ObjectNode n = JSON.createObjectNode();
        n.put("codebook_size", codebookSize).put("codebook_embed_dim", codebookEmbedDim).put("ch", ch);
        ArrayNode m = n.putArray("ch_mult");
        chMult.forEach(m::add);
        n.put("z_channels", zChannels).put("num_res_blocks", numResBlocks).put("codebook_l2_norm", codebookL2Norm)
                .put("dropout", dropout);
        return n;
    }

    /** Writes the configuration as pretty JSON (atomically). */
    public void writeJson(Path file) {
        org.nextpatch.util.AtomicFiles.write(file, out -> JSON.writerWithDefaultPrettyPrinter().writeValue(out, toJson()));
    }
}
