package org.nextpatch.tribuo;

import org.nextpatch.config.GptConfig;
import org.nextpatch.config.ModelFit;
import org.nextpatch.onnx.OnnxExport;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * {@link NppModel#exportOnnxGraphs}'s folder: the target check (never another model's export or a
 * user's files unless told to overwrite), the export itself ({@link OnnxExport}, all-or-nothing), and
 * the class names in the manifest.
 */
final class NppModelOnnx {
    private NppModelOnnx() {}

    static List<Path> export(GptConfig config, Map<String, Tensor> weights, List<String> classNames, Path dir,
                             OnnxGraphOptions o, Map<String, String> provenance, Map<String, String> graphMetadata) {
        if (!o.overwrite()) {
            checkTarget(dir, weights);
        }
        if (o.vq() != null) {
            ModelFit.check(config, o.vq(), "the NPP model", "the tokenizer");
        }
        // The exporter decides when weights go to an external file (protobuf's 2 GB limit).
        List<Path> files = OnnxExport.export(config, weights, o.vq(), o.vqWeights(), dir, o.fp16(), o.quantization(),
                null, provenance, graphMetadata);
        if (!classNames.isEmpty()) {
            OnnxExport.recordClassNames(dir, classNames);
        }
        return files;
    }

    /**
     * Refuses an export folder that holds something other than an export of these weights (by the
     * weights digest its manifest records).
     */
    private static void checkTarget(Path dir, Map<String, Tensor> weights) {
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (var s = Files.list(dir)) {
            if (s.findAny().isEmpty()) {
                return;
            }
        } catch (IOException e) {
            throw new NppException("exportOnnxGraphs: cannot list " + dir + ": " + e.getMessage(), e);
        }
        if (!Files.isRegularFile(dir.resolve(OnnxExport.MANIFEST))) {
            throw new NppException("exportOnnxGraphs: " + dir + " is not empty and holds no ONNX export; give a new "
                    + "folder, or OnnxGraphOptions.withOverwrite(true) to replace what it holds");
        }
        String have = OnnxExport.readManifest(dir).path("source").path(OnnxExport.GPT_WEIGHTS_SHA256).asText("");
        if (!have.equals(OnnxExport.weightsDigest(weights))) {
            throw new NppException("exportOnnxGraphs: " + dir + " holds the ONNX export of another model ("
                    + (have.isEmpty() ? "no weights digest recorded" : "weights sha256 " + have.substring(0, Math.min(12, have.length())) + "...")
                    + "); give a new folder, or OnnxGraphOptions.withOverwrite(true) to replace it");
        }
    }
}
