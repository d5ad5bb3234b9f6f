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
import org.nextpatch.util.Sha256;
import org.nextpatch.util.RegularFiles;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumMap;
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
public final class OnnxFeatureModel implements FeatureModel {
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
    private String sha256;

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

    @Override
    public boolean has(Kind k) {
        return outputs.containsKey(k);
    }

    @Override
    public String whyMissing(Kind k) {
        String name = missing.get(k);
        return name == null ? "no " + k.name().toLowerCase(java.util.Locale.ROOT) + " output was named for the feature model"
                : "the feature model " + file.getFileName() + " has no output '" + name + "'";
    }

    @Override
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
            return Features.firstChannels(all, s, spatialChannels, spatialNchw);
        }
        return new Features(n, all.length / n, all);
    }

    /** The model file's name and SHA-256 (computed on first use). */
    @Override
    public synchronized Map<String, String> provenance() {
        if (sha256 == null) {
            sha256 = Sha256.ofFile(file);
        }
        return FeatureModel.fileProvenance("feature-model", file, sha256);
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
