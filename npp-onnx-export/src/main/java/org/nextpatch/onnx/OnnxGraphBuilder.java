package org.nextpatch.onnx;

import ai.onnx.proto.OnnxMl;
import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.ByteString;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.AtomicFiles;
import org.nextpatch.util.NppException;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A small builder for ONNX graphs over the protobuf classes ({@code ai.onnx.proto.OnnxMl}), at
 * opset {@value #OPSET} and IR version {@value #IR_VERSION}.
 * <p>
 * Values are referred to by name (plain strings). Every op helper adds one node and returns the name
 * of its output; names are made unique across the whole model, subgraphs included, because ONNX
 * requires every value name to be assigned once (SSA) and a {@code Loop} body may read outer values.
 * Initializers always live in the top-level graph (a subgraph may read them from the outer scope).
 * <pre>{@code
 * OnnxGraphBuilder g = new OnnxGraphBuilder("mlp");
 * String x = g.input("x", DType.FLOAT32, "batch", 4);
 * String y = g.relu(g.gemm(x, g.initializer("w", w), g.initializer("b", b), false, true));
 * g.output(y, "y", DType.FLOAT32, "batch", 3);
 * g.save(Path.of("mlp.onnx"), Map.of("producer", "me"), false);
 * }</pre>
 * Shapes are given as a mix of {@code Integer}/{@code Long} (fixed), {@code String} (symbolic) and
 * {@code null} (unknown) dimensions.
 */
public final class OnnxGraphBuilder {

    /** The default ONNX operator set version written by this builder. */
    public static final int OPSET = 17;
    /** The IR version that goes with opset 17. */
    public static final int IR_VERSION = 8;

    /** Names used anywhere in the model, shared by a graph and its subgraphs. */
    private static final class Scope {
        final Set<String> used = new java.util.HashSet<>();
        final Map<String, Tensor> initializers = new LinkedHashMap<>();
        final Map<String, String> constants = new HashMap<>();
        /** Operator domains other than the default one used by nodes, with their opset versions. */
        final Map<String, Integer> domains = new java.util.TreeMap<>();
        /** Where subgraph-local initializers go when the model uses external data (null: inline). */
        ExternalDataFile sink;
        long localBytes;
        long inlineLocalBytes;
        int counter;

        String unique(String base) {
            String name = base;
            while (!used.add(name)) {
                name = base + "_" + (++counter);
            }
            return name;
        }
    }

    private final Scope scope;
    private final GraphProto.Builder graph;
    private final boolean root;
    /** Values computed by nodes of this graph, and those already declared as outputs. */
    private final Set<String> produced = new java.util.HashSet<>();
    private final Set<String> declaredOutputs = new java.util.HashSet<>();
    /** Initializers stored in this (sub)graph itself rather than in the top-level graph. */
    private final Map<String, Tensor> locals = new LinkedHashMap<>();

    /** A new top-level graph. */
    public OnnxGraphBuilder(String graphName) {
        this(new Scope(), graphName, true);
    }

    private OnnxGraphBuilder(Scope scope, String graphName, boolean root) {
        this.scope = scope;
        this.root = root;
        this.graph = GraphProto.newBuilder().setName(graphName);
    }

    /**
     * A builder for a subgraph (a {@code Loop} or {@code If} body) sharing this model's names and
     * initializers; finish it with {@link #buildGraph()} and pass it to {@link #loop}.
     */
    public OnnxGraphBuilder subgraph(String graphName) {
        return new OnnxGraphBuilder(scope, graphName, false);
    }

    /** A fresh name derived from {@code base}, never used before in this model. */
    public String fresh(String base) {
        return scope.unique(base);
    }

    // ------------------------------------------------------------------ types, inputs, outputs

    /** The ONNX element type of a project tensor type. */
    public static TensorProto.DataType onnxType(DType t) {
        return switch (t) {
            case FLOAT32 -> TensorProto.DataType.FLOAT;
            case FLOAT16 -> TensorProto.DataType.FLOAT16;
            case BFLOAT16 -> TensorProto.DataType.BFLOAT16;
            case FLOAT64 -> TensorProto.DataType.DOUBLE;
            case INT64 -> TensorProto.DataType.INT64;
            case INT32 -> TensorProto.DataType.INT32;
            case INT16 -> TensorProto.DataType.INT16;
            case INT8 -> TensorProto.DataType.INT8;
            case UINT8 -> TensorProto.DataType.UINT8;
            case BOOL -> TensorProto.DataType.BOOL;
        };
    }

    /** A tensor value description with a (partly symbolic) shape. */
    public static ValueInfoProto valueInfo(String name, DType type, Object... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (Object d : dims) {
            TensorShapeProto.Dimension.Builder db = TensorShapeProto.Dimension.newBuilder();
            if (d instanceof Number n) {
                db.setDimValue(n.longValue());
            } else if (d instanceof String s) {
                db.setDimParam(s);
            } else if (d != null) {
                throw new IllegalArgumentException("dimension must be a number, a name or null: " + d);
            }
            shape.addDim(db);
        }
        TypeProto.Tensor.Builder tt = TypeProto.Tensor.newBuilder().setElemType(onnxType(type).getNumber()).setShape(shape);
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(tt)).build();
    }

    /** A value description with element type only (any rank), e.g. for loop-body inputs. */
    public static ValueInfoProto valueInfoAnyShape(String name, DType type) {
        TypeProto.Tensor.Builder tt = TypeProto.Tensor.newBuilder().setElemType(onnxType(type).getNumber());
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(tt)).build();
    }

    /** Declares a graph input; the name is used as given (it must be new). Returns the name. */
    public String input(String name, DType type, Object... dims) {
        claim(name);
        graph.addInput(valueInfo(name, type, dims));
        return name;
    }

    /** Declares a graph input of unspecified shape (subgraph inputs). */
    public String inputAnyShape(String name, DType type) {
        claim(name);
        graph.addInput(valueInfoAnyShape(name, type));
        return name;
    }

    /**
     * Declares {@code value} as a graph output named {@code name}; if the names differ an
     * {@code Identity} node renames it. Returns the output name.
     */
    public String output(String value, String name, DType type, Object... dims) {
        String out = value;
        if (!value.equals(name)) {
            claim(name);
            addNode("Identity", List.of(value), List.of(name), List.of());
            out = name;
        }
        graph.addOutput(valueInfo(out, type, dims));
        return out;
    }

    /**
     * Declares {@code value} as an output of unspecified shape (subgraph outputs). A value computed
     * by a node of this graph is declared as it is; otherwise (a graph input, an outer-scope value, a
     * value already declared) an {@code Identity} copy named after {@code base} is. Returns the
     * output name.
     */
    public String outputAnyShape(String value, String base, DType type) {
        if (produced.contains(value) && declaredOutputs.add(value)) {
            // Made by a node of this graph and not yet an output: declare it directly, no copy
            // (in a Loop body an Identity would copy the whole key/value cache every iteration).
            graph.addOutput(valueInfoAnyShape(value, type));
            return value;
        }
        String out = scope.unique(base);
        addNode("Identity", List.of(value), List.of(out), List.of());
        graph.addOutput(valueInfoAnyShape(out, type));
        declaredOutputs.add(out);
        return out;
    }

    private void claim(String name) {
        if (!scope.used.add(name)) {
            throw new IllegalArgumentException("value name already used in this model: " + name);
        }
    }

    // ------------------------------------------------------------------ initializers and constants

    /**
     * Adds a weight (stored in the top-level graph). The name is made unique if taken; the final
     * name is returned.
     */
    public String initializer(String name, Tensor value) {
        String n = scope.unique(name);
        scope.initializers.put(n, value);
        return n;
    }

    /**
     * Adds a weight stored in this graph itself (for a subgraph: in the subgraph, not the top-level
     * graph). ONNX Runtime pre-packs constant weights for its matrix products only when they are
     * initializers of the graph that uses them; a Loop body reading top-level weights gets unpacked
     * products, about 2x slower at batch 1. Set {@link #externalDataSink} before building subgraphs
     * whose local weights should go to external data.
     */
    public String localInitializer(String name, Tensor value) {
        if (root) {
            return initializer(name, value);
        }
        String n = scope.unique(name);
        locals.put(n, value);
        scope.localBytes += value.numel() * value.dtype().bytes();
        return n;
    }

    /** Subgraph-local initializers of at least 1 KiB built after this call go to {@code data}. */
    public void externalDataSink(ExternalDataFile data) {
        scope.sink = data;
    }

    /** A float32 weight from an array. */
    public String initializer(String name, float[] values, long... shape) {
        return initializer(name, Tensor.ofFloats(shape, values));
    }

    /** An int64 1-D constant (deduplicated by value), e.g. a shape or axes list. */
    public String constI64(long... values) {
        return constant("i64:" + Arrays.toString(values), "c_i64", Tensor.ofLongs(new long[]{values.length}, values));
    }

    /** An int64 scalar constant (rank 0). */
    public String scalarI64(long value) {
        return constant("si64:" + value, "c_si64", Tensor.ofLongs(new long[0], new long[]{value}));
    }

    /** A float32 scalar constant (rank 0). */
    public String scalarF(float value) {
        return constant("sf:" + Float.floatToIntBits(value), "c_f", Tensor.ofFloats(new long[0], new float[]{value}));
    }

    /** A float32 1-D constant. */
    public String constF(float... values) {
        return constant("f:" + Arrays.toString(values), "c_f", Tensor.ofFloats(new long[]{values.length}, values));
    }

    /** A bool scalar constant. */
    public String scalarBool(boolean value) {
        return constant("b:" + value, "c_b", Tensor.ofBytes(DType.BOOL, new long[0], new byte[]{(byte) (value ? 1 : 0)}));
    }

    private String constant(String key, String base, Tensor t) {
        String existing = scope.constants.get(key);
        if (existing != null) {
            return existing;
        }
        String n = initializer(base, t);
        scope.constants.put(key, n);
        return n;
    }

    /** The initializers added so far (name to tensor), in order. */
    public Map<String, Tensor> initializers() {
        return java.util.Collections.unmodifiableMap(scope.initializers);
    }

    // ------------------------------------------------------------------ attributes

    /** A node attribute; make them with the static factories. */
    public record Attr(AttributeProto proto) {
        public static Attr i(String name, long v) {
            return new Attr(AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build());
        }

        public static Attr f(String name, float v) {
            return new Attr(AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(v).build());
        }

        public static Attr s(String name, String v) {
            return new Attr(AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.STRING)
                    .setS(ByteString.copyFromUtf8(v)).build());
        }

        public static Attr ints(String name, long... v) {
            AttributeProto.Builder b = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
            for (long x : v) {
                b.addInts(x);
            }
            return new Attr(b.build());
        }

        public static Attr floats(String name, float... v) {
            AttributeProto.Builder b = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOATS);
            for (float x : v) {
                b.addFloats(x);
            }
            return new Attr(b.build());
        }

        public static Attr tensor(String name, Tensor t) {
            return new Attr(AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.TENSOR)
                    .setT(tensorProto(name, t)).build());
        }

        public static Attr graph(String name, GraphProto g) {
            return new Attr(AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.GRAPH).setG(g).build());
        }
    }

    // ------------------------------------------------------------------ generic nodes

    /** Adds a node with one output and returns the output name. */
    public String op(String opType, List<String> inputs, Attr... attrs) {
        return op(opType, inputs, 1, attrs).get(0);
    }

    /** Adds a node with one output, inputs as varargs (no attributes). */
    public String op(String opType, String... inputs) {
        return op(opType, Arrays.asList(inputs));
    }

    /**
     * Adds a node with {@code nOutputs} outputs and returns their names. An empty string among the
     * inputs marks an omitted optional input.
     */
    public List<String> op(String opType, List<String> inputs, int nOutputs, Attr... attrs) {
        List<String> outs = new ArrayList<>(nOutputs);
        String base = opType.toLowerCase(java.util.Locale.ROOT);
        for (int i = 0; i < nOutputs; i++) {
            outs.add(scope.unique(base));
        }
        addNode(opType, inputs, outs, Arrays.asList(attrs));
        return outs;
    }

    /**
     * Adds a node of another operator domain (e.g. ONNX Runtime's {@value #MS_DOMAIN}) with one output;
     * the model then imports that domain at {@code version}.
     */
    public String opIn(String domain, int version, String opType, List<String> inputs, Attr... attrs) {
        scope.domains.put(domain, version);
        String out = scope.unique(opType.toLowerCase(java.util.Locale.ROOT));
        addNode(domain, opType, inputs, List.of(out), Arrays.asList(attrs));
        return out;
    }

    /** ONNX Runtime's contrib operator domain. */
    public static final String MS_DOMAIN = "com.microsoft";

    private void addNode(String opType, List<String> inputs, List<String> outputs, List<Attr> attrs) {
        addNode("", opType, inputs, outputs, attrs);
    }

    private void addNode(String domain, String opType, List<String> inputs, List<String> outputs, List<Attr> attrs) {
        NodeProto.Builder n = NodeProto.newBuilder().setOpType(opType).setName(scope.unique("n_" + opType));
        if (!domain.isEmpty()) {
            n.setDomain(domain);
        }
        n.addAllInput(inputs).addAllOutput(outputs);
        produced.addAll(outputs);
        for (Attr a : attrs) {
            n.addAttribute(a.proto());
        }
        graph.addNode(n);
    }

    // ------------------------------------------------------------------ op helpers (opset 17 signatures)

    public String add(String a, String b) { return op("Add", a, b); }
    public String sub(String a, String b) { return op("Sub", a, b); }
    public String mul(String a, String b) { return op("Mul", a, b); }
    public String div(String a, String b) { return op("Div", a, b); }
    public String pow(String a, String b) { return op("Pow", a, b); }
    public String sqrt(String a) { return op("Sqrt", a); }
    public String neg(String a) { return op("Neg", a); }
    public String exp(String a) { return op("Exp", a); }
    public String matMul(String a, String b) { return op("MatMul", a, b); }
    public String sigmoid(String a) { return op("Sigmoid", a); }
    public String relu(String a) { return op("Relu", a); }
    public String identity(String a) { return op("Identity", a); }
    public String not(String a) { return op("Not", a); }
    public String and(String a, String b) { return op("And", a, b); }
    public String or(String a, String b) { return op("Or", a, b); }
    public String equal(String a, String b) { return op("Equal", a, b); }
    public String less(String a, String b) { return op("Less", a, b); }
    public String greater(String a, String b) { return op("Greater", a, b); }
    public String max(String a, String b) { return op("Max", a, b); }
    public String min(String a, String b) { return op("Min", a, b); }
    public String shape(String a) { return op("Shape", a); }
    public String where(String cond, String a, String b) { return op("Where", cond, a, b); }
    public String expand(String a, String shape) { return op("Expand", a, shape); }
    public String tile(String a, String repeats) { return op("Tile", a, repeats); }
    public String range(String start, String limit, String delta) { return op("Range", start, limit, delta); }
    public String globalAveragePool(String a) { return op("GlobalAveragePool", a); }

    /**
     * ONNX Runtime's {@code com.microsoft.MatMulNBits}: {@code a [.., K]} times the block-quantized
     * weight {@code b [N, blocks, blob]} (uint8) with {@code scales [N * blocks]}, no zero points
     * (see {@link WeightQuantization} for the layout); output {@code [.., N]}.
     */
    public String matMulNBits(String a, String b, String scales, long k, long n, WeightQuantization q) {
        return opIn(MS_DOMAIN, 1, "MatMulNBits", List.of(a, b, scales), Attr.i("K", k), Attr.i("N", n),
                Attr.i("bits", q.bits()), Attr.i("block_size", q.blockSize()), Attr.i("accuracy_level", q.accuracyLevel()));
    }

    /** {@code x * sigmoid(x)} (SiLU / swish). */
    public String silu(String x) { return mul(x, sigmoid(x)); }

    /** General matrix multiply {@code alpha * A' B' + beta * C} with optional transposes; c may be null. */
    public String gemm(String a, String b, String c, boolean transA, boolean transB) {
        List<String> in = c == null ? List.of(a, b) : List.of(a, b, c);
        return op("Gemm", in, Attr.i("transA", transA ? 1 : 0), Attr.i("transB", transB ? 1 : 0));
    }

    /** Mean over axes (opset 17: axes is an attribute). */
    public String reduceMean(String x, boolean keepDims, long... axes) {
        return op("ReduceMean", List.of(x), Attr.ints("axes", axes), Attr.i("keepdims", keepDims ? 1 : 0));
    }

    /** Sum over axes (opset 13+: axes is an input). */
    public String reduceSum(String x, boolean keepDims, long... axes) {
        return op("ReduceSum", List.of(x, constI64(axes)), Attr.i("keepdims", keepDims ? 1 : 0));
    }

    /** Maximum over axes (opset 17: axes is an attribute). */
    public String reduceMax(String x, boolean keepDims, long... axes) {
        return op("ReduceMax", List.of(x), Attr.ints("axes", axes), Attr.i("keepdims", keepDims ? 1 : 0));
    }

    public String softmax(String x, long axis) { return op("Softmax", List.of(x), Attr.i("axis", axis)); }

    /** Reshape to a constant shape (0 copies a dimension, -1 infers one). */
    public String reshape(String x, long... shape) { return op("Reshape", x, constI64(shape)); }

    /** Reshape to a shape computed in the graph. */
    public String reshapeTo(String x, String shape) { return op("Reshape", x, shape); }

    public String transpose(String x, long... perm) { return op("Transpose", List.of(x), Attr.ints("perm", perm)); }

    /** Slice with constant starts/ends along the given axes (step 1). */
    public String slice(String x, long[] starts, long[] ends, long[] axes) {
        return op("Slice", x, constI64(starts), constI64(ends), constI64(axes));
    }

    /** Slice with starts/ends/axes (and optional steps, may be null) given as graph values. */
    public String sliceDynamic(String x, String starts, String ends, String axes, String steps) {
        return steps == null ? op("Slice", x, starts, ends, axes) : op("Slice", x, starts, ends, axes, steps);
    }

    public String concat(long axis, String... xs) { return op("Concat", Arrays.asList(xs), Attr.i("axis", axis)); }

    public String concat(long axis, List<String> xs) { return op("Concat", xs, Attr.i("axis", axis)); }

    public String gather(String data, String indices, long axis) { return op("Gather", List.of(data, indices), Attr.i("axis", axis)); }

    public String gatherElements(String data, String indices, long axis) {
        return op("GatherElements", List.of(data, indices), Attr.i("axis", axis));
    }

    public String scatterElements(String data, String indices, String updates, long axis) {
        return op("ScatterElements", List.of(data, indices, updates), Attr.i("axis", axis));
    }

    public String unsqueeze(String x, long... axes) { return op("Unsqueeze", x, constI64(axes)); }

    public String squeeze(String x, long... axes) { return op("Squeeze", x, constI64(axes)); }

    public String cast(String x, DType to) { return op("Cast", List.of(x), Attr.i("to", onnxType(to).getNumber())); }

    /** A tensor of the given (graph-computed) shape filled with a scalar value. */
    public String constantOfShape(String shape, Tensor scalarValue) {
        return op("ConstantOfShape", List.of(shape), Attr.tensor("value", scalarValue.reshape(1)));
    }

    /** Values and indices of the k largest (or smallest) entries along an axis, sorted. */
    public List<String> topK(String x, String k, long axis, boolean largest) {
        return op("TopK", List.of(x, k), 2, Attr.i("axis", axis), Attr.i("largest", largest ? 1 : 0), Attr.i("sorted", 1));
    }

    public String cumSum(String x, long axis) { return op("CumSum", x, scalarI64(axis)); }

    /** Index of the maximum (first one on ties). */
    public String argMax(String x, long axis, boolean keepDims) {
        return op("ArgMax", List.of(x), Attr.i("axis", axis), Attr.i("keepdims", keepDims ? 1 : 0), Attr.i("select_last_index", 0));
    }

    public String flatten(String x, long axis) { return op("Flatten", List.of(x), Attr.i("axis", axis)); }

    /** 2-D convolution with symmetric padding {@code pad}, stride and optional bias (may be null). */
    public String conv(String x, String w, String bias, int stride, int pad) {
        List<String> in = bias == null ? List.of(x, w) : List.of(x, w, bias);
        return op("Conv", in, Attr.ints("strides", stride, stride), Attr.ints("pads", pad, pad, pad, pad));
    }

    /** 2-D convolution with explicit pads {@code [top, left, bottom, right]}. */
    public String conv(String x, String w, String bias, int stride, long[] pads) {
        List<String> in = bias == null ? List.of(x, w) : List.of(x, w, bias);
        return op("Conv", in, Attr.ints("strides", stride, stride), Attr.ints("pads", pads));
    }

    public String maxPool(String x, int kernel, int stride) {
        return op("MaxPool", List.of(x), Attr.ints("kernel_shape", kernel, kernel), Attr.ints("strides", stride, stride));
    }

    /** Nearest-neighbour upsampling of an NCHW tensor by an integer factor (Resize, asymmetric, floor). */
    public String upsampleNearest(String x, float factor) {
        return op("Resize", List.of(x, "", constF(1f, 1f, factor, factor)),
                Attr.s("mode", "nearest"), Attr.s("coordinate_transformation_mode", "asymmetric"),
                Attr.s("nearest_mode", "floor"));
    }

    /**
     * ONNX {@code Loop}. Body graph signature: inputs (iteration_num, cond_in, carried...), outputs
     * (cond_out, carried..., scan_outputs...). Returns the final carried values followed by the
     * stacked scan outputs.
     *
     * @param maxTrips   int64 scalar trip count value (or "" for none)
     * @param cond       bool scalar initial condition (or "" for none)
     * @param carried    initial loop-carried values
     * @param body       the body built with {@link #subgraph}
     * @param nScanOutputs number of scan outputs of the body
     */
    public List<String> loop(String maxTrips, String cond, List<String> carried, GraphProto body, int nScanOutputs) {
        List<String> in = new ArrayList<>();
        in.add(maxTrips);
        in.add(cond);
        in.addAll(carried);
        return op("Loop", in, carried.size() + nScanOutputs, Attr.graph("body", body));
    }

    // ------------------------------------------------------------------ building and saving

    /** The graph built so far (for subgraphs: no initializers; they live in the top-level graph). */
    public GraphProto buildGraph() {
        if (locals.isEmpty()) {
            return graph.build();
        }
        GraphProto.Builder b = graph.clone();
        for (Map.Entry<String, Tensor> e : locals.entrySet()) {
            Tensor t = e.getValue();
            if (scope.sink != null && t.numel() * t.dtype().bytes() >= 1024) {
                b.addInitializer(externalTensorProto(e.getKey(), t, scope.sink.location(), scope.sink.put(e.getKey(), t)));
            } else {
                b.addInitializer(tensorProto(e.getKey(), t));
                scope.inlineLocalBytes += t.numel() * t.dtype().bytes();
            }
        }
        return b.build();
    }

    /** The whole model with every initializer stored inline. */
    public ModelProto build(Map<String, String> metadata) {
        return buildModel(metadata, null, null);
    }

    private ModelProto buildModel(Map<String, String> metadata, Map<String, long[]> external, String location) {
        if (!root) {
            throw new IllegalStateException("build() is for the top-level graph; use buildGraph() for a subgraph");
        }
        GraphProto.Builder g = graph.clone();
        for (Map.Entry<String, Tensor> e : scope.initializers.entrySet()) {
            long[] loc = external == null ? null : external.get(e.getKey());
            if (loc == null) {
                g.addInitializer(tensorProto(e.getKey(), e.getValue()));
            } else {
                g.addInitializer(externalTensorProto(e.getKey(), e.getValue(), location, loc));
            }
        }
        ModelProto.Builder m = ModelProto.newBuilder()
                .setIrVersion(IR_VERSION)
                .setProducerName("nextpatch")
                .setProducerVersion("0.1")
                .setDomain("org.nextpatch")
                .setModelVersion(1)
                .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET))
                .setGraph(g);
        scope.domains.forEach((d, v) -> m.addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain(d).setVersion(v)));
        if (metadata != null) {
            metadata.forEach((k, v) -> m.addMetadataProps(OnnxMl.StringStringEntryProto.newBuilder().setKey(k).setValue(v)));
        }
        return m.build();
    }

    /** Total bytes of all initializers, subgraph-local ones included. */
    public long initializerBytes() {
        long n = scope.localBytes;
        for (Tensor t : scope.initializers.values()) {
            n += t.numel() * t.dtype().bytes();
        }
        return n;
    }

    /**
     * Saves the model atomically. With {@code externalData} every initializer of at least 1 KiB is
     * written to {@code <file name>.data} beside the model (ONNX external data, offsets aligned to
     * 4 KiB), which the protobuf 2 GB limit requires for large models; ONNX Runtime finds it
     * relative to the model file.
     */
    public void save(Path file, Map<String, String> metadata, boolean externalData) {
        if (!externalData) {
            ModelProto m = build(metadata);
            AtomicFiles.write(file, m::writeTo);
            return;
        }
        try (ExternalDataFile data = new ExternalDataFile(file.resolveSibling(file.getFileName() + ".data"))) {
            ModelProto m = buildExternal(metadata, data);
            data.commit();
            AtomicFiles.write(file, m::writeTo);
        }
    }

    /**
     * The model with every initializer of at least 1 KiB written to {@code data} (shared between
     * graphs by initializer name) and referenced from the model; smaller ones stay inline. Commit
     * the data file before writing the model next to it.
     */
    public ModelProto buildExternal(Map<String, String> metadata, ExternalDataFile data) {
        if (scope.inlineLocalBytes > 1_500_000_000L) {
            throw new NppException("subgraph weights (" + scope.inlineLocalBytes / 1_000_000 + " MB) were built inline and "
                    + "would exceed protobuf's 2 GB limit; set externalDataSink before building the subgraphs "
                    + "(GptOnnxExporter.exportAll does)");
        }
        Map<String, long[]> offsets = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : scope.initializers.entrySet()) {
            Tensor t = e.getValue();
            if (t.numel() * t.dtype().bytes() >= 1024) {
                offsets.put(e.getKey(), data.put(e.getKey(), t));
            }
        }
        return buildModel(metadata, offsets, data.location());
    }

    /** A TensorProto holding the tensor's bytes inline (raw_data, little-endian as ONNX requires). */
    public static TensorProto tensorProto(String name, Tensor t) {
        TensorProto.Builder b = TensorProto.newBuilder().setName(name).setDataType(onnxType(t.dtype()).getNumber());
        for (long d : t.shape()) {
            b.addDims(d);
        }
        return b.setRawData(ByteString.copyFrom(t.data())).build();
    }

    private static TensorProto externalTensorProto(String name, Tensor t, String location, long[] offsetLength) {
        TensorProto.Builder b = TensorProto.newBuilder().setName(name).setDataType(onnxType(t.dtype()).getNumber());
        for (long d : t.shape()) {
            b.addDims(d);
        }
        b.setDataLocation(TensorProto.DataLocation.EXTERNAL);
        b.addExternalData(entry("location", location));
        b.addExternalData(entry("offset", Long.toString(offsetLength[0])));
        b.addExternalData(entry("length", Long.toString(offsetLength[1])));
        return b.build();
    }

    private static OnnxMl.StringStringEntryProto entry(String k, String v) {
        return OnnxMl.StringStringEntryProto.newBuilder().setKey(k).setValue(v).build();
    }

    /** Reads a model file (for checks and tests). */
    public static ModelProto read(Path file) {
        org.nextpatch.util.RegularFiles.requireRegular(file, "ONNX model");
        try (var in = java.nio.file.Files.newInputStream(file)) {
            return ModelProto.parseFrom(in);
        } catch (IOException e) {
            throw new NppException("cannot read ONNX model " + file + ": " + e.getMessage(), e);
        }
    }
}
