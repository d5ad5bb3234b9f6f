package org.nextpatch.onnx;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Tensor;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The graph builder: small graphs run in ONNX Runtime and give the numbers computed here by hand. */
class OnnxGraphBuilderTest {

    private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();

    private static float[] randn(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    @Test
    void mlpWithSoftmaxMatchesJava(@TempDir Path dir) throws Exception {
        Random r = new Random(1);
        float[] w1 = randn(r, 3 * 4), b1 = randn(r, 3), w2 = randn(r, 3 * 2), x = randn(r, 5 * 4);
        OnnxGraphBuilder g = new OnnxGraphBuilder("mlp");
        String in = g.input("x", DType.FLOAT32, "batch", 4);
        // Gemm with transB: the weight is stored [out, in] like a PyTorch Linear.
        String h = g.relu(g.gemm(in, g.initializer("w1", w1, 3, 4), g.initializer("b1", b1, 3), false, true));
        String y = g.softmax(g.matMul(h, g.initializer("w2", w2, 3, 2)), -1);
        g.output(y, "y", DType.FLOAT32, "batch", 2);
        Path f = dir.resolve("mlp.onnx");
        g.save(f, Map.of("purpose", "test"), false);
        assertEquals(List.of(), OnnxChecker.check(f));
        assertEquals("test", OnnxGraphBuilder.read(f).getMetadataProps(0).getValue());

        float[][] got;
        try (OrtSession s = ENV.createSession(f.toString(), new OrtSession.SessionOptions());
             OnnxTensor t = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(x), new long[]{5, 4});
             OrtSession.Result res = s.run(Map.of("x", t))) {
            got = (float[][]) res.get("y").get().getValue();
        }
        for (int n = 0; n < 5; n++) {
            double[] hh = new double[3];
            for (int o = 0; o < 3; o++) {
                double acc = b1[o];
                for (int i = 0; i < 4; i++) acc += x[n * 4 + i] * w1[o * 4 + i];
                hh[o] = Math.max(0, acc);
            }
            double[] z = new double[2];
            for (int o = 0; o < 2; o++) for (int i = 0; i < 3; i++) z[o] += hh[i] * w2[i * 2 + o];
            double m = Math.max(z[0], z[1]);
            double e0 = Math.exp(z[0] - m), e1 = Math.exp(z[1] - m);
            assertEquals(e0 / (e0 + e1), got[n][0], 1e-5);
            assertEquals(e1 / (e0 + e1), got[n][1], 1e-5);
        }
    }

