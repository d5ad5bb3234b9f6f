package org.nextpatch.onnx;

import ai.onnx.proto.OnnxMl.GraphProto;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Tensor;

import java.util.List;

/**
 * The in-graph draw of the generate and step graphs, mirroring {@code org.nextpatch.sample.TokenChooser}
 * and the guidance of spec 6.5 step by step in float32: guided logits, then greedy argmax or
 * temperature, top-k (ties kept), top-p (the first crossing entry kept), softmax and the first index
 * whose running sum exceeds the uniform. The sampling settings are graph inputs, named here.
 */
final class SamplingGraph {
    private final int vocab;
    private final String scale;
    private final String temperature;
    private final String topK;
    private final String topP;
    private final String greedy;

    SamplingGraph(int vocab, String scale, String temperature, String topK, String topP, String greedy) {
        this.vocab = vocab;
        this.scale = scale;
        this.temperature = temperature;
        this.topK = topK;
        this.topP = topP;
        this.greedy = greedy;
    }

    /** Guided logits {@code u + s (c - u)} where {@code flag}, else the conditional rows. */
    String guide(OnnxGraphBuilder g, String logits, String b, String b2, String flag) {
        String axis0 = g.constI64(0);
        String c = g.sliceDynamic(logits, g.constI64(0), b, axis0, null);
        String u = g.sliceDynamic(logits, g.sub(b2, b), b2, axis0, null);
        String guided = g.add(u, g.mul(g.sub(c, u), scale));
        return g.where(flag, guided, c);
    }

    /** One token per row of {@code x [B, V]} with uniforms {@code u [B]}. */
    String choose(OnnxGraphBuilder g, String x, String u) {
        OnnxGraphBuilder argmax = g.subgraph("greedy_branch");
        argmax.outputAnyShape(argmax.argMax(x, -1, false), "tok_greedy", DType.INT64);
        OnnxGraphBuilder draw = g.subgraph("draw_branch");
        draw.outputAnyShape(draw(draw, x, u), "tok_drawn", DType.INT64);
        return ifElse(g, greedy, argmax.buildGraph(), draw.buildGraph());
    }

    private String draw(OnnxGraphBuilder g, String logits, String u) {
        String x = g.div(logits, g.max(temperature, g.scalarF(1e-5f)));
        String negInf = g.scalarF(Float.NEGATIVE_INFINITY);

        // top-k: entries below the k-th largest value -> -inf (ties kept); only when 0 < k < V.
        OnnxGraphBuilder kOn = g.subgraph("top_k_on");
        String kVals = kOn.topK(x, kOn.unsqueeze(topK, 0), -1, true).get(0);
        String kth = kOn.sliceDynamic(kVals, kOn.unsqueeze(kOn.sub(topK, g.scalarI64(1)), 0),
                kOn.unsqueeze(topK, 0), g.constI64(1), null);           // [B, 1]
        kOn.outputAnyShape(kOn.where(kOn.less(x, kth), negInf, x), "x_top_k", DType.FLOAT32);
        OnnxGraphBuilder kOff = g.subgraph("top_k_off");
        kOff.outputAnyShape(x, "x_no_top_k", DType.FLOAT32);
        String kActive = g.and(g.greater(topK, g.scalarI64(0)), g.less(topK, g.scalarI64(vocab)));
        x = ifElse(g, kActive, kOn.buildGraph(), kOff.buildGraph());

        // top-p: sort descending (ties in index order), cumulative softmax, drop entries after the
        // first one whose cumulative probability exceeds p.
        OnnxGraphBuilder pOn = g.subgraph("top_p_on");
        List<String> sorted = pOn.topK(x, g.constI64(vocab), -1, true);
        String cum = pOn.cumSum(pOn.softmax(sorted.get(0), -1), 1);
        String exceeds = pOn.greater(cum, topP);
        String shape = pOn.shape(x);
        String firstCol = pOn.constantOfShape(pOn.concat(0, pOn.slice(shape, new long[]{0}, new long[]{1}, new long[]{0}), g.constI64(1)),
                Tensor.ofBytes(DType.BOOL, new long[]{1}, new byte[]{0}));
        String removeSorted = pOn.concat(1, firstCol, pOn.slice(exceeds, new long[]{0}, new long[]{vocab - 1L}, new long[]{1}));
        String newSorted = pOn.where(removeSorted, negInf, sorted.get(0));
        pOn.outputAnyShape(pOn.scatterElements(x, sorted.get(1), newSorted, 1), "x_top_p", DType.FLOAT32);
        OnnxGraphBuilder pOff = g.subgraph("top_p_off");
        pOff.outputAnyShape(x, "x_no_top_p", DType.FLOAT32);
        x = ifElse(g, g.less(topP, g.scalarF(1f)), pOn.buildGraph(), pOff.buildGraph());

        // Inverse CDF in index order: the first index whose running sum exceeds u.
        String p = g.softmax(x, -1);
        String running = g.cumSum(p, 1);
        String below = g.op("LessOrEqual", running, g.unsqueeze(u, 1));
        String count = g.reduceSum(g.cast(below, DType.INT64), false, 1); // [B]
        String index = g.range(g.scalarI64(0), g.scalarI64(vocab), g.scalarI64(1));
        String lastPositive = g.reduceMax(g.where(g.greater(p, g.scalarF(0f)), index, g.scalarI64(-1)), false, 1);
        return g.where(g.less(count, g.scalarI64(vocab)), count, lastPositive);
    }

    /** An ONNX {@code If}: the branch graphs' single output, chosen by {@code cond}. */
    static String ifElse(OnnxGraphBuilder g, String cond, GraphProto thenBranch, GraphProto elseBranch) {
        return g.op("If", List.of(cond), OnnxGraphBuilder.Attr.graph("then_branch", thenBranch),
                OnnxGraphBuilder.Attr.graph("else_branch", elseBranch));
    }
}
