package org.nextpatch.eval;

import com.google.protobuf.InvalidProtocolBufferException;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.eval.OnnxFeatureModel.Kind;
import org.nextpatch.util.AtomicFiles;
import org.nextpatch.util.NppException;
import org.nextpatch.util.Sha256;
import org.nextpatch.util.Threads;
import org.tensorflow.Graph;
import org.tensorflow.GraphOperation;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.GraphDef;
import org.tensorflow.types.TFloat32;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * ADM's Inception network as the evaluator ({@code guided-diffusion/evaluations/evaluator.py}) runs
 * it: OpenAI's TensorFlow graph {@code classify_image_graph_def.pb} (Inception v3 of 2015) executed by
 * TensorFlow Java, so the features come from TensorFlow's own kernels on the graph's own weights.
 * <ul>
 *   <li>Input: the images as float32 in [0, 255], {@code [N, H, W, 3]}, fed at {@code ExpandDims:0}
 *       (an op inside the graph, not a placeholder; the graph resizes to 299 x 299 and scales).</li>
 *   <li>Pool features: {@code pool_3:0}, flattened (2048 per image).</li>
 *   <li>Spatial features: {@code mixed_6/conv:0} (NHWC), its first 7 channels flattened in
 *       H, W, C order.</li>
 *   <li>Logits: pool features times the weight matrix that is input 1 of {@code softmax/logits/MatMul},
 *       without the bias, computed here as the evaluator does (the graph's own
 *       {@code pool_3/_reshape} is fixed to batch 1).</li>
 * </ul>
 * Only TensorFlow-using class of the project: it is loaded through
 * {@link FeatureModel#inceptionGraph(Path)}, which first checks that TensorFlow Java is present.
 * The file is the user's (nothing is downloaded); one that is not ADM's (size and MD5 below) is used
 * with a warning and a note in the report.
 */
public final class InceptionGraphModel implements FeatureModel {
    private static final Logger LOG = LogManager.getLogger(InceptionGraphModel.class);

    /** Where the ADM evaluator downloads the graph. */
    public static final String ADM_URL =
            "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/ref_batches/classify_image_graph_def.pb";
    /** Size of ADM's file in bytes (the {@code classify_image_graph_def.pb} of inception-2015-12-05). */
    public static final long ADM_SIZE = 95_673_916L;
    /** MD5 of ADM's file, as published beside its size (docs/user-guide.md says where). */
    public static final String ADM_MD5 = "e6bb154e85f5d4331c22abcddb5dcf31";
    /** The evaluator's batch size ({@code Evaluator(batch_size=64)}). */
    public static final int ADM_BATCH_SIZE = 64;
    /** The dependencies to add for this class (Maven coordinates). */
    public static final String DEPENDENCIES = "org.tensorflow:tensorflow-core-api:1.1.0 and "
            + "org.tensorflow:tensorflow-core-native:1.1.0 with classifier linux-x86_64";

    static final String INPUT = "ExpandDims";
    static final String POOL = "pool_3";
    static final String SPATIAL = "mixed_6/conv";
    static final String LOGITS_MATMUL = "softmax/logits/MatMul";
    static final int SPATIAL_CHANNELS = 7;

    private final Path file;
    private final String sha256;
    private final boolean admFile;
    private final Graph graph;
    private final Session session;
    /** softmax weights [d, classes], row-major. */
    private final float[] weights;
    private final int d;
    private final int classes;

    /**
     * Loads the graph; use {@link FeatureModel#inceptionGraph(Path)}, which checks for TensorFlow first.
     *
     * @throws NppException when the file is missing, not a GraphDef, or lacks a tensor the evaluator reads
     */
    InceptionGraphModel(Path file) {
        this.file = file;
        if (!Files.isRegularFile(file)) {
            throw new NppException(file + ": file not found (ADM's Inception graph, from " + ADM_URL + ")");
        }
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new NppException(file + ": cannot read: " + AtomicFiles.reason(e), e);
        }
        MessageDigest sha = Sha256.digest();
        sha.update(bytes);
        sha256 = Sha256.hex(sha);
        admFile = bytes.length == ADM_SIZE && md5(bytes).equals(ADM_MD5);
        if (!admFile) {
            LOG.warn("{}", notAdmNote());
        }
        GraphDef def;
        try {
            def = GraphDef.parseFrom(bytes);
        } catch (InvalidProtocolBufferException e) {
            throw new NppException(file + ": not a TensorFlow GraphDef (" + e.getMessage() + ")", e);
        }
        bytes = null;
        graph = new Graph();
        Session s = null;
        try {
            graph.importGraphDef(def);
            for (String op : new String[]{INPUT, POOL, SPATIAL, LOGITS_MATMUL}) {
                if (graph.operation(op) == null) {
                    throw new NppException(file + ": the graph has no operation '" + op + "', which ADM's evaluator"
                            + " reads (is it classify_image_graph_def.pb?)");
                }
            }
            ConfigProto config = ConfigProto.newBuilder().setIntraOpParallelismThreads(Threads.intraOp())
                    .setInterOpParallelismThreads(1).build();
            s = new Session(graph, config);
            GraphOperation matmul = graph.operation(LOGITS_MATMUL);
            try (Result r = s.runner().fetch(matmul.input(1)).run()) {
                Tensor w = r.get(0);
                long[] ws = w.shape().asArray();
                if (!(w instanceof TFloat32 f) || ws.length != 2) {
                    throw new NppException(file + ": input 1 of '" + LOGITS_MATMUL + "' must be a float32 weight matrix"
                            + " [features, classes], got " + w.dataType() + " " + Arrays.toString(ws));
                }
                d = Math.toIntExact(ws[0]);
                classes = Math.toIntExact(ws[1]);
                weights = new float[d * classes];
                f.copyTo(DataBuffers.of(weights, false, false));
            }
        } catch (RuntimeException e) {
            if (s != null) {
                s.close();
            }
            graph.close();
            throw e instanceof NppException ne ? ne
                    : new NppException(file + ": TensorFlow cannot load the graph: " + e.getMessage(), e);
        }
        session = s;
        LOG.info("Inception graph {} ({}), {} pool features, {} classes{}", file.getFileName(), sha256, d, classes,
                admFile ? ", ADM's file" : "");
    }

    private String notAdmNote() {
        return file + " is not ADM's classify_image_graph_def.pb (" + ADM_SIZE + " bytes, MD5 " + ADM_MD5
                + "): its numbers are not comparable with published tables";
    }

    private static String md5(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("MD5 is not available in this JVM", e);
        }
    }

    /** Whether the file is ADM's own (size and MD5). */
    public boolean isAdmFile() {
        return admFile;
    }

    /** SHA-256 of the graph file. */
    public String sha256() {
        return sha256;
    }

    @Override
    public boolean has(Kind k) {
        return true;
    }

    @Override
    public String whyMissing(Kind k) {
        return "";
    }

    @Override
    public Map<String, String> provenance() {
        Map<String, String> m = new LinkedHashMap<>(FeatureModel.fileProvenance("inception-graph", file, sha256));
        m.put("inception-graph-is-adm", String.valueOf(admFile));
        return m;
    }

    @Override
    public List<String> notes() {
        return admFile ? List.of() : List.of(notAdmNote());
    }

    @Override
    public Map<Kind, Features> run(byte[] nhwc, long[] shape, String source) {
        if (shape.length != 4 || shape[3] != 3) {
            throw new NppException(source + ": ADM's Inception graph takes RGB images [N, H, W, 3], got shape "
                    + Arrays.toString(shape));
        }
        int n = (int) shape[0];
        float[] px = new float[nhwc.length];
        for (int i = 0; i < px.length; i++) {
            px[i] = nhwc[i] & 0xff;
        }
        try (TFloat32 in = TFloat32.tensorOf(Shape.of(shape), DataBuffers.of(px, true, false));
             Result r = session.runner().feed(INPUT, in).fetch(POOL).fetch(SPATIAL).run()) {
            float[] pool = floats(r.get(0), POOL, n);
            float[] spatial = floats(r.get(1), SPATIAL, n);
            long[] ss = r.get(1).shape().asArray();
            if (pool.length != n * d || ss.length != 4) {
                throw new NppException(file + ": '" + POOL + "' gives " + pool.length / n + " features per image and '"
                        + SPATIAL + "' shape " + Arrays.toString(ss) + "; expected " + d
                        + " (the rows of the softmax weights) and an NHWC feature map");
            }
            Map<Kind, Features> out = new EnumMap<>(Kind.class);
            Features poolF = new Features(n, d, pool);
            out.put(Kind.POOL, poolF);
            out.put(Kind.SPATIAL, Features.firstChannels(spatial, ss, SPATIAL_CHANNELS, false));
            out.put(Kind.LOGITS, logits(poolF));
            return out;
        } catch (NppException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new NppException(file + ": TensorFlow failed on images of " + source + " with shape "
                    + Arrays.toString(shape) + ": " + e.getMessage(), e);
        }
    }

    private float[] floats(Tensor t, String name, int n) {
        if (!(t instanceof TFloat32 f) || t.shape().numDimensions() < 1 || t.shape().get(0) != n) {
            throw new NppException(file + ": '" + name + ":0' must be float32 [N, ...] with N = " + n + ", got "
                    + t.dataType() + " " + Arrays.toString(t.shape().asArray()));
        }
        float[] v = new float[Math.toIntExact(t.shape().size())];
        f.copyTo(DataBuffers.of(v, false, false));
        return v;
    }

    /** {@code pool x W}, the evaluator's {@code tf.matmul(pool_3, w)}: float32 logits, summed in float64. */
    private Features logits(Features pool) {
        float[] x = pool.data();
        float[] out = new float[pool.n() * classes];
        double[] acc = new double[classes];
        for (int i = 0; i < pool.n(); i++) {
            Arrays.fill(acc, 0);
            for (int k = 0; k < d; k++) {
                double v = x[i * d + k];
                int row = k * classes;
                for (int c = 0; c < classes; c++) {
                    acc[c] += v * weights[row + c];
                }
            }
            for (int c = 0; c < classes; c++) {
                out[i * classes + c] = (float) acc[c];
            }
        }
        return new Features(pool.n(), classes, out);
    }

    @Override
    public void close() {
        session.close();
        graph.close();
    }
}
