package org.nextpatch.onnx;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Structural checks of an ONNX model, in the spirit of {@code onnx.checker} (there is no Python here):
 * an IR version and a default-domain opset are declared; every node input is defined before use (a
 * graph input, an initializer, an earlier node's output, or for subgraphs a value of an enclosing
 * scope); every value is assigned once across the whole model; every graph output is produced;
 * initializers hold exactly as many bytes as their shape needs (inline or external, the external
 * file existing and long enough); every node has an op type.
 */
public final class OnnxChecker {

    private OnnxChecker() {}

    /** Checks a model file; returns the list of problems (empty when the model is well formed). */
    public static List<String> check(Path modelFile) {
        ModelProto m;
        try {
            m = OnnxGraphBuilder.read(modelFile);
        } catch (RuntimeException e) {
            return List.of("not a well-formed ONNX protobuf: " + e.getMessage());
        }
        return check(m, modelFile.toAbsolutePath().getParent());
    }

    /** Checks a model; {@code dir} (may be null) resolves external data files. */
    public static List<String> check(ModelProto m, Path dir) {
        List<String> problems = new ArrayList<>();
        if (m.getIrVersion() < 3) {
            problems.add("ir_version " + m.getIrVersion() + " is missing or too old");
        }
        boolean defaultOpset = m.getOpsetImportList().stream().anyMatch(o -> o.getDomain().isEmpty() && o.getVersion() > 0);
        if (!defaultOpset) {
            problems.add("no opset_import for the default ONNX domain");
        }
        if (!m.hasGraph()) {
            problems.add("model has no graph");
            return problems;
        }
        Set<String> assigned = new HashSet<>();
        checkGraph(m.getGraph(), new HashSet<>(), assigned, dir, problems, "graph '" + m.getGraph().getName() + "'");
        return problems;
    }

    private static void checkGraph(GraphProto g, Set<String> outer, Set<String> assigned, Path dir,
                                   List<String> problems, String where) {
        Set<String> visible = new HashSet<>(outer);
        for (ValueInfoProto in : g.getInputList()) {
            define(in.getName(), visible, assigned, problems, where + " input");
        }
        for (TensorProto t : g.getInitializerList()) {
            checkInitializer(t, dir, problems, where);
            // An initializer may share its name with a graph input (a default value); only count it once.
            if (!visible.contains(t.getName())) {
                define(t.getName(), visible, assigned, problems, where + " initializer");
            }
        }
        for (NodeProto n : g.getNodeList()) {
            String nodeWhere = where + " node '" + n.getName() + "' (" + n.getOpType() + ")";
            if (n.getOpType().isEmpty()) {
                problems.add(nodeWhere + ": no op_type");
            }
            for (String in : n.getInputList()) {
                if (!in.isEmpty() && !visible.contains(in)) {
                    problems.add(nodeWhere + ": input '" + in + "' is not defined before use");
                }
            }
            for (AttributeProto a : n.getAttributeList()) {
                if (a.getType() == AttributeProto.AttributeType.GRAPH || a.hasG()) {
                    checkGraph(a.getG(), visible, assigned, dir, problems, nodeWhere + " attribute " + a.getName());
                }
                for (GraphProto sub : a.getGraphsList()) {
                    checkGraph(sub, visible, assigned, dir, problems, nodeWhere + " attribute " + a.getName());
                }
            }
            for (String out : n.getOutputList()) {
                if (!out.isEmpty()) {
                    define(out, visible, assigned, problems, nodeWhere + " output");
                }
            }
        }
        for (ValueInfoProto out : g.getOutputList()) {
            if (!visible.contains(out.getName())) {
                problems.add(where + ": output '" + out.getName() + "' is never produced");
            }
        }
    }

    private static void define(String name, Set<String> visible, Set<String> assigned, List<String> problems, String where) {
        if (name.isEmpty()) {
            problems.add(where + ": empty value name");
            return;
        }
        if (!assigned.add(name)) {
            problems.add(where + ": value '" + name + "' is assigned more than once");
        }
        visible.add(name);
    }

    private static void checkInitializer(TensorProto t, Path dir, List<String> problems, String where) {
        long n = 1;
        for (long d : t.getDimsList()) {
            if (d < 0) {
                problems.add(where + ": initializer '" + t.getName() + "' has a negative dimension");
                return;
            }
            n *= d;
        }
        int size = elementSize(t.getDataType());
        if (size <= 0) {
            return; // strings and exotic types: not produced by this project
        }
        long need = n * size;
        if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
            String loc = null;
            long offset = 0;
            long length = -1;
            for (var e : t.getExternalDataList()) {
                switch (e.getKey()) {
                    case "location" -> loc = e.getValue();
                    case "offset" -> offset = Long.parseLong(e.getValue());
                    case "length" -> length = Long.parseLong(e.getValue());
                    default -> { }
                }
            }
            if (loc == null || loc.isEmpty()) {
                problems.add(where + ": external initializer '" + t.getName() + "' has no location");
                return;
            }
            if (length >= 0 && length != need) {
                problems.add(where + ": external initializer '" + t.getName() + "' length " + length + " != " + need);
            }
            if (dir != null) {
                Path f = dir.resolve(loc);
                try {
                    if (!Files.exists(f) || Files.size(f) < offset + need) {
                        problems.add(where + ": external data file " + f + " is missing or too short for '" + t.getName() + "'");
                    }
                } catch (java.io.IOException e) {
                    problems.add(where + ": cannot read " + f + ": " + e.getMessage());
                }
            }
            return;
        }
        long have;
        if (t.hasRawData()) {
            have = t.getRawData().size();
        } else {
            have = (long) size * (t.getFloatDataCount() + t.getInt64DataCount() + t.getDoubleDataCount())
                    + (long) t.getInt32DataCount() * (size);
        }
        if (have != need) {
            problems.add(where + ": initializer '" + t.getName() + "' holds " + have + " bytes, its shape needs " + need);
        }
    }

    private static int elementSize(int dataType) {
        TensorProto.DataType dt = TensorProto.DataType.forNumber(dataType);
        if (dt == null) {
            return -1;
        }
        return switch (dt) {
            case FLOAT, INT32, UINT32 -> 4;
            case DOUBLE, INT64, UINT64 -> 8;
            case FLOAT16, BFLOAT16, INT16, UINT16 -> 2;
            case INT8, UINT8, BOOL -> 1;
            default -> -1;
        };
    }
}
