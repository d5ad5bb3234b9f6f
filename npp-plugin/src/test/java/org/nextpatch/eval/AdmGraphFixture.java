package org.nextpatch.eval;

import org.nextpatch.eval.OnnxFeatureModel.Kind;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.image.DecodeJpeg;
import org.tensorflow.proto.GraphDef;
import org.tensorflow.proto.NodeDef;
import org.tensorflow.types.TFloat32;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A small stand-in for ADM's {@code classify_image_graph_def.pb}, built with TensorFlow's ops API,
 * with the tensor names the evaluator reads and the real graph's traps: the images enter through
 * {@code DecodeJpeg/contents} (here not even a JPEG: running it fails) -> {@code Cast} ->
 * {@code ExpandDims} (fed, not a placeholder) -> {@code ResizeBilinear} to a fixed size ->
 * {@code Sub} 128 -> {@code Mul} 1/128 -> a 3x3 stride-2 convolution + ReLU named
 * {@code mixed_6/conv} -> a 1x1 convolution + ReLU -> {@code pool_3} (average over the map,
 * {@code [N, 1, 1, D]}) -> {@code pool_3/_reshape} fixed to {@code [1, D]} ->
 * {@code softmax/logits/MatMul} with {@code softmax/weights} -> {@code softmax/logits} (+ biases,
 * which the evaluator leaves out) -> {@code softmax}.
 * <p>
 * {@link #plainJava()} computes the same network in plain Java (float64) from the same weights:
 * the independent computation the TensorFlow path is checked against.
 */
public final class AdmGraphFixture {
    final int size;     // resize target (299 in the real graph)
    final int c1;       // channels of mixed_6/conv
    final int d;        // pool features
    final int classes;
    final int map;      // side of the mixed_6/conv map
    final float[] w1;   // [3, 3, 3, c1] HWIO
    final float[] b1;
    final float[] w2;   // [c1, d]
    final float[] b2;
    final float[] wsm;  // [d, classes]
    final float[] bsm;

    public AdmGraphFixture(long seed, int size, int c1, int d, int classes) {
        this.size = size;
        this.c1 = c1;
        this.d = d;
        this.classes = classes;
        this.map = (size - 3) / 2 + 1;
        Random r = new Random(seed);
        w1 = gaussian(r, 27 * c1, 0.3);
        b1 = gaussian(r, c1, 0.1);
        w2 = gaussian(r, c1 * d, 0.5);
        b2 = gaussian(r, d, 0.1);
        wsm = gaussian(r, d * classes, 3.0);
        bsm = gaussian(r, classes, 2.0);
    }

    private static float[] gaussian(Random r, int n, double scale) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (r.nextGaussian() * scale);
        }
        return x;
    }

    private static Operand<TFloat32> constant(Ops tf, String name, float[] v, long... shape) {
        return named(tf, name).constant(Shape.of(shape), DataBuffers.of(v, true, false));
    }

    /**
     * Ops named {@code a/b} in the GraphDef: TensorFlow Java refuses names such as
     * {@code pool_3/_reshape} and {@code mixed_6/conv} beside {@code mixed_6/conv/Conv2D}, so the op
     * is named {@code a__b} and {@link #graphDef} renames it.
     */
    private static Ops named(Ops tf, String name) {
        return tf.withName(name.replace("/", "__"));
    }

    /** Node names and input references with {@code __} turned into {@code /}. */
    private static GraphDef renamed(GraphDef def) {
        GraphDef.Builder b = def.toBuilder();
        for (NodeDef.Builder node : b.getNodeBuilderList()) {
            node.setName(node.getName().replace("__", "/"));
            for (int i = 0; i < node.getInputCount(); i++) {
                node.setInput(i, node.getInput(i).replace("__", "/"));
            }
        }
        return b.build();
    }

    /** The serialized GraphDef. */
    public byte[] graphDef() {
        return graphDef(true);
    }

    /** The GraphDef, optionally without {@code mixed_6/conv} (its conv output then has another name). */
    byte[] graphDef(boolean withSpatialName) {
        try (Graph g = new Graph()) {
            Ops tf = Ops.create(g);
            var contents = named(tf, "DecodeJpeg/contents").constant("not a jpeg");
            var decoded = tf.withName("DecodeJpeg").image.decodeJpeg(contents, DecodeJpeg.channels(3L));
            var cast = tf.withName("Cast").dtypes.cast(decoded, TFloat32.class);
            var expand = tf.withName("ExpandDims").expandDims(cast, tf.constant(0));
            var resized = tf.withName("ResizeBilinear").image.resizeBilinear(expand, tf.constant(new int[]{size, size}));
            var sub = tf.withName("Sub").math.sub(resized, named(tf, "Sub/y").constant(128f));
            var mul = tf.withName("Mul").math.mul(sub, named(tf, "Mul/y").constant(1f / 128));
            var conv1 = named(tf, "mixed_6/conv/Conv2D").nn.conv2d(mul, constant(tf, "mixed_6/conv/conv2d_params", w1, 3, 3, 3, c1),
                    List.of(1L, 2L, 2L, 1L), "VALID");
            var relu1 = named(tf, withSpatialName ? "mixed_6/conv" : "mixed_6/conv_relu").nn.relu(
                    named(tf, "mixed_6/conv/bias").nn.biasAdd(conv1, constant(tf, "mixed_6/conv/b", b1, c1)));
            var conv2 = named(tf, "mixed_10/conv/Conv2D").nn.conv2d(relu1, constant(tf, "mixed_10/conv/conv2d_params", w2, 1, 1, c1, d),
                    List.of(1L, 1L, 1L, 1L), "VALID");
            var relu2 = named(tf, "mixed_10/join").nn.relu(
                    named(tf, "mixed_10/conv/bias").nn.biasAdd(conv2, constant(tf, "mixed_10/conv/b", b2, d)));
            var pool = tf.withName("pool_3").nn.avgPool(relu2, List.of(1L, (long) map, (long) map, 1L), List.of(1L, 1L, 1L, 1L), "VALID");
            var reshaped = named(tf, "pool_3/_reshape").reshape(pool, tf.constant(new int[]{1, d}));
            var matmul = named(tf, "softmax/logits/MatMul").linalg.matMul(reshaped, constant(tf, "softmax/weights", wsm, d, classes));
            var logits = named(tf, "softmax/logits").nn.biasAdd(matmul, constant(tf, "softmax/biases", bsm, classes));
            tf.withName("softmax").nn.softmax(logits);
            return renamed(g.toGraphDef()).toByteArray();
        }
    }

    /** The same network in plain Java, float64, as a feature model (logits without the bias, as ADM). */
    public FeatureModel plainJava() {
        return new FeatureModel() {
            public boolean has(Kind k) { return true; }
            public String whyMissing(Kind k) { return ""; }
            public Map<String, String> provenance() { return new LinkedHashMap<>(); }
            public void close() {}
            public Map<Kind, Features> run(byte[] nhwc, long[] shape, String source) {
                return features(nhwc, (int) shape[0], (int) shape[1], (int) shape[2]);
            }
        };
    }

    Map<Kind, Features> features(byte[] nhwc, int n, int h, int w) {
        int keep = Math.min(7, c1);
        float[] pool = new float[n * d];
        float[] spatial = new float[n * map * map * keep];
        float[] logits = new float[n * classes];
        for (int i = 0; i < n; i++) {
            double[] x = resizeAndScale(nhwc, i, h, w);
            double[] s = new double[map * map * c1];
            for (int y = 0; y < map; y++) {
                for (int xx = 0; xx < map; xx++) {
                    for (int o = 0; o < c1; o++) {
                        double acc = b1[o];
                        for (int ky = 0; ky < 3; ky++) {
                            for (int kx = 0; kx < 3; kx++) {
                                for (int c = 0; c < 3; c++) {
                                    acc += x[((2 * y + ky) * size + 2 * xx + kx) * 3 + c] * w1[((ky * 3 + kx) * 3 + c) * c1 + o];
                                }
                            }
                        }
                        s[(y * map + xx) * c1 + o] = Math.max(0, acc);
                    }
                }
            }
            for (int p = 0; p < map * map; p++) {
                for (int k = 0; k < keep; k++) {
                    spatial[(i * map * map + p) * keep + k] = (float) s[p * c1 + k];
                }
            }
            double[] mean = new double[d];
            for (int p = 0; p < map * map; p++) {
                for (int o = 0; o < d; o++) {
                    double acc = b2[o];
                    for (int c = 0; c < c1; c++) {
                        acc += s[p * c1 + c] * w2[c * d + o];
                    }
                    mean[o] += Math.max(0, acc) / (map * map);
                }
            }
            for (int o = 0; o < d; o++) {
                pool[i * d + o] = (float) mean[o];
            }
            for (int c = 0; c < classes; c++) {
                double acc = 0;
                for (int o = 0; o < d; o++) {
                    acc += (double) pool[i * d + o] * wsm[o * classes + c];
                }
                logits[i * classes + c] = (float) acc;
            }
        }
        Map<Kind, Features> out = new EnumMap<>(Kind.class);
        out.put(Kind.POOL, new Features(n, d, pool));
        out.put(Kind.SPATIAL, new Features(n, map * map * keep, spatial));
        out.put(Kind.LOGITS, new Features(n, classes, logits));
        return out;
    }

    /**
     * TensorFlow's {@code ResizeBilinear} (align_corners and half_pixel_centers false: source
     * coordinate {@code out * in / size}), then {@code (v - 128) / 128}; image {@code i}, [size, size, 3].
     */
    private double[] resizeAndScale(byte[] nhwc, int i, int h, int w) {
        double[] out = new double[size * size * 3];
        double sy = (double) h / size;
        double sx = (double) w / size;
        int base = i * h * w * 3;
        for (int y = 0; y < size; y++) {
            double fy = y * sy;
            int y0 = (int) Math.floor(fy);
            int y1 = Math.min(y0 + 1, h - 1);
            double ly = fy - y0;
            for (int x = 0; x < size; x++) {
                double fx = x * sx;
                int x0 = (int) Math.floor(fx);
                int x1 = Math.min(x0 + 1, w - 1);
                double lx = fx - x0;
                for (int c = 0; c < 3; c++) {
                    double tl = nhwc[base + (y0 * w + x0) * 3 + c] & 0xff;
                    double tr = nhwc[base + (y0 * w + x1) * 3 + c] & 0xff;
                    double bl = nhwc[base + (y1 * w + x0) * 3 + c] & 0xff;
                    double br = nhwc[base + (y1 * w + x1) * 3 + c] & 0xff;
                    double top = tl + (tr - tl) * lx;
                    double bottom = bl + (br - bl) * lx;
                    out[(y * size + x) * 3 + c] = (top + (bottom - top) * ly - 128) * (1.0 / 128);
                }
            }
        }
        return out;
    }

    /** Images that differ from each other: a random colour each (channel values in [lo, 255)), plus noise. */
    public static byte[] images(Random r, int n, int h, int w, int c, int lo) {
        byte[] px = new byte[n * h * w * c];
        for (int i = 0; i < n; i++) {
            int[] base = new int[c];
            for (int k = 0; k < c; k++) {
                base[k] = lo + r.nextInt(255 - lo);
            }
            for (int p = 0; p < h * w * c; p++) {
                px[i * h * w * c + p] = (byte) Math.max(0, Math.min(255, base[p % c] + r.nextInt(61) - 30));
            }
        }
        return px;
    }

    public static byte[] images(Random r, int n, int h, int w, int c) {
        return images(r, n, h, w, c, 0);
    }

    /** Writes the GraphDef to {@code dir/graph.pb}. */
    public Path write(Path dir) throws Exception {
        Path pb = dir.resolve("graph.pb");
        Files.write(pb, graphDef());
        return pb;
    }

    /** The five numbers agree: float rounding, and at most one borderline point for precision/recall. */
    public static void assertClose(AdmEvaluator.Report want, AdmEvaluator.Report got, int samples) {
        assertEquals(want.inceptionScore(), got.inceptionScore(), 1e-5 * want.inceptionScore(), "IS");
        assertTrue(want.inceptionScore() > 1.05, "IS is informative: " + want.inceptionScore());
        assertEquals(want.fid(), got.fid(), 1e-4 * want.fid(), "FID");
        assertEquals(want.sfid(), got.sfid(), 1e-4 * want.sfid(), "sFID");
        assertEquals(want.precision(), got.precision(), 1.0 / samples + 1e-12, "precision");
        assertEquals(want.recall(), got.recall(), 1.0 / samples + 1e-12, "recall");
    }
}
