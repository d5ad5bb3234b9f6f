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
}
