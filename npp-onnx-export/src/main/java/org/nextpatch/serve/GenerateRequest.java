package org.nextpatch.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import org.nextpatch.sample.SamplingSettings;

import java.io.IOException;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A validated {@code POST /v1/generate} body. Defaults are {@code npp sample}'s: {@code cfg_scale} 4,
 * {@code temperature} 1, {@code top_k} 0 (off), {@code top_p} 1 (off); {@code seed} is drawn when
 * absent and returned. Row i of a request with seed S uses the random numbers of image i of
 * {@code npp sample --seed S}, so the tokens are the command line's.
 *
 * @param classes  class of each image, request order
 * @param settings sampling settings
 * @param seed     the run seed
 * @param tokens   answer with tokens
 * @param png      answer with base64 PNGs
 */
public record GenerateRequest(long[] classes, SamplingSettings settings, long seed, boolean tokens, boolean png) {
    /** One JSON object per body: trailing content or a key given twice is refused, not silently dropped or overwritten. */
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();
    private static final Set<String> FIELDS = Set.of("classes", "cfg_scale", "temperature", "top_k", "top_p", "seed", "format");

    /** Images asked for. */
    public int rows() {
        return classes.length;
    }

    /**
     * Parses and checks a body; every problem is a {@link BadRequest} naming the field.
     *
     * @param body       the request body (UTF-8 JSON)
     * @param model      what is served (class range, names, decoder)
     * @param maxClasses most classes per request
     */
    public static GenerateRequest parse(byte[] body, ServedModel model, int maxClasses) {
        JsonNode root;
        try {
            root = JSON.readTree(body);
        } catch (JsonProcessingException e) {
            String m = e.getOriginalMessage();
            java.util.regex.Matcher dup = java.util.regex.Pattern.compile("^Duplicate field '(.*)'").matcher(m);
            if (dup.find()) {
                throw new BadRequest(dup.group(1), "field '" + dup.group(1) + "' is given twice; give each field once");
            }
            if (m.startsWith("Trailing token")) {
                throw new BadRequest("body", "the body goes on after its JSON object; send one object per request");
            }
            throw new BadRequest("body", "the body is not JSON: " + m);
        } catch (IOException e) {
            throw new BadRequest("body", "unreadable body: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw new BadRequest("body", "the body must be a JSON object such as {\"classes\": [3]}");
        }
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!FIELDS.contains(f)) {
                throw new BadRequest(f, "unknown field '" + f + "'; known: classes, cfg_scale, temperature, top_k, top_p, seed, format");
            }
        }
        long[] classes = classes(root.get("classes"), model, maxClasses);
        double cfg = number(root, "cfg_scale", 4.0);
        if (!SamplingSettings.validCfgScale(cfg)) {
            throw new BadRequest("cfg_scale", "cfg_scale must be in (0, " + SamplingSettings.MAX_CFG_SCALE + "] (1 or below: no guidance), got " + cfg);
        }
        double temperature = number(root, "temperature", 1.0);
        if (!(temperature > 0) || !SamplingSettings.validTemperature(temperature)) {
            throw new BadRequest("temperature", "temperature must be in (0, " + SamplingSettings.MAX_TEMPERATURE + "], got " + temperature);
        }
        long topK = integer(root, "top_k", 0);
        if (topK < 0 || topK > Integer.MAX_VALUE) {
            throw new BadRequest("top_k", "top_k must be >= 0 (0 = off), got " + topK);
        }
        double topP = number(root, "top_p", 1.0);
        if (!SamplingSettings.validTopP(topP)) {
            throw new BadRequest("top_p", "top_p must be in (0, 1] (1 = off) and positive as float32, got " + topP);
        }
        long seed = root.has("seed") ? integer(root, "seed", 0) : ThreadLocalRandom.current().nextLong(1L << 53);
        boolean tokens = true;
        boolean png = model.hasDecoder();
        JsonNode f = root.get("format");
        if (f != null && !f.isNull()) {
            String v = f.isTextual() ? f.asText().toLowerCase(Locale.ROOT) : "";
            switch (v) {
                case "tokens" -> png = false;
                case "png" -> { tokens = false; png = true; }
                case "both" -> png = true;
                default -> throw new BadRequest("format", "format must be \"tokens\", \"png\" or \"both\", got " + f);
            }
            if (png && !model.hasDecoder()) {
                throw new BadRequest("format", "format " + v + " needs images, but the served export has no vq-decoder.onnx; use \"tokens\"");
            }
        }
        return new GenerateRequest(classes, new SamplingSettings(cfg, -1, temperature, (int) topK, topP, false), seed, tokens, png);
    }

    private static long[] classes(JsonNode n, ServedModel model, int maxClasses) {
        if (n == null || n.isNull()) {
            throw new BadRequest("classes", "classes is required: a list of class ids" + (model.classNames() != null ? " or names" : ""));
        }
        if (!n.isArray() || n.isEmpty()) {
            throw new BadRequest("classes", "classes must be a non-empty list, got " + n);
        }
        if (n.size() > maxClasses) {
            throw new BadRequest("classes", "classes has " + n.size() + " entries; at most " + maxClasses + " per request");
        }
        int c = model.gpt().numClasses();
        List<String> names = model.classNames();
        long[] out = new long[n.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode e = n.get(i);
            if (e.isIntegralNumber() && e.canConvertToLong()) {
                out[i] = e.asLong();
                if (out[i] < 0 || out[i] >= c) {
                    throw new BadRequest("classes", "classes[" + i + "] = " + out[i] + " is out of range 0.." + (c - 1));
                }
            } else if (e.isTextual() && names != null) {
                int idx = indexOf(names, e.asText());
                if (idx < 0) {
                    throw new BadRequest("classes", "classes[" + i + "] = \"" + e.asText() + "\" is not a class name; names: " + names);
                }
                out[i] = idx;
            } else {
                throw new BadRequest("classes", "classes[" + i + "] must be a class id" + (names != null ? " or name" : "")
                        + ", got " + e);
            }
        }
        return out;
    }

    private static int indexOf(List<String> names, String s) {
        for (int i = 0; i < names.size(); i++) {
            if (names.get(i).equalsIgnoreCase(s.strip())) {
                return i;
            }
        }
        return -1;
    }

    private static double number(JsonNode root, String field, double dflt) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!n.isNumber() || !Double.isFinite(n.asDouble())) {
            throw new BadRequest(field, field + " must be a number, got " + n);
        }
        return n.asDouble();
    }

    private static long integer(JsonNode root, String field, long dflt) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!n.isIntegralNumber() || !n.canConvertToLong()) {
            throw new BadRequest(field, field + " must be an integer (64-bit), got " + n);
        }
        return n.asLong();
    }
}
