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
 * GPT weights). {@link #readGptConfig} reads the configuration back for the sampler;
 * {@link #checkTarget} and {@link #checkSource} are the checks the command line makes before it
 * writes into or reuses a folder.
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
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new NppException("--out " + dir + ": cannot create directory: " + e.getMessage(), e);
        }
        long t0 = System.nanoTime();
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
        Path manifest = dir.resolve(MANIFEST);
        try {
            AtomicFiles.writeString(manifest, JSON.writeValueAsString(m) + "\n");
        } catch (IOException e) {
            throw new NppException("cannot write " + manifest + ": " + e.getMessage(), e);
        }
        files.add(manifest);
        LOG.info("exported {} files to {} in {} s", files.size(), dir, String.format("%.1f", (System.nanoTime() - t0) / 1e9));
        return files;
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
        JsonNode m = readManifest(dir);
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

    /** The manifest of an export directory; a folder without one is refused in one line. */
    public static JsonNode readManifest(Path dir) {
        Path f = dir.resolve(MANIFEST);
        if (!Files.isRegularFile(f)) {
            throw new NppException(dir + " has no " + MANIFEST + ": not a folder written by 'npp export-onnx' or "
                    + "NppModel.exportOnnxGraphs");
        }
        try {
            return JSON.readTree(f.toFile());
        } catch (IOException e) {
            throw new NppException(f + ": cannot read the manifest: " + e.getMessage(), e);
        }
    }

    /** The GPT configuration recorded in an export directory's manifest. */
    public static GptConfig readGptConfig(Path dir) {
        JsonNode n = readManifest(dir);
        try {
            return GptConfig.fromJson(n.get("gpt_config"));
        } catch (NppException e) {
            throw new NppException(dir.resolve(MANIFEST) + ": " + e.getMessage(), e);
        }
    }
}