    @Test
    void loopCarriesStateAndStacksScanOutputs(@TempDir Path dir) throws Exception {
        // Loop 4 times: acc <- acc * 2 + i; scan output = acc after the update.
        OnnxGraphBuilder g = new OnnxGraphBuilder("loop");
        String a0 = g.input("a0", DType.FLOAT32, 2);
        OnnxGraphBuilder body = g.subgraph("body");
        String it = body.input("i", DType.INT64);
        String condIn = body.input("cond_in", DType.BOOL);
        String acc = body.inputAnyShape("acc_in", DType.FLOAT32);
        String next = body.add(body.mul(acc, g.scalarF(2f)), body.cast(it, DType.FLOAT32));
        body.output(body.identity(condIn), "cond_out", DType.BOOL);
        body.outputAnyShape(next, "acc_out", DType.FLOAT32);
        body.outputAnyShape(body.identity(next), "scan_out", DType.FLOAT32);
        List<String> outs = g.loop(g.scalarI64(4), g.scalarBool(true), List.of(a0), body.buildGraph(), 1);
        g.output(outs.get(0), "final", DType.FLOAT32, 2);
        g.output(outs.get(1), "all", DType.FLOAT32, 4, 2);
        Path f = dir.resolve("loop.onnx");
        g.save(f, Map.of(), false);
        assertEquals(List.of(), OnnxChecker.check(f));
        try (OrtSession s = ENV.createSession(f.toString(), new OrtSession.SessionOptions());
             OnnxTensor t = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(new float[]{1, -1}), new long[]{2});
             OrtSession.Result res = s.run(Map.of("a0", t))) {
            float[] fin = (float[]) res.get("final").get().getValue();
            float[][] all = (float[][]) res.get("all").get().getValue();
            float[] a = {1, -1};
            for (int i = 0; i < 4; i++) {
                for (int j = 0; j < 2; j++) a[j] = a[j] * 2 + i;
                assertArrayEquals(a, all[i], 0f);
            }
            assertArrayEquals(a, fin, 0f);
        }
    }

    @Test
    void convPoolAndExternalDataRun(@TempDir Path dir) throws Exception {
        Random r = new Random(2);
        float[] w = randn(r, 2 * 1 * 3 * 3), b = randn(r, 2), x = randn(r, 6 * 6);
        OnnxGraphBuilder g = new OnnxGraphBuilder("cnn");
        String in = g.input("x", DType.FLOAT32, 1, 1, 6, 6);
        String c = g.relu(g.conv(in, g.initializer("w", w, 2, 1, 3, 3), g.initializer("b", b, 2), 1, 1));
        String p = g.maxPool(c, 2, 2);
        String y = g.flatten(g.globalAveragePool(p), 1);
        // a large-ish initializer so that it goes to the external file
        float[] big = randn(r, 2 * 300);
        String yb = g.matMul(y, g.initializer("big", big, 2, 300));
        g.output(y, "y", DType.FLOAT32, 1, 2);
        g.output(yb, "yb", DType.FLOAT32, 1, 300);
        Path f = dir.resolve("cnn.onnx");
        g.save(f, Map.of(), true);
        assertTrue(Files.size(dir.resolve("cnn.onnx.data")) >= 2400);
        assertEquals(List.of(), OnnxChecker.check(f));

        float[][] got, gotB;
        try (OrtSession s = ENV.createSession(f.toString(), new OrtSession.SessionOptions());
             OnnxTensor t = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(x), new long[]{1, 1, 6, 6});
             OrtSession.Result res = s.run(Map.of("x", t))) {
            got = (float[][]) res.get("y").get().getValue();
            gotB = (float[][]) res.get("yb").get().getValue();
        }
        for (int o = 0; o < 2; o++) {
            double[][] conv = new double[6][6];
            for (int i = 0; i < 6; i++) for (int j = 0; j < 6; j++) {
                double acc = b[o];
                for (int di = -1; di <= 1; di++) for (int dj = -1; dj <= 1; dj++) {
                    int ii = i + di, jj = j + dj;
                    if (ii >= 0 && ii < 6 && jj >= 0 && jj < 6) acc += x[ii * 6 + jj] * w[o * 9 + (di + 1) * 3 + dj + 1];
                }
                conv[i][j] = Math.max(0, acc);
            }
            double mean = 0;
            for (int i = 0; i < 3; i++) for (int j = 0; j < 3; j++) {
                mean += Math.max(Math.max(conv[2 * i][2 * j], conv[2 * i + 1][2 * j]), Math.max(conv[2 * i][2 * j + 1], conv[2 * i + 1][2 * j + 1]));
            }
            assertEquals(mean / 9, got[0][o], 1e-5);
        }
        for (int k = 0; k < 300; k += 37) {
            assertEquals(got[0][0] * big[k] + got[0][1] * big[300 + k], gotB[0][k], 1e-5);
        }
    }

    @Test
    void checkerFindsUndefinedInputs() {
        OnnxGraphBuilder g = new OnnxGraphBuilder("bad");
        String x = g.input("x", DType.FLOAT32, 2);
        g.output(g.add(x, "nowhere"), "y", DType.FLOAT32, 2);
        List<String> problems = OnnxChecker.check(g.build(Map.of()), null);
        assertFalse(problems.isEmpty());
        assertTrue(problems.get(0).contains("nowhere"), problems.toString());
    }

    @Test
    void gatherTopKAndCumSum(@TempDir Path dir) throws Exception {
        OnnxGraphBuilder g = new OnnxGraphBuilder("misc");
        String x = g.input("x", DType.FLOAT32, 1, 5);
        String idx = g.input("idx", DType.INT64, 2);
        List<String> tk = g.topK(x, g.constI64(2), -1, true);
        g.output(tk.get(0), "vals", DType.FLOAT32, 1, 2);
        g.output(tk.get(1), "inds", DType.INT64, 1, 2);
        g.output(g.cumSum(x, 1), "cs", DType.FLOAT32, 1, 5);
        g.output(g.gather(x, idx, 1), "gath", DType.FLOAT32, 1, 2);
        g.output(g.argMax(x, -1, false), "am", DType.INT64, 1);
        g.output(g.cast(g.less(x, g.scalarF(0f)), DType.INT64), "neg", DType.INT64, 1, 5);
        Path f = dir.resolve("misc.onnx");
        g.save(f, Map.of(), false);
        float[] xv = {0.5f, -2f, 3f, 3f, 1f};
        try (OrtSession s = ENV.createSession(f.toString(), new OrtSession.SessionOptions());
             OnnxTensor t = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(xv), new long[]{1, 5});
             OnnxTensor ti = OnnxTensor.createTensor(ENV, LongBuffer.wrap(new long[]{4, 0}), new long[]{2});
             OrtSession.Result res = s.run(Map.of("x", t, "idx", ti))) {
            assertArrayEquals(new float[]{3f, 3f}, ((float[][]) res.get("vals").get().getValue())[0]);
            assertArrayEquals(new float[]{0.5f, -1.5f, 1.5f, 4.5f, 5.5f}, ((float[][]) res.get("cs").get().getValue())[0]);
            assertArrayEquals(new float[]{1f, 0.5f}, ((float[][]) res.get("gath").get().getValue())[0]);
            assertEquals(2L, ((long[]) res.get("am").get().getValue())[0]); // first index on ties
            assertArrayEquals(new long[]{0, 1, 0, 0, 0}, ((long[][]) res.get("neg").get().getValue())[0]);
        }
    }

    @Test
    void checkerRejectsGarbageDuplicatesAndMissingExternalData(@TempDir Path dir) throws Exception {
        Path junk = dir.resolve("junk.onnx");
        Files.write(junk, new byte[]{(byte) 0xff, 0x12, 0x7f, 0x00, 0x33});
        assertTrue(OnnxChecker.check(junk).get(0).contains("well-formed"), OnnxChecker.check(junk).toString());

        // a value assigned twice (SSA violation), written through the raw protobuf
        OnnxGraphBuilder g = new OnnxGraphBuilder("dup");
        String x = g.input("x", DType.FLOAT32, 2);
        String y = g.relu(x);
        g.output(y, "y", DType.FLOAT32, 2);
        var m = g.build(Map.of());
        var node = m.getGraph().getNode(0).toBuilder().setName("again").build();
        var dup = m.toBuilder().setGraph(m.getGraph().toBuilder().addNode(node)).build();
        assertTrue(OnnxChecker.check(dup, null).stream().anyMatch(p -> p.contains("more than once")), OnnxChecker.check(dup, null).toString());

        // external data that is missing on disk
        OnnxGraphBuilder e = new OnnxGraphBuilder("ext");
        String in = e.input("x", DType.FLOAT32, 1, 300);
        e.output(e.add(in, e.initializer("w", new float[300], 1, 300)), "y", DType.FLOAT32, 1, 300);
        Path f = dir.resolve("ext.onnx");
        e.save(f, Map.of(), true);
        assertEquals(List.of(), OnnxChecker.check(f));
        Files.delete(dir.resolve("ext.onnx.data"));
        assertTrue(OnnxChecker.check(f).stream().anyMatch(p -> p.contains("missing or too short")), OnnxChecker.check(f).toString());
    }
}
