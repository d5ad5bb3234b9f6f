package org.nextpatch.eval;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.data.LabelledImages;
import org.nextpatch.onnx.OnnxChecker;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The DJL feature network trains, and its ONNX export computes the same outputs. */
class FeatureNetTest {

    /** Two easy classes: bright top half versus bright bottom half, with noise. */
    static LabelledImages toyData(int n, long seed) {
        Random r = new Random(seed);
        byte[] px = new byte[n * 28 * 28];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            labels[i] = i % 2;
            for (int y = 0; y < 28; y++) {
                for (int x = 0; x < 28; x++) {
                    boolean bright = (y < 14) == (labels[i] == 0);
                    int v = (bright ? 180 : 40) + r.nextInt(60);
                    px[i * 784 + y * 28 + x] = (byte) v;
                }
            }
        }
        return new LabelledImages(n, 28, 28, px, labels, List.of("top", "bottom"));
    }

    private static float[] run(Path model, String output, byte[] nhwc, long[] shape) throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession s = env.createSession(model.toString(), new OrtSession.SessionOptions());
             OnnxTensor t = OnnxTensor.createTensor(env, ByteBuffer.wrap(nhwc), shape, OnnxJavaType.UINT8);
             OrtSession.Result res = s.run(Map.of(FeatureNet.INPUT, t))) {
            FloatBuffer fb = ((OnnxTensor) res.get(output).orElseThrow()).getFloatBuffer();
            float[] out = new float[fb.remaining()];
            fb.get(out);
            return out;
        }
    }

    /** Each augmented image is the input mirrored or not and shifted by at most SHIFT pixels, background filled in. */
    @Test
    void augmentationMirrorsAndShifts() {
        int n = 400;
        byte[] px = new byte[n * 784];
        for (int i = 0; i < n; i++) {
            px[i * 784 + 10 * 28 + 5] = (byte) 255;  // one bright pixel at row 10, column 5
        }
        LabelledImages data = new LabelledImages(n, 28, 28, px, new int[n], List.of("a"));
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) {
            idx[i] = i;
        }
        float[] x = FeatureNet.augmented(data, idx, new java.util.SplittableRandom(3));
        float background = -FeatureNet.MEAN / FeatureNet.STD;
        float bright = (1f - FeatureNet.MEAN) / FeatureNet.STD;
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (int i = 0; i < n; i++) {
            int at = -1;
            for (int p = 0; p < 784; p++) {
                float v = x[i * 784 + p];
                if (v == bright) {
                    assertEquals(-1, at, "one bright pixel");
                    at = p;
                } else {
                    assertEquals(background, v, 0f);
                }
            }
            int r = at / 28, c = at % 28;
            int dy = r - 10;
            boolean mirrored = Math.abs(c - 5) > FeatureNet.SHIFT;
            int dx = mirrored ? c - (27 - 5) : c - 5;
            assertTrue(Math.abs(dy) <= FeatureNet.SHIFT && Math.abs(dx) <= FeatureNet.SHIFT, "shift " + dy + ", " + dx);
            seen.add(mirrored + " " + dy + " " + dx);
        }
        assertEquals(2 * 5 * 5, seen.size(), "every mirror and shift occurs");
    }

    @Test
    void trainsAndExportMatchesDjl(@TempDir Path dir) throws Exception {
        LabelledImages data = toyData(256, 1);
        try (FeatureNet net = new FeatureNet(2, 42)) {
            net.train(data, 1, 32, 1e-3f, 7);
            assertTrue(net.accuracy(data) > 0.95, "the toy task is learnt");
            Path file = dir.resolve("features.onnx");
            net.exportOnnx(file, data.classNames());
            assertEquals(List.of(), OnnxChecker.check(file));

            LabelledImages batch = data.range(0, 6);
            FeatureNet.Outputs djl = net.outputs(batch, 4);
            // 1 channel, 28x28: exactly the DJL input
            long[] grey = {6, 28, 28, 1};
            assertClose(djl.pool().data(), run(file, FeatureNet.POOL, batch.pixels(), grey));
            // spatial: DJL gives [N, C, H, W], the export NHWC
            float[] sp = run(file, FeatureNet.SPATIAL, batch.pixels(), grey);
            float[] nchw = new float[sp.length];
            int c = 32, hw = 49;
            for (int i = 0; i < 6; i++) {
                for (int k = 0; k < c; k++) {
                    for (int p = 0; p < hw; p++) {
                        nchw[(i * c + k) * hw + p] = sp[(i * hw + p) * c + k];
                    }
                }
            }
            assertClose(djl.spatial().data(), nchw);
            assertClose(djl.logits().data(), run(file, FeatureNet.LOGITS, batch.pixels(), grey));

            // 3 equal channels, upscaled 2x by pixel duplication: grey = mean of channels, and the
            // half-pixel bilinear 56 -> 28 resize samples between two equal pixels, so the same input
            byte[] rgb = new byte[6 * 56 * 56 * 3];
            for (int i = 0; i < 6; i++) {
                for (int y = 0; y < 56; y++) {
                    for (int x = 0; x < 56; x++) {
                        byte v = batch.pixels()[i * 784 + (y / 2) * 28 + x / 2];
                        for (int ch = 0; ch < 3; ch++) {
                            rgb[((i * 56 + y) * 56 + x) * 3 + ch] = v;
                        }
                    }
                }
            }
            assertClose(djl.logits().data(), run(file, FeatureNet.LOGITS, rgb, new long[]{6, 56, 56, 3}));
        }
    }

    /** Tolerance: float32 convolutions in two engines, relative 1e-4 of the output's scale. */
    private static void assertClose(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        float scale = 1e-3f;
        for (float v : expected) {
            scale = Math.max(scale, Math.abs(v));
        }
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 1e-4f * scale, "element " + i);
        }
    }
}
