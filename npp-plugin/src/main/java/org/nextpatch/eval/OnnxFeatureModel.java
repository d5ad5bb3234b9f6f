package org.nextpatch.eval;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.util.NppException;
import org.nextpatch.util.Progress;
import org.nextpatch.util.RegularFiles;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * A feature model run by ONNX Runtime, playing the part of the ADM evaluator's Inception network.
 * <p>
 * Contract (the same as the evaluator's TensorFlow graph): one input that takes the images as a
 * batch stores them, {@code [N, H, W, C]}, either uint8 or float32 with values 0..255; the model
 * does its own resizing and normalisation. Up to three outputs, found by name:
 * <ul>
 *   <li>pool features (FID, precision/recall; Inception {@code pool_3}, 2048-d), any shape
 *       {@code [N, ...]}, flattened per image;</li>
 *   <li>spatial features (sFID): {@code [N, D]} used as they are, or a feature map
 *       {@code [N, H, W, C]} (NHWC, as Inception's {@code mixed_6/conv} in TensorFlow) or
 *       {@code [N, C, H, W]} of which the first {@code spatialChannels} channels are kept and
 *       flattened in H, W, C order, as the evaluator does with 7 channels;</li>
 *   <li>logits (Inception Score), {@code [N, classes]} before the softmax.</li>
 * </ul>
 */
public final class OnnxFeatureModel implements AutoCloseable {
    private static final Logger LOG = LogManager.getLogger(OnnxFeatureModel.class);

    /** The kinds of features. */
    public enum Kind { POOL, SPATIAL, LOGITS }

    private final Path file;
    private final OrtEnvironment env;
    private final OrtSession session;
    private final String inputName;
    private final OnnxJavaType inputType;
    private final Map<Kind, String> outputs = new EnumMap<>(Kind.class);
    private final Map<Kind, String> missing = new EnumMap<>(Kind.class);
    private final int spatialChannels;
    private final boolean spatialNchw;

    /**
     * Loads a feature model.
     *
     * @param file            the .onnx file
     * @param names           output name per kind (a kind with a name the model lacks is unavailable)
     * @param spatialChannels channels of a 4-D spatial output to keep (0 or less: all)
     * @param spatialNchw     whether a 4-D spatial output is [N, C, H, W] (otherwise [N, H, W, C])
     */
    public OnnxFeatureModel(Path file, Map<Kind, String> names, int spatialChannels, boolean spatialNchw) {
        this.file = file;
        this.spatialChannels = spatialChannels;
        this.spatialNchw = spatialNchw;
        RegularFiles.requireRegular(file, "--feature-model");
        env = OrtEnvironment.getEnvironment();
        try {
            OrtSession.SessionOptions opts = new OrtSession.SessionOptions();
            if (OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA)) {
                try {
                    opts.addCUDA(0);
                    LOG.info("feature model runs on CUDA device 0");
                } catch (OrtException e) {
                    LOG.info("CUDA provider not usable ({}); the feature model runs on the CPU", e.getMessage());
                }
            }
            session = env.createSession(file.toString(), opts);
            Map<String, NodeInfo> in = session.getInputInfo();
            if (in.size() != 1) {
                throw new NppException("--feature-model " + file + ": expected one image input, the model has "
                        + in.size() + " " + in.keySet());
            }
            NodeInfo ni = in.values().iterator().next();
            inputName = ni.getName();
            if (!(ni.getInfo() instanceof TensorInfo ti) || ti.getShape().length != 4
                    || (ti.type != OnnxJavaType.UINT8 && ti.type != OnnxJavaType.FLOAT)) {
                throw new NppException("--feature-model " + file + ": input '" + inputName
                        + "' must be a uint8 or float32 [N, H, W, C] image tensor, got " + ni.getInfo());
            }
            inputType = ti.type;
            var outNames = session.getOutputNames();
            for (Map.Entry<Kind, String> e : names.entrySet()) {
                if (e.getValue() != null && outNames.contains(e.getValue())) {
                    outputs.put(e.getKey(), e.getValue());
                } else {
                    missing.put(e.getKey(), e.getValue());
                }
            }
            if (outputs.isEmpty()) {
                throw new NppException("--feature-model " + file + ": none of the outputs " + names.values()
                        + " exists; the model's outputs are " + outNames + " (set --pool-output, --spatial-output, --logits-output)");
            }
        } catch (OrtException e) {
            throw new NppException("--feature-model " + file + ": ONNX Runtime cannot load it: " + e.getMessage(), e);
        }
    }

    /** Whether the model provides a kind of feature. */
    public boolean has(Kind k) {
        return outputs.containsKey(k);
    }

    /** Why a kind is unavailable, for the note printed when a metric is skipped. */
    public String whyMissing(Kind k) {
        String name = missing.get(k);
        return name == null ? "no " + k.name().toLowerCase(java.util.Locale.ROOT) + " output was named for the feature model"
                : "the feature model " + file.getFileName() + " has no output '" + name + "'";
    }

    /**
     * Features of every image of a batch, computed {@code batchSize} images at a time with a
     * progress bar.
     */
    public Map<Kind, Features> extract(ImageBatch images, int batchSize, String task) {
        Map<Kind, List<Features>> parts = new EnumMap<>(Kind.class);
        outputs.keySet().forEach(k -> parts.put(k, new ArrayList<>()));
        long n = images.count();
        long[] shape = {0, images.height(), images.width(), images.channels()};
        try (Progress p = Progress.start(task, n, "img")) {
            for (long start = 0; start < n; start += batchSize) {
                int b = (int) Math.min(batchSize, n - start);
                byte[] px = images.read(start, b);
                shape[0] = b;
                Map<Kind, Features> out = run(px, shape, images.name());
                out.forEach((k, f) -> parts.get(k).add(f));
                p.step(b);
            }
        }
        Map<Kind, Features> result = new EnumMap<>(Kind.class);
        parts.forEach((k, l) -> result.put(k, Features.concat(l)));
        return result;
    }

    /** Features of one batch of uint8 NHWC images. */
    public Map<Kind, Features> run(byte[] nhwc, long[] shape, String source) {
        try (OnnxTensor input = inputTensor(nhwc, shape);
             OrtSession.Result res = session.run(Map.of(inputName, input), new java.util.HashSet<>(outputs.values()))) {
            Map<Kind, Features> out = new EnumMap<>(Kind.class);
            for (Map.Entry<Kind, String> e : outputs.entrySet()) {
                OnnxTensor t = (OnnxTensor) res.get(e.getValue()).orElseThrow();
                out.put(e.getKey(), toFeatures(e.getKey(), e.getValue(), t, (int) shape[0]));
            }
            return out;
        } catch (OrtException e) {
            throw new NppException("--feature-model " + file + ": failed on images of " + source + " with shape "
                    + Arrays.toString(shape) + ": " + e.getMessage(), e);
        }
    }

    private OnnxTensor inputTensor(byte[] nhwc, long[] shape) throws OrtException {
        if (inputType == OnnxJavaType.UINT8) {
            ByteBuffer b = ByteBuffer.allocateDirect(nhwc.length).order(ByteOrder.nativeOrder());
            b.put(nhwc).flip();
            return OnnxTensor.createTensor(env, b, shape, OnnxJavaType.UINT8);
        }
        FloatBuffer f = ByteBuffer.allocateDirect(nhwc.length * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        for (byte v : nhwc) {
            f.put(v & 0xff);
        }
        f.flip();
        return OnnxTensor.createTensor(env, f, shape);
    }

    private Features toFeatures(Kind kind, String name, OnnxTensor t, int n) {
        TensorInfo info = t.getInfo();
        long[] s = info.getShape();
        if (info.type != OnnxJavaType.FLOAT) {
            throw new NppException("--feature-model " + file + ": output '" + name + "' must be float32, got " + info.type);
        }
        if (s.length < 2 || s[0] != n) {
            throw new NppException("--feature-model " + file + ": output '" + name + "' must have shape [N, ...] with N = "
                    + n + ", got " + Arrays.toString(s));
        }
        FloatBuffer fb = t.getFloatBuffer();
        float[] all = new float[fb.remaining()];
        fb.get(all);
        if (kind == Kind.SPATIAL && s.length == 4) {
            return spatial(all, s);
        }
        return new Features(n, all.length / n, all);
    }

    /** First channels of a feature map, flattened in H, W, C order (numpy {@code x[..., :c].reshape(n, -1)}). */
    private Features spatial(float[] x, long[] s) {
        int n = (int) s[0];
        int h, w, c;
        if (spatialNchw) {
            c = (int) s[1];
            h = (int) s[2];
            w = (int) s[3];
        } else {
            h = (int) s[1];
            w = (int) s[2];
            c = (int) s[3];
        }
        int keep = spatialChannels > 0 ? Math.min(spatialChannels, c) : c;
        int d = h * w * keep;
        float[] out = new float[n * d];
        for (int i = 0; i < n; i++) {
            for (int y = 0; y < h; y++) {
                for (int xx = 0; xx < w; xx++) {
                    for (int k = 0; k < keep; k++) {
                        int src = spatialNchw ? ((i * c + k) * h + y) * w + xx : ((i * h + y) * w + xx) * c + k;
                        out[i * d + (y * w + xx) * keep + k] = x[src];
                    }
                }
            }
        }
        return new Features(n, d, out);
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException e) {
            LOG.debug("closing the ONNX session: {}", e.getMessage());
        }
    }
}
