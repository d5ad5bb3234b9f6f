package org.nextpatch.cli;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.eval.AdmEvaluator;
import org.nextpatch.eval.AdmGraphFixture;
import org.nextpatch.eval.FeatureNet;
import org.nextpatch.eval.FeatureStats;
import org.nextpatch.eval.Features;
import org.nextpatch.eval.Frechet;
import org.nextpatch.eval.ImageBatch;
import org.nextpatch.eval.InceptionScore;
import org.nextpatch.eval.OnnxFeatureModel;
import org.nextpatch.eval.OnnxFeatureModel.Kind;
import org.nextpatch.eval.PrecisionRecall;
import org.nextpatch.eval.PyFloat;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Npz;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.Sha256;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code npp evaluate} in its modes (ONNX feature model, ADM's Inception graph, feature matrices), its output format and its errors. */
class EvaluateCommandTest {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private PrintStream oldOut;
    private PrintStream oldErr;

    @BeforeEach
    void capture() {
        oldOut = System.out;
        oldErr = System.err;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @AfterEach
    void restore() {
        System.setOut(oldOut);
        System.setErr(oldErr);
    }

    private List<String> stdout() {
        return Arrays.asList(out.toString(StandardCharsets.UTF_8).strip().split("\\R"));
    }

    private String stderr() {
        return err.toString(StandardCharsets.UTF_8);
    }

    private static Features gaussian(Random r, int n, int d, double shift) {
        float[] x = new float[n * d];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (r.nextGaussian() + shift);
        }
        return new Features(n, d, x);
    }

    @Test
    void featureMatricesPrintFidPrecisionRecall(@TempDir Path dir) {
        Random r = new Random(1);
        Features a = gaussian(r, 120, 6, 0);
        Features b = gaussian(r, 90, 6, 0.5);
        Npy.write(dir.resolve("a.npy"), a.toTensor());
        Npy.write(dir.resolve("b.npy"), b.toTensor());
        int rc = NppCommand.execute("evaluate", "--ref-features", dir.resolve("a.npy").toString(),
                "--sample-features", dir.resolve("b.npy").toString());
        assertEquals(0, rc, stderr());
        double fid = Frechet.distance(FeatureStats.of(b), FeatureStats.of(a));
        PrecisionRecall.Result pr = PrecisionRecall.compute(a, b);
        assertEquals(List.of("FID: " + PyFloat.repr(fid), "Precision: " + PyFloat.repr(pr.precision()),
                "Recall: " + PyFloat.repr(pr.recall())), stdout());
    }

    @Test
    void featureMatrixErrorsAreOneLine(@TempDir Path dir) {
        Npy.write(dir.resolve("a.npy"), Tensor.ofFloats(new long[]{4, 3}, new float[12]));
        Npy.write(dir.resolve("v.npy"), Tensor.ofFloats(new long[]{12}, new float[12]));
        Npy.write(dir.resolve("i.npy"), Tensor.ofLongs(new long[]{4, 3}, new long[12]));
        assertEquals(1, NppCommand.execute("evaluate", "--ref-features", dir.resolve("a.npy").toString(),
                "--sample-features", dir.resolve("v.npy").toString()));
        assertTrue(stderr().contains("--sample-features") && stderr().contains("[N, D]"), stderr());
        assertEquals(1, NppCommand.execute("evaluate", "--ref-features", dir.resolve("i.npy").toString(),
                "--sample-features", dir.resolve("a.npy").toString()));
        assertTrue(stderr().contains("float32"), stderr());
        assertEquals(2, NppCommand.execute("evaluate", "--ref-features", dir.resolve("a.npy").toString()));
    }

    private static Tensor images(Random r, int n, int size, int lo, int hi) {
        byte[] px = new byte[n * size * size * 3];
        for (int i = 0; i < n * size * size; i++) {
            byte v = (byte) (lo + r.nextInt(hi - lo));
            px[3 * i] = v;
            px[3 * i + 1] = v;
            px[3 * i + 2] = v;
        }
        return Tensor.ofBytes(DType.UINT8, new long[]{n, size, size, 3}, px);
    }

    @Test
    void npzBatchesGiveAllFiveMetricsInTheEvaluatorsOrder(@TempDir Path dir) {
        Path model = dir.resolve("f.onnx");
        try (FeatureNet net = new FeatureNet(10, 3)) {
            net.exportOnnx(model, List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"));
        }
        Random r = new Random(2);
        Tensor refImages = images(r, 40, 32, 0, 256);
        Tensor samImages = images(r, 30, 32, 60, 200);
        Npz.write(dir.resolve("ref.npz"), Map.of("arr_0", refImages));
        Npz.write(dir.resolve("sam.npz"), Map.of("arr_0", samImages));
        int rc = NppCommand.execute("evaluate", dir.resolve("ref.npz").toString(), dir.resolve("sam.npz").toString(),
                "--feature-model", model.toString(), "--batch-size", "16");
        assertEquals(0, rc, stderr());
        List<String> lines = stdout();
        assertEquals(5, lines.size(), lines.toString());
        assertTrue(lines.stream().noneMatch(l -> l.contains("nan")), lines.toString());
        String[] names = {"Inception Score", "FID", "sFID", "Precision", "Recall"};
        for (int i = 0; i < 5; i++) {
            assertTrue(lines.get(i).startsWith(names[i] + ": "), lines.get(i));
        }
        // independently: the features run in one batch, then the metrics
        try (OnnxFeatureModel fm = new OnnxFeatureModel(model, Map.of(Kind.POOL, "pool", Kind.SPATIAL, "spatial",
                Kind.LOGITS, "logits"), 7, false)) {
            Map<Kind, Features> ref = fm.run(refImages.toByteArray(), refImages.shape(), "ref");
            Map<Kind, Features> sam = fm.run(samImages.toByteArray(), samImages.shape(), "sam");
            double is = InceptionScore.fromLogits(sam.get(Kind.LOGITS));
            double fid = Frechet.distance(FeatureStats.of(sam.get(Kind.POOL)), FeatureStats.of(ref.get(Kind.POOL)));
            double sfid = Frechet.distance(FeatureStats.of(sam.get(Kind.SPATIAL)), FeatureStats.of(ref.get(Kind.SPATIAL)));
            PrecisionRecall.Result pr = PrecisionRecall.compute(ref.get(Kind.POOL), sam.get(Kind.POOL));
            double[] expected = {is, fid, sfid, pr.precision(), pr.recall()};
            for (int i = 0; i < 5; i++) {
                double got = Double.parseDouble(lines.get(i).substring(names[i].length() + 2));
                // batches of 16 vs one batch of 40: the same float32 features up to rounding
                assertEquals(expected[i], got, 1e-6 * Math.max(1, Math.abs(expected[i])), names[i]);
            }
        }

        // precomputed reference statistics are used for FID instead of the images' own
        Features refPool;
        try (OnnxFeatureModel fm = new OnnxFeatureModel(model, Map.of(Kind.POOL, "pool"), 7, false)) {
            refPool = fm.run(refImages.toByteArray(), refImages.shape(), "ref").get(Kind.POOL);
        }
        FeatureStats shifted = FeatureStats.of(refPool);
        double[] mu = shifted.mu().clone();
        mu[0] += 3; // FID grows by exactly 3^2 relative to the images' own statistics
        double[] sigma = new double[mu.length * mu.length];
        for (int i = 0; i < mu.length; i++) {
            System.arraycopy(shifted.sigma()[i], 0, sigma, i * mu.length, mu.length);
        }
        Map<String, Tensor> withStats = new LinkedHashMap<>();
        withStats.put("arr_0", refImages);
        withStats.put("mu", Tensor.ofDoubles(new long[]{mu.length}, mu));
        withStats.put("sigma", Tensor.ofDoubles(new long[]{mu.length, mu.length}, sigma));
        Npz.write(dir.resolve("ref2.npz"), withStats);
        out.reset();
        rc = NppCommand.execute("evaluate", dir.resolve("ref2.npz").toString(), dir.resolve("sam.npz").toString(),
                "--feature-model", model.toString(), "--spatial-output", "nosuch");
        assertEquals(0, rc, stderr());
        List<String> l2 = stdout();
        assertEquals(List.of("Inception Score", "FID", "Precision", "Recall"),
                l2.stream().map(s -> s.substring(0, s.indexOf(':'))).toList());
        assertTrue(stderr().contains("note: sFID skipped") && stderr().contains("'nosuch'"), stderr());
        double fidOwn = Double.parseDouble(lines.get(1).substring(5));
        double fidPre = Double.parseDouble(l2.get(1).substring(5));
        assertTrue(fidPre > fidOwn, "shifted mean increases FID");
    }

    @Test
    void badArchivesGiveClearErrors(@TempDir Path dir) {
        Path model = dir.resolve("f.onnx");
        try (FeatureNet net = new FeatureNet(10, 3)) {
            net.exportOnnx(model, List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"));
        }
        Random r = new Random(3);
        Npz.write(dir.resolve("ok.npz"), Map.of("arr_0", images(r, 8, 28, 0, 256)));
        Npz.write(dir.resolve("nokey.npz"), Map.of("images", images(r, 8, 28, 0, 256)));
        Npz.write(dir.resolve("float.npz"), Map.of("arr_0", Tensor.ofFloats(new long[]{2, 4, 4, 3}, new float[96])));
        Npz.write(dir.resolve("rank2.npz"), Map.of("arr_0", Tensor.ofBytes(DType.UINT8, new long[]{4, 8}, new byte[32])));
        Map<String, Tensor> badStats = new LinkedHashMap<>();
        badStats.put("arr_0", images(r, 8, 28, 0, 256));
        badStats.put("mu", Tensor.ofDoubles(new long[]{5}, new double[5]));
        badStats.put("sigma", Tensor.ofDoubles(new long[]{5, 5}, new double[25]));
        Npz.write(dir.resolve("wrongdim.npz"), badStats);
        String[][] cases = {
                {"nokey.npz", "no 'arr_0'"},
                {"float.npz", "must be uint8"},
                {"rank2.npz", "[N, H, W, C]"},
                {"wrongdim.npz", "5 dimensions"},
                {"missing.npz", "file not found"},
        };
        for (String[] c : cases) {
            err.reset();
            int rc = NppCommand.execute("evaluate", dir.resolve(c[0]).toString(), dir.resolve("ok.npz").toString(),
                    "--feature-model", model.toString());
            assertEquals(1, rc, c[0]);
            String e = stderr().strip();
            assertTrue(e.contains(c[1]) && !e.contains("\n"), c[0] + ": " + e);
        }
        err.reset();
        assertEquals(1, NppCommand.execute("evaluate", dir.resolve("ok.npz").toString(), dir.resolve("ok.npz").toString(),
                "--feature-model", dir.resolve("none.onnx").toString()));
        assertTrue(stderr().contains("--feature-model") && stderr().contains("not found"), stderr());
    }

    @Test
    void inMemoryImagesThroughTheSameProcedure(@TempDir Path dir) {
        Path model = dir.resolve("f.onnx");
        try (FeatureNet net = new FeatureNet(10, 3)) {
            net.exportOnnx(model, List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"));
        }
        Random r = new Random(4);
        Tensor a = images(r, 20, 28, 0, 256);
        try (OnnxFeatureModel fm = new OnnxFeatureModel(model, Map.of(Kind.POOL, "pool", Kind.LOGITS, "logits"), 7, false)) {
            ImageBatch batch = ImageBatch.of("a", a.toByteArray(), 20, 28, 28, 3);
            AdmEvaluator.Report rep = AdmEvaluator.evaluate(batch, batch, fm, 7);
            assertEquals(0, rep.fid(), 1e-6);
            assertEquals(1.0, rep.precision());
            assertEquals(1.0, rep.recall());
            assertEquals(null, rep.sfid());
            assertEquals(1, rep.notes().size());
        }
    }

    @Test
    void inceptionGraphPrintsTheFiveNumbersOfThePlainJavaFeaturesWithProvenance(@TempDir Path dir) throws Exception {
        AdmGraphFixture f = new AdmGraphFixture(21, 13, 8, 10, 7);
        Path pb = f.write(dir);
        Random r = new Random(7);
        Npz.write(dir.resolve("ref.npz"), Map.of("arr_0", Tensor.ofBytes(DType.UINT8, new long[]{50, 16, 20, 3},
                AdmGraphFixture.images(r, 50, 16, 20, 3))));
        Npz.write(dir.resolve("sam.npz"), Map.of("arr_0", Tensor.ofBytes(DType.UINT8, new long[]{40, 16, 20, 3},
                AdmGraphFixture.images(r, 40, 16, 20, 3, 80))));
        String ref = dir.resolve("ref.npz").toString();
        String sam = dir.resolve("sam.npz").toString();
        assertEquals(0, NppCommand.execute("evaluate", ref, sam, "--inception-pb", pb.toString(), "--batch-size", "7"), stderr());
        List<String> lines = out.toString(StandardCharsets.UTF_8).strip().lines().toList();
        String[] names = {"Inception Score", "FID", "sFID", "Precision", "Recall"};
        assertEquals(5, lines.size(), lines.toString());
        AdmEvaluator.Report want = AdmEvaluator.evaluate(Path.of(ref), Path.of(sam), f.plainJava(), 100);
        Double[] expected = {want.inceptionScore(), want.fid(), want.sfid(), want.precision(), want.recall()};
        Double[] got = new Double[5];
        for (int i = 0; i < 5; i++) {
            assertTrue(lines.get(i).startsWith(names[i] + ": "), lines.get(i));
            got[i] = Double.parseDouble(lines.get(i).substring(names[i].length() + 2));
        }
        AdmGraphFixture.assertClose(want, new AdmEvaluator.Report(got[0], got[1], got[2], got[3], got[4],
                List.of(), Map.of()), 40);
        String e = stderr();
        assertTrue(e.contains("provenance: inception-graph=graph.pb inception-graph-sha256=" + Sha256.ofFile(pb))
                && e.contains("batch-size=7") && e.contains("sample-images=40"), e);
        assertTrue(e.contains("note: " + pb + " is not ADM's classify_image_graph_def.pb"), e);

        err.reset();
        assertEquals(0, NppCommand.execute("evaluate", ref, sam, "--inception-pb", pb.toString()), stderr());
        assertTrue(stderr().contains("batch-size=64"), "ADM's batch size by default: " + stderr());
        for (String[] bad : new String[][]{{"--feature-model", pb.toString()}, {"--pool-output", "x"}}) {
            err.reset();
            List<String> args = new ArrayList<>(List.of("evaluate", ref, sam, "--inception-pb", pb.toString()));
            args.addAll(List.of(bad));
            assertEquals(2, NppCommand.execute(args.toArray(String[]::new)));
            assertTrue(stderr().contains(bad[0]), stderr());
        }
    }

    @Test
    void inceptionGraphWithoutTensorFlowIsOneLineSayingWhatToAdd(@TempDir Path dir) throws Exception {
        // the project's classes and dependencies, less TensorFlow's jars, in a loader of their own
        List<URL> urls = new ArrayList<>();
        for (String p : System.getProperty("java.class.path").split(File.pathSeparator)) {
            if (!p.contains("org/tensorflow") && !p.contains("org/bytedeco")) {
                urls.add(Path.of(p).toUri().toURL());
            }
        }
        Files.write(dir.resolve("graph.pb"), new byte[]{1, 2, 3});
        Npz.write(dir.resolve("a.npz"), Map.of("arr_0", Tensor.ofBytes(DType.UINT8, new long[]{2, 4, 4, 3}, new byte[96])));
        String a = dir.resolve("a.npz").toString();
        try (URLClassLoader loader = new URLClassLoader(urls.toArray(URL[]::new), ClassLoader.getPlatformClassLoader())) {
            Class<?> cli = loader.loadClass(NppCommand.class.getName());
            int rc = (int) cli.getMethod("execute", String[].class).invoke(null, (Object) new String[]{
                    "evaluate", a, a, "--inception-pb", dir.resolve("graph.pb").toString()});
            assertEquals(1, rc);
            String e = stderr().strip();
            assertTrue(e.lines().count() == 1 && e.contains("needs TensorFlow Java")
                    && e.contains("org.tensorflow:tensorflow-core-api:1.1.0")
                    && e.contains("org.tensorflow:tensorflow-core-native:1.1.0 with classifier linux-x86_64"), e);
            try {
                loader.loadClass("org.tensorflow.Graph");
                throw new AssertionError("TensorFlow is still visible to the isolated loader");
            } catch (ClassNotFoundException expected) {
                // the test's premise holds
            }
        } catch (InvocationTargetException e) {
            throw new AssertionError("execute threw instead of printing one line", e.getCause());
        }
    }
}
