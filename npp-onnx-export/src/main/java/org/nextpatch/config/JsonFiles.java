package org.nextpatch.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.nextpatch.util.NppException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.function.Function;

/** Reading configuration files given on the command line, with one-line errors that name the file. */
final class JsonFiles {
    private static final ObjectMapper JSON = new ObjectMapper();

    private JsonFiles() {}

    /**
     * Parses {@code file} and builds a configuration from it; any error names the file.
     *
     * @param what  what the file holds, e.g. "GPT config"
     * @param build turns the parsed JSON into the configuration (throws {@link NppException})
     */
    static <T> T read(Path file, String what, Function<JsonNode, T> build) {
        JsonNode node;
        try {
            node = JSON.readTree(Files.readAllBytes(file));
        } catch (NoSuchFileException e) {
            throw new NppException(what + " file not found: " + file);
        } catch (IOException e) {
            throw new NppException("cannot read " + what + " " + file + ": " + e.getMessage(), e);
        }
        try {
            return build.apply(node);
        } catch (NppException e) {
            throw new NppException(file + ": " + e.getMessage(), e);
        }
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
        if (!v.isNumber()) {
            throw new NppException(what + " field '" + key + "' must be a number");
        }
        return v.asDouble();
    }
}
