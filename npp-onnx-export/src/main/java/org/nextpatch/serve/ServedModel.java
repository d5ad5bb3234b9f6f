package org.nextpatch.serve;

import ai.onnx.proto.OnnxMl;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.nextpatch.config.GptConfig;
import org.nextpatch.config.VqConfig;
import org.nextpatch.onnx.OnnxExport;
import org.nextpatch.onnx.OnnxGraphBuilder;
import org.nextpatch.onnx.OnnxSampler;
import org.nextpatch.onnx.OnnxVqDecoder;
import org.nextpatch.util.NppException;
import org.nextpatch.util.Sha256;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What {@code npp serve} serves, read once at start-up from an export directory: the GPT
 * configuration and, with {@code vq-decoder.onnx}, the tokenizer's (from {@code manifest.json}, or
 * else from the metadata every exported graph carries), the class names (the manifest's
 * {@code class_names}, or given), and the SHA-256 of the graph files. {@link #describe()} is the
 * body of {@code GET /v1/model}.
 */
public final class ServedModel {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final GptConfig gpt;
    private final VqConfig vq;
    private final List<String> classNames;
    private final ObjectNode description;

    private ServedModel(Path dir, GptConfig gpt, VqConfig vq, List<String> classNames, ObjectNode description) {
        this.dir = dir;
        this.gpt = gpt;
        this.vq = vq;
        this.classNames = classNames;
        this.description = description;
    }

    /**
     * Reads an export directory.
     *
     * @param dir        written by {@code npp export-onnx} (or {@code npp demo}): {@code gpt-generate.onnx}
     *                   and optionally {@code vq-decoder.onnx} and {@code manifest.json}
     * @param classNames names of the classes in order, or null (the manifest's, if any)
     */
    public static ServedModel open(Path dir, List<String> classNames) {
        if (!Files.isDirectory(dir)) {
            throw new NppException("--onnx-dir " + dir + " is not a directory");
        }
        Path generate = dir.resolve(OnnxSampler.GENERATE);
        if (!Files.isRegularFile(generate)) {
            throw new NppException("--onnx-dir " + dir + " has no " + OnnxSampler.GENERATE + " (run 'npp export-onnx' first)");
        }
        Path manifestFile = dir.resolve(OnnxExport.MANIFEST);
        JsonNode manifest = null;
        if (Files.exists(manifestFile)) {
            manifest = OnnxExport.open(dir); // every file against the manifest's digests
        }
        GptConfig gpt = manifest != null && manifest.has("gpt_config")
                ? OnnxExport.readGptConfig(dir)
                : GptConfig.fromJson(metadataJson(generate, "nextpatch.gpt_config"));
        Path decoder = dir.resolve(OnnxVqDecoder.FILE);
        VqConfig vq = null;
        if (Files.isRegularFile(decoder)) {
            vq = manifest != null && manifest.has("vq_config")
                    ? VqConfig.fromJson(manifest.get("vq_config"))
                    : VqConfig.fromJson(metadataJson(decoder, "nextpatch.vq_config"));
            if (vq.codebookSize() != gpt.vocabSize()) {
                throw new NppException("--onnx-dir " + dir + ": the decoder's codebook has " + vq.codebookSize()
                        + " codes but the GPT's vocabulary is " + gpt.vocabSize());
            }
        }
        List<String> names = classNames;
        String namesFrom = "--class-names";
        if (names == null && manifest != null && manifest.path("class_names").isArray()) {
            names = new ArrayList<>();
            for (JsonNode n : manifest.get("class_names")) {
                names.add(n.asText());
            }
            namesFrom = manifestFile + " class_names";
        }
        if (names != null) {
            checkNames(names, gpt.numClasses(), namesFrom);
            names = List.copyOf(names);
        }

        ObjectNode d = JSON.createObjectNode();
        d.put("onnx_dir", dir.getFileName() == null ? dir.toString() : dir.getFileName().toString());
        d.set("gpt_config", gpt.toJson());
        d.put("num_classes", gpt.numClasses());
        d.put("tokens_per_image", gpt.blockSize());
        d.put("token_grid", gpt.gridSide());
        if (names != null) {
            d.set("class_names", JSON.valueToTree(names));
        } else {
            d.putNull("class_names");
        }
        d.put("has_decoder", vq != null);
        if (vq != null) {
            d.set("vq_config", vq.toJson());
            d.put("image_size", gpt.gridSide() * vq.downsample());
        } else {
            d.putNull("image_size");
        }
        ObjectNode hashes = d.putObject("sha256");
        try (var files = Files.list(dir)) {
            for (Path f : files.sorted().toList()) {
                String name = f.getFileName().toString();
                if (Files.isRegularFile(f) && (name.endsWith(".onnx") || name.endsWith(".data") || name.equals(OnnxExport.MANIFEST))) {
                    // the manifest's digests were just checked against the files: no second read
                    JsonNode known = manifest == null ? null : manifest.path(OnnxExport.FILES).path(name).get("sha256");
                    hashes.put(name, known != null ? known.asText() : Sha256.ofFile(f));
                }
            }
        } catch (IOException e) {
            throw new NppException("--onnx-dir " + dir + ": cannot list it: " + e.getMessage(), e);
        }
        ObjectNode export = d.putObject("export");
        if (manifest != null) {
            for (String k : List.of("format", "format_version", "opset", "ir_version", "precision")) {
                if (manifest.has(k)) {
                    export.set(k, manifest.get(k));
                }
            }
            JsonNode published = withoutPaths(manifest);
            if (published.has("provenance")) {
                d.set("provenance", published.get("provenance"));
            }
            d.set("manifest", published);
        } else {
            Map<String, String> meta = metadata(generate);
            export.put("precision", meta.getOrDefault("nextpatch.precision", "unknown"));
            export.put("source", "graph metadata (no " + OnnxExport.MANIFEST + ")");
        }
        return new ServedModel(dir, gpt, vq, names, d);
    }

    /**
     * A copy in which every absolute path (the manifest's provenance records where the checkpoints
     * were) is cut to its file name: {@code /v1/model} does not tell clients about the server's disk.
     */
    static JsonNode withoutPaths(JsonNode n) {
        if (n.isTextual()) {
            String v = n.asText();
            boolean absolute = v.startsWith("/") || v.startsWith("\\\\") || v.startsWith("file:") || v.matches("(?s)[A-Za-z]:[\\\\/].*");
            return absolute ? JSON.getNodeFactory().textNode(v.substring(Math.max(v.lastIndexOf('/'), v.lastIndexOf('\\')) + 1)) : n;
        }
        if (n.isContainerNode()) {
            JsonNode copy = n.deepCopy();
            if (copy.isObject()) {
                ObjectNode o = (ObjectNode) copy;
                for (var it = n.fields(); it.hasNext(); ) {
                    var e = it.next();
                    o.set(e.getKey(), withoutPaths(e.getValue()));
                }
            } else {
                com.fasterxml.jackson.databind.node.ArrayNode a = (com.fasterxml.jackson.databind.node.ArrayNode) copy;
                for (int i = 0; i < a.size(); i++) {
                    a.set(i, withoutPaths(n.get(i)));
                }
            }
            return copy;
        }
        return n;
    }

    private static void checkNames(List<String> names, int numClasses, String from) {
        if (names.size() != numClasses) {
            throw new NppException(from + ": " + names.size() + " class names, but the model has " + numClasses + " classes");
        }
        var seen = new HashSet<String>();
        for (String n : names) {
            String k = n.strip().toLowerCase(Locale.ROOT);
            if (k.isEmpty() || !seen.add(k)) {
                throw new NppException(from + ": class names must be non-empty and distinct, got '" + n + "' twice or empty");
            }
        }
    }

    private static Map<String, String> metadata(Path file) {
        OnnxMl.ModelProto m = OnnxGraphBuilder.read(file);
        Map<String, String> out = new java.util.LinkedHashMap<>();
        for (OnnxMl.StringStringEntryProto e : m.getMetadataPropsList()) {
            out.put(e.getKey(), e.getValue());
        }
        return out;
    }

    private static JsonNode metadataJson(Path file, String key) {
        String v = metadata(file).get(key);
        if (v == null) {
            throw new NppException(file + " has no '" + key + "' metadata and its folder has no " + OnnxExport.MANIFEST
                    + "; export it with 'npp export-onnx'");
        }
        try {
            return JSON.readTree(v);
        } catch (IOException e) {
            throw new NppException(file + ": metadata '" + key + "' is not JSON: " + e.getMessage(), e);
        }
    }

    /** The export directory. */
    public Path dir() {
        return dir;
    }

    /** The GPT configuration. */
    public GptConfig gpt() {
        return gpt;
    }

    /** Whether {@code vq-decoder.onnx} is there (PNG output possible). */
    public boolean hasDecoder() {
        return vq != null;
    }

    /** Class names in class order, or null. */
    public List<String> classNames() {
        return classNames;
    }

    /** Image side in pixels, or 0 without a decoder. */
    public int imageSize() {
        return vq == null ? 0 : gpt.gridSide() * vq.downsample();
    }

    /** The {@code GET /v1/model} body (a copy). */
    public ObjectNode describe() {
        return description.deepCopy();
    }
}
