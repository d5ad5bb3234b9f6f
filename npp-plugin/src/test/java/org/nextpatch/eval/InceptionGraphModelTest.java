package org.nextpatch.eval;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.eval.OnnxFeatureModel.Kind;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Npz;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;
import org.nextpatch.util.Sha256;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.proto.GraphDef;
import org.tensorflow.types.TFloat32;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ADM's Inception graph path, on small graphs with ADM's tensor names and traps
 * ({@link AdmGraphFixture}), against the same network computed in plain Java.
 */
class InceptionGraphModelTest {

    /** Largest |a - b| relative to max(1, |b|). */
    private static double maxRelDiff(Features a, Features b) {
        assertEquals(b.n(), a.n());
        assertEquals(b.d(), a.d());
        double m = 0;
        for (int i = 0; i < a.data().length; i++) {
            m = Math.max(m, Math.abs(a.data()[i] - b.data()[i]) / Math.max(1, Math.abs(b.data()[i])));
        }
        return m;
    }

    @Test
    void featuresMatchThePlainJavaNetworkAtSeveralBatchAndImageSizes(@TempDir Path dir) throws Exception {
        AdmGraphFixture f = new AdmGraphFixture(11, 19, 9, 16, 10);
        Random r = new Random(5);
        try (FeatureModel tf = FeatureModel.inceptionGraph(f.write(dir))) {
            for (int[] hw : new int[][]{{12, 12}, {20, 14}, {32, 32}, {19, 19}}) {
                int n = 70;
                byte[] px = AdmGraphFixture.images(r, n, hw[0], hw[1], 3);
                Map<Kind, Features> want = f.features(px, n, hw[0], hw[1]);
                ImageBatch batch = ImageBatch.of("imgs", px, n, hw[0], hw[1], 3);
                for (int bs : new int[]{1, 7, InceptionGraphModel.ADM_BATCH_SIZE}) {
                    Map<Kind, Features> got = tf.extract(batch, bs, "test");
                    for (Kind k : Kind.values()) {
                        // float32 TensorFlow kernels against float64: rounding only
                        double diff = maxRelDiff(got.get(k), want.get(k));
                        assertTrue(diff < 2e-5, k + " at " + hw[0] + "x" + hw[1] + ", batch " + bs + ": " + diff);
                    }
                }
            }
            assertEquals(f.map * f.map * 7, tf.run(AdmGraphFixture.images(r, 2, 8, 8, 3), new long[]{2, 8, 8, 3}, "x").get(Kind.SPATIAL).d());
        }
    }

    @Test
    void theGraphsOwnTrapsAreLive(@TempDir Path dir) throws Exception {
        // what the evaluator avoids: the graph's own softmax is fixed to batch 1, and its input chain
        // starts at a JPEG decoder that cannot run on these bytes
        AdmGraphFixture f = new AdmGraphFixture(12, 11, 8, 6, 5);
        try (Graph g = new Graph(); Session s = new Session(g)) {
            g.importGraphDef(GraphDef.parseFrom(f.graphDef()));
            float[] px = new float[3 * 9 * 9 * 3];
            try (TFloat32 in = TFloat32.tensorOf(Shape.of(3, 9, 9, 3), DataBuffers.of(px, true, false))) {
                assertThrows(RuntimeException.class, () -> s.runner().feed("ExpandDims", in).fetch("softmax").run().close());
            }
            assertThrows(RuntimeException.class, () -> s.runner().fetch("pool_3").run().close());
        }
    }

