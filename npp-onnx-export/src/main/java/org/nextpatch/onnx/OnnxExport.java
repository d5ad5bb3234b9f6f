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
 * precision, provenance). {@link #readGptConfig} reads the configuration back for the sampler.
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
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new NppException("--out " + dir + ": cannot create directory: " + e.getMessage(), e);
        }
        long t0 = System.nanoTime();
        List<Path> files = new ArrayList<>(new GptOnnxExporter(gpt, gptWeights, fp16).exportAll(dir, externalData));
        if (vq != null) {
            files.add(new VqDecoderOnnxExporter(vq, vqWeights).export(dir));
        }
        ObjectNode m = JSON.createObjectNode();
        m.put("format", "nextpatch-onnx");
        m.put("format_version", 1);
        m.put("opset", OnnxGraphBuilder.OPSET);
        m.put("ir_version", OnnxGraphBuilder.IR_VERSION);
        m.put("precision", fp16 ? "float16-projections" : "float32");
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
        ObjectNode prov = m.putObject("provenance");
        prov.put("created", Instant.now().toString());
        prov.put("producer", "nextpatch " + version());
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

    /** The GPT configuration recorded in an export directory's manifest. */
    public static GptConfig readGptConfig(Path dir) {
        Path f = dir.resolve(MANIFEST);
        if (!Files.isRegularFile(f)) {
            throw new NppException("--onnx-dir " + dir + " has no " + MANIFEST + " (write it with 'npp export-onnx')");
        }
        try {
            JsonNode n = JSON.readTree(f.toFile());
            return GptConfig.fromJson(n.get("gpt_config"));
        } catch (IOException e) {
            throw new NppException(f + ": cannot read the manifest: " + e.getMessage(), e);
        } catch (NppException e) {
            throw new NppException(f + ": " + e.getMessage(), e);
        }
    }

    private static String version() {
        String v = OnnxExport.class.getPackage().getImplementationVersion();
        return v == null ? "(development build)" : v;
    }
}
