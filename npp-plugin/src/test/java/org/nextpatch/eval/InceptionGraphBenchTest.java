package org.nextpatch.eval;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.eval.OnnxFeatureModel.Kind;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Concat;
import org.tensorflow.proto.GraphDef;
import org.tensorflow.proto.NodeDef;
import org.tensorflow.types.TFloat32;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Opt-in benchmark: the evaluation speed of an Inception-v3-shaped graph (the layers and widths of
 * {@code classify_image_graph_def.pb}: 299 x 299 input, the stem, mixed_0..mixed_10, 2048 pool
 * features, 1008 classes; random weights, each convolution followed by a bias and ReLU where the
 * real graph has batch normalisation), fed and read as ADM's graph is, at ADM's batch size 64.
 * {@code -Dnpp.bench.inception=N} (images, 256 x 256 like ImageNet 256 samples). Prints the figures
 * quoted in docs/benchmarks.md.
 */
@EnabledIfSystemProperty(named = "npp.bench.inception", matches = "\\d+")
class InceptionGraphBenchTest {

    /** Builds the graph, tracking channels; weights He-scaled so activations stay finite. */
    private static final class Builder {
        final Ops tf;
        final Random r = new Random(2015);
        long params;
        int names;

        Builder(Ops tf) {
            this.tf = tf;
        }

        Operand<TFloat32> weights(long[] shape, double scale) {
            int n = 1;
            for (long s : shape) {
                n *= (int) s;
            }
            float[] w = new float[n];
            for (int i = 0; i < n; i++) {
                w[i] = (float) (r.nextGaussian() * scale);
            }
            params += n;
            return tf.constant(Shape.of(shape), DataBuffers.of(w, true, false));
        }

        /** conv (kh x kw, stride) + bias + ReLU; {@code name} names the ReLU (e.g. mixed_6__conv). */
        Operand<TFloat32> conv(Operand<TFloat32> x, int cin, int kh, int kw, int cout, int stride, String pad, String name) {
            var c = tf.nn.conv2d(x, weights(new long[]{kh, kw, cin, cout}, Math.sqrt(2.0 / (kh * kw * cin))),
                    List.of(1L, (long) stride, (long) stride, 1L), pad);
            var b = tf.nn.biasAdd(c, weights(new long[]{cout}, 0.01));
            return (name == null ? tf : tf.withName(name)).nn.relu(b);
        }

        Operand<TFloat32> conv(Operand<TFloat32> x, int cin, int k, int cout) {
            return conv(x, cin, k, k, cout, 1, "SAME", null);
        }

        Operand<TFloat32> pool(Operand<TFloat32> x, boolean max, int k, int stride, String pad) {
            List<Long> ks = List.of(1L, (long) k, (long) k, 1L);
            List<Long> st = List.of(1L, (long) stride, (long) stride, 1L);
            return max ? tf.nn.maxPool(x, tf.constant(new int[]{1, k, k, 1}), tf.constant(new int[]{1, stride, stride, 1}), pad)
                    : tf.nn.avgPool(x, ks, st, pad);
        }

        Operand<TFloat32> concat(List<Operand<TFloat32>> parts) {
            return Concat.create(tf.scope(), parts, tf.constant(3));
        }
    }

