package org.nextpatch.config;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.util.NppException;
import org.nextpatch.util.RegularFiles;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * Reading configuration files given on the command line, with one-line errors that name the file:
 * only a regular file of at most {@value #MAX_BYTES} bytes, one JSON value with no duplicate keys;
 * keys the format does not know are named in a warning.
 */
final class JsonFiles {
    /** Largest configuration file read (a real one has a few hundred bytes). */
    static final int MAX_BYTES = 1 << 20;

    private static final Logger LOG = LogManager.getLogger(JsonFiles.class);
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private JsonFiles() {}

    /**
     * Parses {@code file} and builds a configuration from it; any error names the file.
     *
     * @param what  what the file holds, e.g. "GPT config"
     * @param known the keys the format reads or accepts (others are named in a warning)
     * @param build turns the parsed JSON into the configuration (throws {@link NppException})
     */
    static <T> T read(Path file, String what, Set<String> known, Function<JsonNode, T> build) {
        byte[] bytes = RegularFiles.readBounded(file, MAX_BYTES, what + " file");
        JsonNode node;
        try {
            node = JSON.readTree(bytes);
        } catch (JsonProcessingException e) {
            JsonLocation at = e.getLocation();
            throw new NppException(what + " file " + file + " is not valid JSON: " + e.getOriginalMessage()
                    + (at != null ? " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")" : ""), e);
        } catch (IOException e) {
            throw new NppException("cannot read " + what + " " + file + ": " + e, e);
        }
        if (node == null || node.isMissingNode()) {
            throw new NppException(what + " file " + file + " is empty");
        }
        List<String> unknown = unknownKeys(node, known);
        if (!unknown.isEmpty()) {
            LOG.warn("{} {}: ignoring unknown keys {} (known: {})", what, file, unknown, new TreeSet<>(known));
        }
        try {
            return build.apply(node);
        } catch (NppException e) {
            throw new NppException(file + ": " + e.getMessage(), e);
        }
    }

    /** The keys of a JSON object that are not in {@code known}, in file order (none for other values). */
    static List<String> unknownKeys(JsonNode node, Set<String> known) {
        List<String> unknown = new ArrayList<>();
        node.fieldNames().forEachRemaining(k -> {
            if (!known.contains(k)) {
                unknown.add(k);
            }
        });
        return unknown;
    }

    /** An optional integer field; {@code what} names the file kind in the error. */
    static int optInt(JsonNode node, String key, int dflt, String what) {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.canConvertToInt() || !v.isIntegralNumber()) {
            throw new NppException(what + " field '" + key + "' must be an integer");
        }
        return v.asInt();
    }

    /** A required integer field. */
    static int reqInt(JsonNode node, String key, String what) {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) {
            throw new NppException(what + " needs an integer '" + key + "'");
        }
        return optInt(node, key, 0, what);
    }

    /** An optional number field. */
    static double optDouble(JsonNode node, String key, double dflt, String what) {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isNumber() || !Double.isFinite(v.asDouble())) {
            throw new NppException(what + " field '" + key + "' must be a finite number"
                    + (v.isNumber() ? ", got " + v.asText() : ""));
        }
        return v.asDouble();
    }
}
