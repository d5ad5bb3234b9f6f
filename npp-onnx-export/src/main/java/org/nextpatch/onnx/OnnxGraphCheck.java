package org.nextpatch.onnx;

import ai.onnx.proto.OnnxMl;
import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import org.nextpatch.config.GptConfig;
import org.nextpatch.util.NppException;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Checks, before any request, that an opened graph is the model its configuration (the manifest's
 * {@code gpt_config}, {@code vq_config}) describes: its inputs and outputs have the names, element
 * types and fixed sizes the configuration implies, the graph is well formed ({@link OnnxChecker}),
 * and its tables have the configuration's sizes (the class table {@code num_classes + 1} rows, the
 * token table and output projection {@code vocab_size}, the decoder's codebook
 * {@code codebook_size}). A mismatch is one {@link NppException} naming the file, the value and the
 * configuration entry; otherwise it would only show as a failure on every request.
 */
public final class OnnxGraphCheck {

    private OnnxGraphCheck() {}

    /** {@code gpt-generate.onnx} ({@link GptOnnxExporter#buildGenerate}) against the GPT configuration. */
    public static void generate(Path file, OrtSession session, GptConfig cfg) {
        long t = cfg.blockSize();
        String tokens = "block_size " + t;
        Map<String, NodeInfo> in = inputs(file, session);
        expect(file, "input", in, "class_ids", OnnxJavaType.INT64, "", -1);
        expect(file, "input", in, "uniforms", OnnxJavaType.FLOAT, tokens, -1, t);
        expect(file, "input", in, "cfg_scale", OnnxJavaType.FLOAT, "");
        expect(file, "input", in, "cfg_interval", OnnxJavaType.INT64, "");
        expect(file, "input", in, "temperature", OnnxJavaType.FLOAT, "");
        expect(file, "input", in, "top_k", OnnxJavaType.INT64, "");
        expect(file, "input", in, "top_p", OnnxJavaType.FLOAT, "");
        expect(file, "input", in, "greedy", OnnxJavaType.BOOL, "");
        expect(file, "output", outputs(file, session), "tokens", OnnxJavaType.INT64, tokens, -1, t);
        Map<String, long[]> tables = tables(file);
        table(file, tables, "cls_embedding.embedding_table.weight", 0, cfg.numClasses() + 1L,
                "num_classes " + cfg.numClasses() + " plus one row for the unconditional class");
        table(file, tables, "tok_embeddings.weight", 0, cfg.vocabSize(), "vocab_size " + cfg.vocabSize());
        String quantized = tables.containsKey("output.weight.q4") ? "output.weight.q4"
                : tables.containsKey("output.weight.q8") ? "output.weight.q8" : null;
        if (quantized == null) {
            table(file, tables, "output.weight_t", 1, cfg.vocabSize(), "vocab_size " + cfg.vocabSize());
            table(file, tables, "output.weight_t", 0, cfg.dim(), "dim " + cfg.dim());
        } else {
            // MatMulNBits codes [N = vocab][blocks][bytes per block]: the blocks must cover dim exactly
            table(file, tables, quantized, 0, cfg.vocabSize(), "vocab_size " + cfg.vocabSize());
            long[] d = tables.get(quantized);
            int bits = quantized.endsWith("q4") ? 4 : 8;
            long block = d.length == 3 ? d[2] * 8 / bits : 0;
            if (block <= 0 || d[1] * block < cfg.dim() || (d[1] - 1) * block >= cfg.dim()) {
                throw new NppException(file + ": weight '" + quantized + "' is " + Arrays.toString(d)
                        + ", whose blocks do not cover the export's configuration (dim " + cfg.dim()
                        + "); the graphs and the configuration are of different models");
            }
        }
    }