    @Test
    void evaluationMatchesTheAdmMetricsOfThePlainJavaFeatures(@TempDir Path dir) throws Exception {
        AdmGraphFixture f = new AdmGraphFixture(13, 15, 10, 12, 8);
        Random r = new Random(6);
        byte[] ref = AdmGraphFixture.images(r, 90, 24, 24, 3);
        byte[] sam = AdmGraphFixture.images(r, 75, 24, 24, 3, 90); // a different distribution
        Npz.write(dir.resolve("ref.npz"), Map.of("arr_0", Tensor.ofBytes(DType.UINT8, new long[]{90, 24, 24, 3}, ref)));
        Npz.write(dir.resolve("sam.npz"), Map.of("arr_0", Tensor.ofBytes(DType.UINT8, new long[]{75, 24, 24, 3}, sam)));
        Path pb = f.write(dir);
        AdmEvaluator.Report want = AdmEvaluator.evaluate(dir.resolve("ref.npz"), dir.resolve("sam.npz"), f.plainJava(), 1000);
        try (FeatureModel tf = FeatureModel.inceptionGraph(pb)) {
            AdmEvaluator.Report got = AdmEvaluator.evaluate(dir.resolve("ref.npz"), dir.resolve("sam.npz"), tf, 64);
            AdmGraphFixture.assertClose(want, got, 75);
            assertEquals(Sha256.ofFile(pb), got.provenance().get("inception-graph-sha256"));
            assertEquals("graph.pb", got.provenance().get("inception-graph"));
            assertEquals("false", got.provenance().get("inception-graph-is-adm"));
            assertEquals("64", got.provenance().get("batch-size"));
            assertEquals("90", got.provenance().get("reference-images"));
            assertEquals("75", got.provenance().get("sample-images"));
            assertEquals("computed", got.provenance().get("reference-statistics"));
            assertTrue(got.notes().size() == 1 && got.notes().get(0).contains("not ADM's classify_image_graph_def.pb"), got.notes().toString());
            assertFalse(((InceptionGraphModel) tf).isAdmFile());

            // an ADM-style reference batch: images plus precomputed mu, sigma, mu_s, sigma_s, here the
            // plain-Java statistics of the samples themselves, so FID and sFID are ~0 while precision
            // and recall still compare with the reference images
            Map<Kind, Features> samF = f.features(sam, 75, 24, 24);
            Map<String, Tensor> adm = new LinkedHashMap<>();
            adm.put("arr_0", Tensor.ofBytes(DType.UINT8, new long[]{90, 24, 24, 3}, ref));
            putStats(adm, "mu", "sigma", FeatureStats.of(samF.get(Kind.POOL)));
            putStats(adm, "mu_s", "sigma_s", FeatureStats.of(samF.get(Kind.SPATIAL)));
            Npz.write(dir.resolve("adm-ref.npz"), adm);
            AdmEvaluator.Report pre = AdmEvaluator.evaluate(dir.resolve("adm-ref.npz"), dir.resolve("sam.npz"), tf, 64);
            assertEquals(0, pre.fid(), 1e-3 * got.fid(), "FID against the samples' own statistics");
            assertEquals(0, pre.sfid(), 1e-3 * got.sfid(), "sFID against the samples' own statistics");
            assertEquals(got.precision(), pre.precision());
            assertEquals(got.recall(), pre.recall());
            assertEquals("precomputed", pre.provenance().get("reference-statistics"));
        }
    }

    private static void putStats(Map<String, Tensor> npz, String muKey, String sigmaKey, FeatureStats st) {
        int d = st.dim();
        double[] sigma = new double[d * d];
        for (int i = 0; i < d; i++) {
            System.arraycopy(st.sigma()[i], 0, sigma, i * d, d);
        }
        npz.put(muKey, Tensor.ofDoubles(new long[]{d}, st.mu()));
        npz.put(sigmaKey, Tensor.ofDoubles(new long[]{d, d}, sigma));
    }

    @Test
    void badGraphsAndImagesAreOneClearError(@TempDir Path dir) throws Exception {
        AdmGraphFixture f = new AdmGraphFixture(14, 11, 8, 6, 5);
        Path noSpatial = dir.resolve("nospatial.pb");
        Files.write(noSpatial, f.graphDef(false));
        NppException e = assertThrows(NppException.class, () -> FeatureModel.inceptionGraph(noSpatial));
        assertTrue(e.getMessage().contains("'mixed_6/conv'") && e.getMessage().contains("nospatial.pb"), e.getMessage());
        Path text = dir.resolve("notes.txt");
        Files.writeString(text, "hello, not a graph\n");
        e = assertThrows(NppException.class, () -> FeatureModel.inceptionGraph(text));
        assertTrue(e.getMessage().startsWith(text.toString()) && !e.getMessage().contains("\n"), e.getMessage());
        e = assertThrows(NppException.class, () -> FeatureModel.inceptionGraph(dir.resolve("missing.pb")));
        assertTrue(e.getMessage().contains("file not found") && e.getMessage().contains(InceptionGraphModel.ADM_URL), e.getMessage());
        try (FeatureModel tf = FeatureModel.inceptionGraph(f.write(dir))) {
            e = assertThrows(NppException.class, () -> tf.run(new byte[2 * 8 * 8], new long[]{2, 8, 8, 1}, "grey.npz"));
            assertTrue(e.getMessage().contains("grey.npz") && e.getMessage().contains("RGB"), e.getMessage());
        }
    }
}