    static byte[] inceptionV3Shaped(long[] paramsOut) {
        try (Graph g = new Graph()) {
            Ops tf = Ops.create(g);
            Builder b = new Builder(tf);
            var cast = tf.withName("Cast").dtypes.cast(tf.constant(new byte[]{0, 0, 0}), TFloat32.class);
            var x0 = tf.withName("ExpandDims").expandDims(tf.reshape(cast, tf.constant(new int[]{1, 1, 3})), tf.constant(0));
            var resized = tf.withName("ResizeBilinear").image.resizeBilinear(x0, tf.constant(new int[]{299, 299}));
            Operand<TFloat32> x = tf.withName("Mul").math.mul(tf.withName("Sub").math.sub(resized, tf.constant(128f)),
                    tf.constant(1f / 128));
            x = b.conv(x, 3, 3, 3, 32, 2, "VALID", null);
            x = b.conv(x, 32, 3, 3, 32, 1, "VALID", null);
            x = b.conv(x, 32, 3, 64);
            x = b.pool(x, true, 3, 2, "VALID");
            x = b.conv(x, 64, 1, 1, 80, 1, "VALID", null);
            x = b.conv(x, 80, 3, 3, 192, 1, "VALID", null);
            x = b.pool(x, true, 3, 2, "VALID");
            int c = 192;
            for (int proj : new int[]{32, 64, 64}) { // mixed, mixed_1, mixed_2 (35 x 35)
                Operand<TFloat32> in = x;
                x = b.concat(List.of(b.conv(in, c, 1, 64), b.conv(b.conv(in, c, 1, 48), 48, 5, 64),
                        b.conv(b.conv(b.conv(in, c, 1, 64), 64, 3, 96), 96, 3, 96), b.conv(b.pool(in, false, 3, 1, "SAME"), c, 1, proj)));
                c = 64 + 64 + 96 + proj;
            }
            Operand<TFloat32> in3 = x; // mixed_3: 35 -> 17
            x = b.concat(List.of(b.conv(in3, c, 3, 3, 384, 2, "VALID", null),
                    b.conv(b.conv(b.conv(in3, c, 1, 64), 64, 3, 96), 96, 3, 3, 96, 2, "VALID", null), b.pool(in3, true, 3, 2, "VALID")));
            c = 768;
            int block = 4;
            for (int c7 : new int[]{128, 160, 160, 192}) { // mixed_4..mixed_7 (17 x 17); mixed_6/conv is mixed_6's first branch
                Operand<TFloat32> in = x;
                var first = b.conv(in, c, 1, 1, 192, 1, "SAME", block == 6 ? "mixed_6__conv" : null);
                var b7 = b.conv(b.conv(b.conv(in, c, 1, c7), c7, 1, 7, c7, 1, "SAME", null), c7, 7, 1, 192, 1, "SAME", null);
                Operand<TFloat32> d7 = b.conv(in, c, 1, c7);
                d7 = b.conv(d7, c7, 7, 1, c7, 1, "SAME", null);
                d7 = b.conv(d7, c7, 1, 7, c7, 1, "SAME", null);
                d7 = b.conv(d7, c7, 7, 1, c7, 1, "SAME", null);
                d7 = b.conv(d7, c7, 1, 7, 192, 1, "SAME", null);
                x = b.concat(List.of(first, b7, d7, b.conv(b.pool(in, false, 3, 1, "SAME"), c, 1, 192)));
                block++;
            }
            Operand<TFloat32> in8 = x; // mixed_8: 17 -> 8
            x = b.concat(List.of(b.conv(b.conv(in8, c, 1, 192), 192, 3, 3, 320, 2, "VALID", null),
                    b.conv(b.conv(b.conv(b.conv(in8, c, 1, 192), 192, 1, 7, 192, 1, "SAME", null), 192, 7, 1, 192, 1, "SAME", null),
                            192, 3, 3, 192, 2, "VALID", null),
                    b.pool(in8, true, 3, 2, "VALID")));
            c = 1280;
            for (int k = 0; k < 2; k++) { // mixed_9, mixed_10 (8 x 8)
                Operand<TFloat32> in = x;
                var e = b.conv(in, c, 1, 384);
                var f = b.conv(b.conv(in, c, 1, 448), 448, 3, 384);
                x = b.concat(List.of(b.conv(in, c, 1, 320),
                        b.conv(e, 384, 1, 3, 384, 1, "SAME", null), b.conv(e, 384, 3, 1, 384, 1, "SAME", null),
                        b.conv(f, 384, 1, 3, 384, 1, "SAME", null), b.conv(f, 384, 3, 1, 384, 1, "SAME", null),
                        b.conv(b.pool(in, false, 3, 1, "SAME"), c, 1, 192)));
                c = 2048;
            }
            var pool = tf.withName("pool_3").nn.avgPool(x, List.of(1L, 8L, 8L, 1L), List.of(1L, 1L, 1L, 1L), "VALID");
            var reshaped = tf.withName("pool_3___reshape").reshape(pool, tf.constant(new int[]{1, 2048}));
            tf.withName("softmax__logits__MatMul").linalg.matMul(reshaped, b.weights(new long[]{2048, 1008}, 0.02));
            paramsOut[0] = b.params;
            GraphDef.Builder def = g.toGraphDef().toBuilder();
            for (NodeDef.Builder node : def.getNodeBuilderList()) {
                node.setName(node.getName().replace("__", "/"));
                for (int i = 0; i < node.getInputCount(); i++) {
                    node.setInput(i, node.getInput(i).replace("__", "/"));
                }
            }
            return def.build().toByteArray();
        }
    }

    @Test
    void imagesPerSecondAtAdmBatchSize(@TempDir Path dir) throws Exception {
        int n = Integer.getInteger("npp.bench.inception");
        long[] params = new long[1];
        long t0 = System.nanoTime();
        byte[] def = inceptionV3Shaped(params);
        Path pb = dir.resolve("inception-v3-shaped.pb");
        Files.write(pb, def);
        System.out.printf(Locale.ROOT, "graph: %,d parameters, %,d bytes, built in %.1f s%n", params[0], def.length,
                (System.nanoTime() - t0) / 1e9);
        Random r = new Random(1);
        byte[] px = new byte[n * 256 * 256 * 3];
        r.nextBytes(px);
        ImageBatch images = ImageBatch.of("random", px, n, 256, 256, 3);
        try (FeatureModel m = FeatureModel.inceptionGraph(pb)) {
            long t1 = System.nanoTime();
            m.extract(ImageBatch.of("warm-up", java.util.Arrays.copyOf(px, 256 * 256 * 3), 1, 256, 256, 3), 1, "warm-up");
            System.out.printf(Locale.ROOT, "load + first image: %.1f s%n", (System.nanoTime() - t1) / 1e9);
            long t2 = System.nanoTime();
            Map<Kind, Features> f = m.extract(images, InceptionGraphModel.ADM_BATCH_SIZE, "bench");
            double s = (System.nanoTime() - t2) / 1e9;
            assertEquals(2048, f.get(Kind.POOL).d());
            assertEquals(17 * 17 * 7, f.get(Kind.SPATIAL).d());
            assertEquals(1008, f.get(Kind.LOGITS).d());
            f.get(Kind.LOGITS).requireFinite("logits");
            System.out.printf(Locale.ROOT, "%d images of 256x256 at batch %d: %.1f s, %.2f images/s (load average %.1f, %d CPUs)%n",
                    n, InceptionGraphModel.ADM_BATCH_SIZE, s, n / s,
                    java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage(),
                    Runtime.getRuntime().availableProcessors());
        }
    }
}
