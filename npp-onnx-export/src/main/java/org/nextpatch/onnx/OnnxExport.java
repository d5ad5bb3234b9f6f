package org.nextpatch.onnx;

import ai.onnx.proto.OnnxMl;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.config.GptConfig;
import org.nextpatch.config.VqConfig;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.AtomicFiles;
import org.nextpatch.util.NppException;
import org.nextpatch.util.Sha256;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Writes a complete ONNX export directory: the GPT graphs ({@code gpt-prefill.onnx},
 * {@code gpt-step.onnx}, {@code gpt-generate.onnx}), optionally {@code vq-decoder.onnx}, and
 * {@code manifest.json} describing them (configurations, opset, every graph's inputs and outputs,
 * precision, provenance, and {@code source}: what it was exported from, with a SHA-256 digest of the
 * GPT weights, and {@code files}: every other file's size and SHA-256). The export is written into a
 * fresh folder and swapped in whole, so an interrupted one leaves the earlier export as it was;
 * {@link #open} checks every file against the manifest and is what readers call first.
 * {@link #readGptConfig} reads the configuration back; {@link #checkTarget} and {@link #checkSource}
 * are the checks the command line makes before it writes into or reuses a folder.
 */
public final class OnnxExport {
    private static final Logger LOG = LogManager.getLogger(OnnxExport.class);
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Name of the manifest file in an export directory. */
    public static final String MANIFEST = "manifest.json";

    private OnnxExport() {}

    /**
     * Exports everything into {@code dir}.
     *
     * @param gpt          GPT configuration
     * @param gptWeights   GPT state dict (spec 6.3 names)
     * @param vq           VQ configuration, or null for no decoder graph
     * @param vqWeights    VQ state dict, or null
     * @param fp16         float16 projections in the GPT graphs
     * @param externalData force (true) or forbid (false) external weight files; null: automatic (GPT weights above 256 MB, VQ decoder above 1.5 GB)
     * @param provenance   free-form entries recorded in the manifest (source files, hashes, flags)
     * @return the files written
     */
    public static List<Path> export(GptConfig gpt, Map<String, Tensor> gptWeights, VqConfig vq, Map<String, Tensor> vqWeights,
                                    Path dir, boolean fp16, Boolean externalData, Map<String, String> provenance) {
        return export(gpt, gptWeights, vq, vqWeights, dir, fp16, externalData, provenance, Map.of());
    }

    /**
     * As {@link #export(GptConfig, Map, VqConfig, Map, Path, boolean, Boolean, Map)}, with extra
     * metadata entries in every GPT graph (e.g. a Tribuo model's provenance).
     *
     * @param graphMetadata metadata_props added to the GPT graphs
     * @return the files written
     */
    public static List<Path> export(GptConfig gpt, Map<String, Tensor> gptWeights, VqConfig vq, Map<String, Tensor> vqWeights,
                                    Path dir, boolean fp16, Boolean externalData, Map<String, String> provenance,
                                    Map<String, String> graphMetadata) {
        return export(gpt, gptWeights, vq, vqWeights, dir, fp16, null, externalData, provenance, graphMetadata);
    }

    /**
     * As {@link #export(GptConfig, Map, VqConfig, Map, Path, boolean, Boolean, Map, Map)}, with the GPT's
     * projection matrices quantized ({@link WeightQuantization}; null: float). The manifest then holds a
     * {@code quantization} object: the operator, bits, block size, accuracy level, the quantized
     * tensors and a SHA-256 digest of their bytes.
     *
     * @param quantization weight-only quantization, or null (not with fp16)
     * @return the files written
     */
    public static List<Path> export(GptConfig gpt, Map<String, Tensor> gptWeights, VqConfig vq, Map<String, Tensor> vqWeights,
                                    Path dir, boolean fp16, WeightQuantization quantization, Boolean externalData,
                                    Map<String, String> provenance, Map<String, String> graphMetadata) {
        GptOnnxExporter exporter = new GptOnnxExporter(gpt, gptWeights, fp16, quantization);
        Path target = realTarget(dir);
        Path tmp = exportFolder(target, dir);
        try {
            long t0 = System.nanoTime();
            writeAll(exporter, gpt, gptWeights, quantization, vq, vqWeights, tmp, externalData, provenance, graphMetadata);
            List<Path> files = new ArrayList<>();
            try (var s = Files.list(tmp)) {
                s.map(f -> target.resolve(f.getFileName().toString())).sorted().forEach(files::add);
            }
            swapIn(tmp, target);
            LOG.info("exported {} files to {} in {} s", files.size(), dir, String.format("%.1f", (System.nanoTime() - t0) / 1e9));
            return files;
        } catch (IOException e) {
            throw new NppException("--out " + dir + ": cannot export: " + AtomicFiles.reason(e), e);
        } finally {
            deleteTree(tmp);
        }
    }

    /** Every graph and the manifest (with each file's size and SHA-256 under {@code files}) into a fresh folder. */
    private static void writeAll(GptOnnxExporter exporter, GptConfig gpt, Map<String, Tensor> gptWeights,
                                 WeightQuantization quantization, VqConfig vq, Map<String, Tensor> vqWeights,
                                 Path dir, Boolean externalData, Map<String, String> provenance,
                                 Map<String, String> graphMetadata) throws IOException {
        List<Path> files = new ArrayList<>(exporter.exportAll(dir, externalData, graphMetadata));
        if (vq != null) {
            files.add(new VqDecoderOnnxExporter(vq, vqWeights).export(dir));
        }
        ObjectNode m = JSON.createObjectNode();
        m.put("format", "nextpatch-onnx");
        m.put("format_version", 1);
        m.put("opset", OnnxGraphBuilder.OPSET);
        m.put("ir_version", OnnxGraphBuilder.IR_VERSION);
        m.put("precision", exporter.precision());
        m.set("gpt_config", gpt.toJson());
        if (vq != null) {
            m.set("vq_config", vq.toJson());
        }
        ObjectNode graphs = m.putObject("graphs");
        for (Path f : files) {
            if (f.getFileName().toString().endsWith(".onnx")) {
                graphs.set(f.getFileName().toString(), describe(f));
            }
        }
        ObjectNode digests = m.putObject(FILES);
        try (var s = Files.list(dir)) {
            for (Path f : s.sorted().toList()) {
                digests.putObject(f.getFileName().toString()).put("size", Files.size(f)).put("sha256", Sha256.ofFile(f));
            }
        }
        ObjectNode source = m.putObject("source");
        source.put(GPT_WEIGHTS_SHA256, weightsDigest(gptWeights));
        if (vq != null) {
            source.put("vq_weights_sha256", weightsDigest(vqWeights));
        }
        if (quantization != null) {
            m.set("quantization", describe(quantization, exporter.quantizedTensors()));
        }
        ObjectNode prov = m.putObject("provenance");
        prov.put("created", Instant.now().toString());
        prov.put("producer", "nextpatch " + org.nextpatch.util.BuildInfo.version());
        prov.put("producer_commit", org.nextpatch.util.BuildInfo.commit());
        provenance.forEach(prov::put);
        AtomicFiles.writeString(dir.resolve(MANIFEST), JSON.writeValueAsString(m) + "\n");
    }

    /**
     * A fresh folder to export into: beside the target (so it can be renamed into place), or inside
     * it when the folder above cannot take one (a target the user may write but not its parent).
     */
    private static Path exportFolder(Path target, Path dir) {
        String prefix = AtomicFiles.TEMP_PREFIX + target.getFileName() + ".";
        try {
            Files.createDirectories(target.getParent());
            Path tmp;
            try {
                tmp = Files.createTempDirectory(target.getParent(), prefix);
            } catch (IOException besideFailed) {
                Files.createDirectories(target);
                tmp = Files.createTempDirectory(target, prefix);
            }
            AtomicFiles.readableByAll(tmp);
            return tmp;
        } catch (IOException e) {
            throw new NppException("--out " + dir + ": cannot create a folder to export into: " + AtomicFiles.reason(e), e);
        }
    }

    /** The folder to replace: a link to a folder is followed, so the link stays and its target is replaced. */
    private static Path realTarget(Path dir) {
        Path abs = dir.toAbsolutePath().normalize();
        if (Files.isSymbolicLink(abs)) {
            try {
                return abs.toRealPath();
            } catch (IOException e) {
                throw new NppException("--out " + dir + ": a link to a missing folder (" + AtomicFiles.reason(e) + ")", e);
            }
        }
        return abs;
    }

    /**
     * Puts a finished export in place of {@code target} by renames: a new folder is renamed to the
     * target; an existing one is first renamed aside, and after the swap the files it held that are
     * not part of an export (a user's notes) are moved into the new folder and the rest deleted. A
     * killed run leaves the old export or the new one, never a mixture (between the two renames, the
     * old one waits under a {@code .npp-tmp-} name beside it).
     */
    private static void swapIn(Path tmp, Path target) throws IOException {
        if (target.equals(tmp.getParent())) {
            moveFilesIn(tmp, target);
            return;
        }
        if (!Files.exists(target, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            Files.move(tmp, target, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            return;
        }
        if (!Files.isDirectory(target)) {
            throw new NppException("--out " + target + ": not a directory");
        }
        Path old = Files.createTempDirectory(target.getParent(), AtomicFiles.TEMP_PREFIX + target.getFileName() + ".old.");
        try {
            Files.move(target, old, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException cannotRename) {
            // a mount point, or a folder we may not rename: replace its files instead
            deleteTree(old);
            moveFilesIn(tmp, target);
            return;
        }
        Files.move(tmp, target, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        try (var s = Files.list(old)) {
            for (Path f : s.toList()) {
                String name = f.getFileName().toString();
                if (!isExportFile(f) && !Files.exists(target.resolve(name), java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                    Files.move(f, target.resolve(name), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
                }
            }
        }
        deleteTree(old);
    }

    /**
     * Replaces an export's files in place when the folder itself cannot be swapped: the old manifest
     * goes first and the new one comes last, and in between {@link #open} refuses the folder (no
     * manifest, or files that do not match it); graphs of the old export that the new one lacks are deleted.
     */
    static void moveFilesIn(Path tmp, Path target) throws IOException {
        Files.deleteIfExists(target.resolve(MANIFEST));
        try (var s = Files.list(target)) {
            for (Path f : s.toList()) {
                if (isExportFile(f) && !AtomicFiles.isTemporary(f) && !Files.exists(tmp.resolve(f.getFileName().toString()))) {
                    Files.delete(f);
                }
            }
        }
        List<Path> fresh;
        try (var s = Files.list(tmp)) {
            fresh = s.sorted(java.util.Comparator.comparing((Path f) -> f.getFileName().toString().equals(MANIFEST))).toList();
        }
        for (Path f : fresh) {
            Files.move(f, target.resolve(f.getFileName().toString()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** A file an export writes (the manifest, graphs, external weights) or a temporary file of one. */
    private static boolean isExportFile(Path f) {
        String name = f.getFileName().toString();
        return name.equals(MANIFEST) || name.endsWith(".onnx") || name.endsWith(".onnx.data") || AtomicFiles.isTemporary(f);
    }

    /** Deletes a folder of this project's making; best effort (a {@code .npp-tmp-} name left behind says what it is). */
    private static void deleteTree(Path p) {
        try {
            AtomicFiles.deleteTree(p);
        } catch (IOException e) {
            LOG.warn("could not remove {}: {}", p, AtomicFiles.reason(e));
        }
    }

    /** Manifest key of the files of an export: each one's {@code size} and {@code sha256}. */
    public static final String FILES = "files";

    /**
     * Opens an export folder: its manifest, after checking that every file the manifest lists is a
     * regular file of the recorded size and SHA-256, and that every graph (and its external weights)
     * is listed. What every reader of an export calls first ({@code npp sample --engine onnx},
     * {@code npp serve}, {@link OnnxSampler#open}), so a folder half-overwritten by another export, or
     * with one file replaced, is refused instead of silently sampling other weights. Hashing reads
     * every file once (see docs/benchmarks.md for the rate).
     *
     * @return the manifest
     * @throws NppException naming the folder and the first file that does not match
     */
    public static JsonNode open(Path dir) {
        JsonNode m = readManifest(dir);
        Path mf = dir.resolve(MANIFEST);
        JsonNode files = m.get(FILES);
        if (files == null || !files.isObject() || files.isEmpty()) {
            throw new NppException(mf + " lists no files with their SHA-256 (written by an older version, or not by npp); "
                    + "export again with 'npp export-onnx --overwrite'");
        }
        java.util.Set<String> needed = new java.util.TreeSet<>();
        m.path("graphs").fieldNames().forEachRemaining(needed::add);
        m.path("graphs").forEach(g -> {
            if (g.hasNonNull("external_data")) {
                needed.addAll(List.of(g.get("external_data").asText().split(",")));
            }
        });
        for (String n : needed) {
            if (!files.has(n)) {
                throw new NppException(mf + ": graph file " + n + " has no recorded SHA-256 under \"" + FILES + "\"");
            }
        }
        for (var it = files.fields(); it.hasNext(); ) {
            var e = it.next();
            String name = e.getKey();
            if (name.isEmpty() || name.contains("/") || name.contains("\\") || name.equals("..") || name.equals(".")) {
                throw new NppException(mf + ": \"" + FILES + "\" names '" + name + "', not a file of the folder");
            }
            Path f = org.nextpatch.util.RegularFiles.requireRegular(dir.resolve(name), "--onnx-dir " + dir + ":");
            long want = e.getValue().path("size").asLong(-1);
            String sha = e.getValue().path("sha256").asText("");
            long have;
            try {
                have = Files.size(f);
            } catch (IOException x) {
                throw new NppException(f + ": cannot read: " + AtomicFiles.reason(x), x);
            }
            if (have != want) {
                throw new NppException("--onnx-dir " + dir + ": " + name + " has " + have + " bytes, but " + MANIFEST
                        + " records " + want + " (an interrupted or mixed export?); export again with --overwrite");
            }
            if (!Sha256.ofFile(f).equals(sha)) {
                throw new NppException("--onnx-dir " + dir + ": " + name + " does not match its SHA-256 in " + MANIFEST
                        + " (changed after the export, or from another one); export again with --overwrite");
            }
        }
        return m;
    }

    /** The manifest's {@code quantization} object. */
    private static ObjectNode describe(WeightQuantization q, Map<String, WeightQuantization.Packed> tensors) {
        ObjectNode n = JSON.createObjectNode();
        n.put("operator", OnnxGraphBuilder.MS_DOMAIN + ".MatMulNBits");
        n.put("bits", q.bits());
        n.put("block_size", q.blockSize());
        n.put("accuracy_level", q.accuracyLevel());
        n.put("symmetric", true);
        n.put("scales", "float32");
        n.put("float_tensors", "embeddings, norms, RoPE tables");
        ArrayNode names = n.putArray("tensors");
        Map<String, Tensor> digested = new java.util.TreeMap<>();
        long bytes = 0;
        long floatBytes = 0;
        for (Map.Entry<String, WeightQuantization.Packed> e : tensors.entrySet()) {
            names.add(e.getKey());
            bytes += e.getValue().bytes();
            floatBytes += 4L * e.getValue().n() * e.getValue().k();
            digested.put(e.getKey() + q.codesSuffix(), e.getValue().codes());
            digested.put(e.getKey() + ".scales", e.getValue().scales());
        }
        n.put("bytes", bytes);
        n.put("float32_bytes", floatBytes);
        n.put("weights_sha256", weightsDigest(digested));
        return n;
    }

    /** Inputs and outputs (name, element type, shape with symbolic names) of a model file. */
    static ObjectNode describe(Path file) {
        OnnxMl.ModelProto model = OnnxGraphBuilder.read(file);
        ObjectNode n = JSON.createObjectNode();
        n.set("inputs", values(model.getGraph().getInputList()));
        n.set("outputs", values(model.getGraph().getOutputList()));
        java.util.Set<String> locations = new java.util.TreeSet<>();
        for (OnnxMl.TensorProto t : model.getGraph().getInitializerList()) {
            for (OnnxMl.StringStringEntryProto e : t.getExternalDataList()) {
                if (e.getKey().equals("location")) {
                    locations.add(e.getValue());
                }
            }
        }
        if (!locations.isEmpty()) {
            n.put("external_data", String.join(",", locations));
        }
        return n;
    }

    private static ArrayNode values(List<OnnxMl.ValueInfoProto> list) {
        ArrayNode a = JSON.createArrayNode();
        for (OnnxMl.ValueInfoProto v : list) {
            ObjectNode o = a.addObject();
            o.put("name", v.getName());
            OnnxMl.TypeProto.Tensor t = v.getType().getTensorType();
            OnnxMl.TensorProto.DataType dt = OnnxMl.TensorProto.DataType.forNumber(t.getElemType());
            o.put("type", dt == null ? "unknown" : dt.name().toLowerCase(java.util.Locale.ROOT));
            ArrayNode shape = o.putArray("shape");
            for (OnnxMl.TensorShapeProto.Dimension d : t.getShape().getDimList()) {
                if (d.hasDimValue()) {
                    shape.add(d.getDimValue());
                } else {
                    shape.add(d.getDimParam());
                }
            }
        }
        return a;
    }

    /** Manifest key (under {@code source}) of the GPT weights' digest. */
    public static final String GPT_WEIGHTS_SHA256 = "gpt_weights_sha256";

    /**
     * SHA-256 (hex) of a state dict: every tensor's name, type, shape and bytes, in name order. Two
     * exports have the same digest exactly when they were made from the same weights, whatever file
     * or model held them.
     */
    public static String weightsDigest(Map<String, Tensor> weights) {
        java.security.MessageDigest md = org.nextpatch.util.Sha256.digest();
        for (String name : new java.util.TreeSet<>(weights.keySet())) {
            Tensor t = weights.get(name);
            md.update((name + "\0" + t.dtype() + java.util.Arrays.toString(t.shape()) + "\0")
                    .getBytes(java.nio.charset.StandardCharsets.UTF_8));
            md.update(t.data().duplicate());
        }
        return org.nextpatch.util.Sha256.hex(md);
    }

    /**
     * Refuses to write an export into a folder that already holds one (or any files) unless
     * {@code overwrite}: an export is rewritten only when the user says so.
     *
     * @param flag the flag that named the folder, for the message
     */
    public static void checkTarget(Path dir, boolean overwrite, String flag) {
        if (overwrite || !Files.isDirectory(dir)) {
            return;
        }
        try (var s = Files.list(dir)) {
            if (s.findAny().isPresent()) {
                throw new NppException(flag + " " + dir + " is not empty (" + (Files.isRegularFile(dir.resolve(MANIFEST))
                        ? "it holds an ONNX export" : "it holds other files") + "); give a new folder or --overwrite");
            }
        } catch (IOException e) {
            throw new NppException(flag + " " + dir + ": cannot list the folder: " + e.getMessage(), e);
        }
    }

    /**
     * Checks that an export folder was made from these GPT weights (by the digest in its manifest);
     * a folder without a manifest, or whose manifest records no digest, is refused too.
     *
     * @param what how to name the weights in the message (e.g. "--gpt-ckpt gpt.pt")
     */
    public static void checkSource(Path dir, Map<String, Tensor> gptWeights, String what) {
        JsonNode m = open(dir);
        String have = m.path("source").path(GPT_WEIGHTS_SHA256).asText("");
        if (have.isEmpty()) {
            throw new NppException("--onnx-dir " + dir + ": its " + MANIFEST + " does not record which weights it was "
                    + "exported from; export again with --overwrite");
        }
        String want = weightsDigest(gptWeights);
        if (!have.equals(want)) {
            throw new NppException("--onnx-dir " + dir + " was exported from other weights (sha256 " + have.substring(0, 12)
                    + "..., " + m.path("provenance").path("gpt_ckpt").asText("a Tribuo model") + ") than " + what
                    + " (sha256 " + want.substring(0, 12) + "...); give another folder or --overwrite");
        }
    }

    /**
     * Refuses an export whose model has another shape than {@code want} (dimensions, layers, heads,
     * vocabulary, classes, block size, feed-forward width).
     *
     * @param have the export's configuration ({@link #readGptConfig})
     */
    public static void checkSameModel(GptConfig want, GptConfig have, Path dir) {
        boolean same = want.dim() == have.dim() && want.nLayer() == have.nLayer() && want.nHead() == have.nHead()
                && want.vocabSize() == have.vocabSize() && want.numClasses() == have.numClasses()
                && want.blockSize() == have.blockSize() && want.ffnHidden() == have.ffnHidden();
        if (!same) {
            throw new NppException("--onnx-dir " + dir + " holds an export of another model (" + have.toJson()
                    + "); the GPT flags describe " + want.toJson());
        }
    }

    /**
     * Records the model's class names (in class order) in an export's manifest, where {@code npp serve}
     * and other readers find them; the manifest is rewritten atomically.
     */
    public static void recordClassNames(Path dir, List<String> names) {
        JsonNode m = readManifest(dir);
        int classes = readGptConfig(dir).numClasses();
        if (names.size() != classes) {
            throw new NppException(names.size() + " class names for a model of " + classes + " classes");
        }
        ObjectNode copy = ((ObjectNode) m).deepCopy();
        copy.set("class_names", JSON.valueToTree(names));
        Path f = dir.resolve(MANIFEST);
        try {
            AtomicFiles.writeString(f, JSON.writeValueAsString(copy) + "\n");
        } catch (IOException e) {
            throw new NppException("cannot write " + f + ": " + AtomicFiles.reason(e), e);
        }
    }

    /** Largest manifest read: configurations, graph signatures and class names take kilobytes. */
    static final long MAX_MANIFEST_BYTES = 16L << 20;

    /** The manifest of an export directory; a folder without one is refused in one line. */
    public static JsonNode readManifest(Path dir) {
        Path f = dir.resolve(MANIFEST);
        if (!Files.exists(f)) {
            throw new NppException(dir + " has no " + MANIFEST + ": not a folder written by 'npp export-onnx' or "
                    + "NppModel.exportOnnxGraphs");
        }
        org.nextpatch.util.RegularFiles.requireRegular(f, null);
        try {
            if (Files.size(f) > MAX_MANIFEST_BYTES) {
                throw new NppException(f + ": " + Files.size(f) + " bytes, more than a manifest can need ("
                        + MAX_MANIFEST_BYTES + ")");
            }
            return JSON.readTree(f.toFile());
        } catch (IOException e) {
            throw new NppException(f + ": cannot read the manifest: " + e.getMessage(), e);
        }
    }

    /** The GPT configuration recorded in an export directory's manifest. */
    public static GptConfig readGptConfig(Path dir) {
        return gptConfig(dir, readManifest(dir));
    }

    /** The GPT configuration in a manifest read from {@code dir} (e.g. by {@link #open}). */
    public static GptConfig gptConfig(Path dir, JsonNode n) {
        try {
            return GptConfig.fromJson(n.get("gpt_config"));
        } catch (NppException e) {
            throw new NppException(dir.resolve(MANIFEST) + ": " + e.getMessage(), e);
        }
    }
}