    /**
     * {@code vq-decoder.onnx} ({@link VqDecoderOnnxExporter}): its inputs, outputs and codebook; the
     * image size is known only by running it ({@link OnnxVqDecoder#check}).
     */
    public static void decoder(Path file, OrtSession session, int codebookSize) {
        expect(file, "input", inputs(file, session), "codes", OnnxJavaType.INT64, "", -1, -1);
        expect(file, "output", outputs(file, session), "pixels", OnnxJavaType.UINT8, "", -1, -1, -1, 3);
        table(file, tables(file), "quantize.embedding.normalised", 0, codebookSize, "codebook_size " + codebookSize);
    }

    private static Map<String, NodeInfo> inputs(Path file, OrtSession s) {
        try {
            return s.getInputInfo();
        } catch (OrtException e) {
            throw new NppException(file + ": cannot list the graph's inputs: " + e.getMessage(), e);
        }
    }

    private static Map<String, NodeInfo> outputs(Path file, OrtSession s) {
        try {
            return s.getOutputInfo();
        } catch (OrtException e) {
            throw new NppException(file + ": cannot list the graph's outputs: " + e.getMessage(), e);
        }
    }

    /** A tensor input/output of this type and shape (-1: any size). */
    private static void expect(Path file, String kind, Map<String, NodeInfo> values, String name, OnnxJavaType type,
                               String why, long... shape) {
        NodeInfo n = values.get(name);
        if (n == null || !(n.getInfo() instanceof TensorInfo)) {
            throw new NppException(file + " is not a graph this project exported: it has no tensor " + kind + " '" + name + "'");
        }
        TensorInfo ti = (TensorInfo) n.getInfo();
        long[] have = ti.getShape();
        boolean fits = ti.type == type && have.length == shape.length;
        for (int i = 0; fits && i < shape.length; i++) {
            fits = shape[i] < 0 || have[i] == shape[i];
        }
        if (!fits) {
            throw new NppException(file + ": " + kind + " '" + name + "' is " + ti.type + " " + Arrays.toString(have)
                    + ", but the export's configuration" + (why.isEmpty() ? "" : " (" + why + ")") + " needs " + type + " "
                    + Arrays.toString(shape).replace("-1", "any"));
        }
    }

    private static void table(Path file, Map<String, long[]> tables, String name, int axis, long want, String why) {
        long[] dims = tables.get(name);
        if (dims == null || dims.length <= axis) {
            throw new NppException(file + " is not a graph this project exported: it has no weight '" + name + "'");
        }
        if (dims[axis] != want) {
            throw new NppException(file + ": weight '" + name + "' is " + Arrays.toString(dims) + ", but the export's configuration ("
                    + why + ") needs " + want + " along axis " + axis + "; the graphs and the configuration are of different models");
        }
    }

    /** Reads the model, checks its structure, and returns the dims of every initializer (subgraphs' too). */
    private static Map<String, long[]> tables(Path file) {
        OnnxMl.ModelProto m = OnnxGraphBuilder.read(file);
        List<String> problems = OnnxChecker.check(m, file.toAbsolutePath().getParent());
        if (!problems.isEmpty()) {
            throw new NppException(file + " is not a well-formed ONNX model: " + problems.get(0)
                    + (problems.size() > 1 ? " (and " + (problems.size() - 1) + " more problems)" : ""));
        }
        Map<String, long[]> out = new HashMap<>();
        collect(m.getGraph(), out);
        return out;
    }

    private static void collect(OnnxMl.GraphProto g, Map<String, long[]> out) {
        for (OnnxMl.TensorProto t : g.getInitializerList()) {
            out.put(t.getName(), t.getDimsList().stream().mapToLong(Long::longValue).toArray());
        }
        for (OnnxMl.NodeProto n : g.getNodeList()) {
            for (OnnxMl.AttributeProto a : n.getAttributeList()) {
                if (a.hasG()) {
                    collect(a.getG(), out);
                }
                a.getGraphsList().forEach(sub -> collect(sub, out));
            }
        }
    }
}
