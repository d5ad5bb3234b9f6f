package org.nextpatch.it;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.cli.NppCommand;
import org.nextpatch.config.GptConfig;
import org.nextpatch.demo.FashionMnistFiles;
import org.nextpatch.eval.FeatureNet;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.model.GptWeights;
import org.nextpatch.spark.FaultInjection;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Npz;
import org.nextpatch.tensor.Tensor;
import org.tensorflow.Graph;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Spark jobs (issue 12) in local mode against the plain commands: extract-codes on the shipped
 * Fashion-MNIST split (36 images), sample with a tiny GPT and the fixture's tokenizer (20 images),
 * evaluate with a small feature network (70 images). Same bytes, same metrics, with 1 and 3
 * partitions, through an injected task failure, and on a re-run after a partial loss.
 */
class SparkJobsTest {
    /** The fixture tokenizer (codebook 64, downsampling 2), in npp-plugin's test resources. */
    static final Path FIXTURE = Path.of("..", "npp-plugin", "src", "test", "resources", "fixtures", "llamagen-tiny");

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
        System.clearProperty(FaultInjection.PROPERTY);
    }

    private int run(String... args) {
        out.reset();
        err.reset();
        return NppCommand.execute(args);
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    /**
     * Every file under a directory (relative name -> bytes), without the Spark run record, the plain
     * commands' folder lock and their extraction record (the Spark job does not write one yet).
     */
    private static Map<String, byte[]> files(Path dir) throws Exception {
        Map<String, byte[]> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                String name = dir.relativize(p).toString();
                if (!name.equals("spark-run.json") && !name.equals(".npp.lock") && !name.matches("imagenet\\d+_extraction\\.json")) {
                    m.put(name, Files.readAllBytes(p));
                }
            }
        }
        return m;
    }

    private static void assertSameFiles(Path want, Path got) throws Exception {
        Map<String, byte[]> a = files(want);
        Map<String, byte[]> b = files(got);
        assertEquals(a.keySet(), b.keySet(), "the same files in " + got + " as in " + want);
        for (String k : a.keySet()) {
            assertArrayEquals(a.get(k), b.get(k), k + " byte for byte");
        }
    }

    private static void assertRecorded(Path dir, String master, int partitions) throws Exception {
        String rec = Files.readString(dir.resolve("spark-run.json"));
        assertTrue(rec.contains("\"master\" : \"" + master + "\""), rec);
        assertTrue(rec.contains("\"partitions\" : " + partitions), rec);
    }

    @Test
    void extractCodesIsByteIdenticalWithRetriesAndResumes(@TempDir Path tmp) throws Exception {
        FashionMnistFiles.copyShipped(tmp.resolve("fashion"));
        String[] base = {"extract-codes", "--vq-ckpt", FIXTURE.resolve("vq.pt").toString(),
                "--vq-config", FIXTURE.resolve("vq-config.json").toString(), "--device", "cpu",
                "--data-path", tmp.resolve("fashion/t10k-images-idx3-ubyte.gz").toString(),
                "--labels-path", tmp.resolve("fashion/t10k-labels-idx1-ubyte.gz").toString(),
                "--image-size", "8", "--limit", "36", "--batch-size", "4"};
        Path plain = tmp.resolve("plain");
        assertEquals(0, run(concat(base, "--code-path", plain.toString())), err.toString());
        assertEquals(36 * 2 + 1, files(plain).size(), "36 code files, 36 label files, classes.txt");

        Path one = tmp.resolve("one");
        assertEquals(0, run(concat(base, "--code-path", one.toString(), "--spark-master", "local[2]", "--partitions", "1")), err.toString());
        assertSameFiles(plain, one);
        assertRecorded(one, "local[2]", 1);

        // partition 1 fails in its first attempt after writing its first batch; Spark retries it
        System.setProperty(FaultInjection.PROPERTY, "1");
        int failures = FaultInjection.injected();
        Path three = tmp.resolve("three");
        assertEquals(0, run(concat(base, "--code-path", three.toString(), "--spark-master", "local[2,2]", "--partitions", "3")), err.toString());
        System.clearProperty(FaultInjection.PROPERTY);
        assertEquals(failures + 1, FaultInjection.injected(), "one injected failure, then a successful retry");
        assertSameFiles(plain, three);
        assertFalse(Files.exists(three.resolve("_temporary")), "no temporary files left");
        assertRecorded(three, "local[2,2]", 3);

        // a re-run runs only the partition that lost a file (images 24..35 are partition 2)
        Files.delete(three.resolve("imagenet8_codes/30.npy"));
        assertEquals(0, run(concat(base, "--code-path", three.toString(), "--spark-master", "local[2]", "--partitions", "3")), err.toString());
        assertTrue(out.toString().contains("1 images encoded, 35 already there") && out.toString().contains("1 partition(s) run, 2 complete before"),
                out.toString());
        assertSameFiles(plain, three);
    }

    @Test
    void sampleWritesTheSameTokensAndImages(@TempDir Path tmp) throws Exception {
        String[] base = tinySampleArgs(tmp, 20);
        Path plain = tmp.resolve("plain");
        assertEquals(0, run(concat(base, "--out", plain.toString())), err.toString());
        assertEquals(20 + 4, files(plain).size(), "20 PNGs, tokens.npy, labels.npy, samples.npz, grid.png");

        Path one = tmp.resolve("one");
        assertEquals(0, run(concat(base, "--out", one.toString(), "--spark-master", "local[2]", "--partitions", "1")), err.toString());
        assertSameFiles(plain, one);

        System.setProperty(FaultInjection.PROPERTY, "2");
        int failures = FaultInjection.injected();
        Path three = tmp.resolve("three");
        assertEquals(0, run(concat(base, "--out", three.toString(), "--spark-master", "local[2,2]", "--partitions", "3",
                "--engine", "onnx")), err.toString());
        System.clearProperty(FaultInjection.PROPERTY);
        assertEquals(failures + 1, FaultInjection.injected(), "one injected failure, then a successful retry");
        // the ONNX Runtime engine draws the same tokens as DJL; images decode from the tokens
        assertSameFiles(plain, three);
        assertRecorded(three, "local[2,2]", 3);
    }

    /**
     * A tiny GPT's checkpoint {@code dir/gpt.pt} (weights drawn from {@code seed}) and configuration
     * {@code dir/gpt.json}. Upstream's initialisation zeroes the output head (every token equally likely);
     * {@code head} draws it N(0, 1) instead.
     */
    private static Path tinyGpt(Path dir, long seed, boolean head) throws Exception {
        GptConfig cfg = new GptConfig(32, 2, 2, 64, 10, 16, 1, 64, null, 1e-5, 10000, 0, 0, 0, 0, 0);
        Path ckpt = dir.resolve("gpt.pt");
        Map<String, Object> w = new java.util.LinkedHashMap<>(GptWeights.init(cfg, seed));
        if (head) {
            Random r = new Random(seed);
            float[] v = new float[64 * 32];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) r.nextGaussian();
            }
            w.put("output.weight", Tensor.ofFloats(new long[]{64, 32}, v));
        }
        TorchCheckpoint.save(ckpt, Map.of("model", w));
        Files.writeString(dir.resolve("gpt.json"), cfg.toJson().toString());
        return ckpt;
    }

    /** The GPT flags of {@link #tinyGpt} (checkpoint, configuration, downsampling), for export-onnx. */
    private static String[] tinyGptFlags(Path tmp) {
        return new String[]{"--gpt-ckpt", tmp.resolve("gpt.pt").toString(), "--gpt-config", tmp.resolve("gpt.json").toString(),
                "--downsample-size", "2"};
    }

    @Test
    void sampleFromAnInt4ExportGivesThePlainCommandsTokens(@TempDir Path tmp) throws Exception {
        String[] base = concat(tinySampleArgs(tmp, 8), "--engine", "onnx");
        tinyGpt(tmp, 5, true); // logits that are not all zero: int4 then draws other tokens than float32
        Path int4 = tmp.resolve("int4");
        assertEquals(0, run(concat(concat(new String[]{"export-onnx"}, tinyGptFlags(tmp)), "--quantize", "int4", "--out", int4.toString())),
                err.toString());
        Path plain = tmp.resolve("plain");
        assertEquals(0, run(concat(base, "--onnx-dir", int4.toString(), "--out", plain.toString())), err.toString());
        Path float32 = tmp.resolve("float32");
        assertEquals(0, run(concat(base, "--out", float32.toString())), err.toString());
        assertFalse(Arrays.equals(Files.readAllBytes(plain.resolve("tokens.npy")), Files.readAllBytes(float32.resolve("tokens.npy"))),
                "the int4 export samples other tokens than float32 (so the runs below sample the int4 folder)");
        for (int partitions : new int[]{1, 2}) {
            Path spark = tmp.resolve("spark" + partitions);
            assertEquals(0, run(concat(base, "--onnx-dir", int4.toString(), "--out", spark.toString(), "--spark-master", "local[2]",
                    "--partitions", String.valueOf(partitions))), err.toString());
            assertSameFiles(plain, spark);
            assertRecorded(spark, "local[2]", partitions);
            String rec = Files.readString(spark.resolve("spark-run.json"));
            assertTrue(rec.contains("\"onnx_precision\" : \"int4-weights\"") && rec.contains("\"onnx_dir\" : \"" + int4.toAbsolutePath() + "\""), rec);
        }
    }

    @Test
    void anExportOfOtherWeightsIsRefusedBeforeSparkStarts(@TempDir Path tmp) throws Exception {
        String[] base = concat(tinySampleArgs(tmp, 4), "--engine", "onnx");
        Path other = tmp.resolve("other");
        Files.createDirectories(other);
        tinyGpt(other, 6, false);
        Path export = tmp.resolve("export");
        assertEquals(0, run(concat(concat(new String[]{"export-onnx"}, tinyGptFlags(other)), "--out", export.toString())), err.toString());
        Path out = tmp.resolve("out");
        int rc = run(concat(base, "--onnx-dir", export.toString(), "--out", out.toString(), "--spark-master", "local[1]"));
        assertEquals(1, rc, err.toString());
        List<String> lines = err.toString().lines().filter(l -> l.startsWith("npp")).toList();
        assertEquals(1, lines.size(), err.toString());
        assertTrue(lines.get(0).contains("--onnx-dir " + export.toAbsolutePath() + " was exported from other weights"), lines.get(0));
        assertFalse(err.toString().contains("\tat "), "no stack trace: " + err);
        assertFalse(Files.exists(out.resolve("_parts")), "no Spark job ran");
    }

    @Test
    void aTamperedExecutorCacheIsExportedAgain(@TempDir Path tmp) throws Exception {
        String[] base = concat(tinySampleArgs(tmp, 4), "--engine", "onnx");
        tinyGpt(tmp, 5, true);
        Path plain = tmp.resolve("plain");
        assertEquals(0, run(concat(base, "--out", plain.toString())), err.toString());
        String[] spark = concat(base, "--spark-master", "local[1]", "--partitions", "1");
        assertEquals(0, run(concat(spark, "--out", tmp.resolve("first").toString())), err.toString());
        // the executor's cache of this checkpoint (run in this JVM: local mode)
        Path cache = Path.of(System.getProperty("java.io.tmpdir"), "npp-spark-onnx",
                org.nextpatch.util.Sha256.ofFile(tmp.resolve("gpt.pt")).substring(0, 24), "gpt-generate.onnx");
        byte[] good = Files.readAllBytes(cache);
        byte[] bad = good.clone();
        bad[bad.length / 2] ^= 0x40; // a flipped bit in the weights: same size, other graph
        Files.write(cache, bad);
        Path second = tmp.resolve("second");
        assertEquals(0, run(concat(spark, "--out", second.toString())), err.toString());
        assertArrayEquals(good, Files.readAllBytes(cache), "the damaged cache was exported again");
        assertSameFiles(plain, second);

        // a cache written by another build of npp (its files intact) is exported again too
        Path manifest = cache.resolveSibling("manifest.json");
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        var m = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(manifest.toFile());
        String commit = m.path("provenance").path("producer_commit").asText();
        ((com.fasterxml.jackson.databind.node.ObjectNode) m.get("provenance")).put("producer_commit", "an older build");
        Files.writeString(manifest, json.writeValueAsString(m));
        Path third = tmp.resolve("third");
        assertEquals(0, run(concat(spark, "--out", third.toString())), err.toString());
        assertEquals(commit, json.readTree(manifest.toFile()).path("provenance").path("producer_commit").asText(), "exported again");
        assertSameFiles(plain, third);
    }

    /** A small untrained feature network exported to ONNX (10 classes): evaluate only needs its features. */
    private static Path featureModel(Path tmp) {
        Path model = tmp.resolve("f.onnx");
        try (FeatureNet net = new FeatureNet(10, 3)) {
            net.exportOnnx(model, List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"));
        }
        return model;
    }

    @Test
    void evaluatePrintsTheSameMetrics(@TempDir Path tmp) throws Exception {
        assertSparkPrintsThePlainMetrics(tmp, "--feature-model", featureModel(tmp), 8, 1, 3);
    }

    /**
     * Writes a reference (40 images) and a sample archive (30), evaluates them with {@code flag model}
     * plainly, then with Spark at each partition count: the five metric lines, the same numbers up to
     * 1e-9 relative.
     */
    private void assertSparkPrintsThePlainMetrics(Path tmp, String flag, Path model, int batchSize, int... partitions)
            throws Exception {
        Random r = new Random(4);
        Npz.write(tmp.resolve("ref.npz"), Map.of("arr_0", images(r, 40, 0, 256)));
        Npz.write(tmp.resolve("sam.npz"), Map.of("arr_0", images(r, 30, 60, 200)));
        String[] base = {"evaluate", tmp.resolve("ref.npz").toString(), tmp.resolve("sam.npz").toString(),
                flag, model.toString(), "--batch-size", String.valueOf(batchSize)};
        assertEquals(0, run(base), err.toString());
        List<String> plain = out.toString().lines().toList();
        assertEquals(List.of("Inception Score", "FID", "sFID", "Precision", "Recall"),
                plain.stream().map(l -> l.substring(0, l.indexOf(':'))).toList());
        for (int p : partitions) {
            assertEquals(0, run(concat(base, "--spark-master", "local[2]", "--partitions", String.valueOf(p))), err.toString());
            List<String> got = out.toString().lines().toList();
            assertEquals(plain.size(), got.size(), got.toString());
            for (int i = 0; i < plain.size(); i++) {
                String[] a = plain.get(i).split(": ");
                String[] b = got.get(i).split(": ");
                assertEquals(a[0], b[0]);
                double x = Double.parseDouble(a[1]);
                double y = Double.parseDouble(b[1]);
                assertTrue(Math.abs(x - y) <= 1e-9 * Math.abs(x), plain.get(i) + " vs " + got.get(i) + " with " + p + " partitions");
            }
        }
    }

    /**
     * A small GraphDef with the tensors ADM's evaluator reads ({@code ExpandDims} fed, resized and
     * scaled; {@code mixed_6/conv}; {@code pool_3}; {@code softmax/logits/MatMul} on a reshape fixed
     * to batch 1), random weights.
     */
    private static Path inceptionLikeGraph(Path tmp) throws Exception {
        Random r = new Random(9);
        float[] w1 = new float[3 * 3 * 3 * 8];
        float[] w2 = new float[8 * 10];
        for (float[] w : new float[][]{w1, w2}) {
            for (int i = 0; i < w.length; i++) {
                w[i] = (float) r.nextGaussian();
            }
        }
        try (Graph g = new Graph()) {
            Ops tf = Ops.create(g);
            var in = tf.withName("Cast").dtypes.cast(tf.constant(new byte[]{1, 2, 3}), TFloat32.class);
            var x = tf.withName("ExpandDims").expandDims(tf.reshape(in, tf.constant(new int[]{1, 1, 3})), tf.constant(0));
            var scaled = tf.withName("Mul").math.mul(tf.withName("Sub").math.sub(tf.withName("ResizeBilinear").image
                    .resizeBilinear(x, tf.constant(new int[]{13, 13})), tf.constant(128f)), tf.constant(1f / 128));
            Ops mixed6 = tf.withSubScope("mixed_6");
            var conv = mixed6.withName("conv").nn.relu(mixed6.withName("conv2d").nn.conv2d(scaled,
                    tf.constant(Shape.of(3, 3, 3, 8), DataBuffers.of(w1, true, false)), List.of(1L, 2L, 2L, 1L), "VALID"));
            var pool = tf.withName("pool_3").nn.avgPool(conv, List.of(1L, 6L, 6L, 1L), List.of(1L, 1L, 1L, 1L), "VALID");
            tf.withSubScope("softmax").withSubScope("logits").withName("MatMul").linalg.matMul(
                    tf.reshape(pool, tf.constant(new int[]{1, 8})), tf.constant(Shape.of(8, 10), DataBuffers.of(w2, true, false)));
            Path pb = tmp.resolve("graph.pb");
            Files.write(pb, g.toGraphDef().toByteArray());
            return pb;
        }
    }

    @Test
    void evaluateWithTheInceptionGraphPrintsTheSameMetrics(@TempDir Path tmp) throws Exception {
        assertSparkPrintsThePlainMetrics(tmp, "--inception-pb", inceptionLikeGraph(tmp), 4, 3);
        assertTrue(err.toString().contains("inception-graph=graph.pb") && err.toString().contains("batch-size=4"), err.toString());
    }

    private static Tensor images(Random r, int n, int lo, int hi) {
        byte[] b = new byte[n * 32 * 32 * 3];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) (lo + r.nextInt(hi - lo));
        }
        return Tensor.ofBytes(DType.UINT8, new long[]{n, 32, 32, 3}, b);
    }

    /** Shared storage without a cluster: the same jobs through a non-local Hadoop scheme. */
    @Test
    void hadoopPathsGiveTheSameFiles(@TempDir Path tmp) throws Exception {
        org.apache.hadoop.conf.Configuration.addDefaultResource("npp-test-hadoop-site.xml");
        // an image folder of PNGs in three classes, as torchvision's ImageFolder lays it out
        Path folder = tmp.resolve("images");
        FashionMnistFiles fm = FashionMnistFiles.copyShipped(tmp.resolve("fashion"));
        org.nextpatch.data.IdxImages idx = org.nextpatch.data.IdxImages.read(fm.testImages(), fm.testLabels(), 12);
        for (int i = 0; i < 12; i++) {
            Path dir = folder.resolve("class" + (i % 3)).resolve(i % 2 == 0 ? "" : "sub");
            Files.createDirectories(dir);
            org.nextpatch.io.Images.writePng(dir.resolve(String.format("img%02d.png", i)), idx.read(i));
        }
        String[] base = {"extract-codes", "--vq-config", FIXTURE.resolve("vq-config.json").toString(), "--device", "cpu",
                "--image-size", "8", "--batch-size", "2"};
        Path plain = tmp.resolve("plain");
        assertEquals(0, run(concat(base, "--data-path", folder.toString(), "--code-path", plain.toString(),
                "--vq-ckpt", FIXTURE.resolve("vq.pt").toString())), err.toString());
        Path remote = tmp.resolve("remote");
        assertEquals(0, run(concat(base, "--data-path", "nppfs://" + folder.toAbsolutePath(),
                "--vq-ckpt", "nppfs://" + FIXTURE.resolve("vq.pt").toAbsolutePath().normalize(),
                "--code-path", "nppfs://" + remote.toAbsolutePath(), "--spark-master", "local[2]", "--partitions", "3")), err.toString());
        assertSameFiles(plain, remote);
        assertRecorded(remote, "local[2]", 3);

        // evaluate reads its archives and model through Hadoop (copied to the executor's disk)
        Path model = featureModel(tmp);
        Random r = new Random(5);
        Npz.write(tmp.resolve("ref.npz"), Map.of("arr_0", images(r, 20, 0, 256)));
        Npz.write(tmp.resolve("sam.npz"), Map.of("arr_0", images(r, 20, 30, 220)));
        assertEquals(0, run("evaluate", tmp.resolve("ref.npz").toString(), tmp.resolve("sam.npz").toString(),
                "--feature-model", model.toString(), "--batch-size", "8"), err.toString());
        String want = out.toString();
        assertEquals(0, run("evaluate", "nppfs://" + tmp.resolve("ref.npz").toAbsolutePath(), "nppfs://" + tmp.resolve("sam.npz").toAbsolutePath(),
                "--feature-model", "nppfs://" + model.toAbsolutePath(), "--batch-size", "8",
                "--spark-master", "local[2]", "--partitions", "2"), err.toString());
        assertEquals(want, out.toString());

        // sample writes its PNGs, parts and merged files through Hadoop
        String[] sample = tinySampleArgs(tmp, 8);
        Path splain = tmp.resolve("splain");
        assertEquals(0, run(concat(sample, "--out", splain.toString())), err.toString());
        Path sremote = tmp.resolve("sremote");
        assertEquals(0, run(concat(sample, "--out", "nppfs://" + sremote.toAbsolutePath(), "--spark-master", "local[2]",
                "--partitions", "2")), err.toString());
        assertSameFiles(splain, sremote);
    }

    /** A tiny GPT whose vocabulary is the fixture tokenizer's codebook (4x4 tokens -> 8x8 images), as sample flags. */
    private static String[] tinySampleArgs(Path tmp, int n) throws Exception {
        Path ckpt = tinyGpt(tmp, 5, false);
        Path cfgFile = tmp.resolve("gpt.json");
        return new String[]{"sample", "--gpt-ckpt", ckpt.toString(), "--gpt-config", cfgFile.toString(), "--downsample-size", "2",
                "--device", "cpu", "--num-samples", String.valueOf(n), "--batch-size", "4", "--cfg-scale", "2", "--seed", "7",
                "--vq-ckpt", FIXTURE.resolve("vq.pt").toString(), "--vq-config", FIXTURE.resolve("vq-config.json").toString()};
    }

    @Test
    void aLocalFolderAnotherRunWritesIsRefusedBeforeSparkStarts(@TempDir Path tmp) throws Exception {
        FashionMnistFiles.copyShipped(tmp.resolve("fashion"));
        Path codes = tmp.resolve("codes");
        try (org.nextpatch.util.DirLock held = org.nextpatch.util.DirLock.acquire(codes, "test")) {
            int rc = run("extract-codes", "--vq-ckpt", FIXTURE.resolve("vq.pt").toString(), "--vq-config",
                    FIXTURE.resolve("vq-config.json").toString(), "--device", "cpu",
                    "--data-path", tmp.resolve("fashion/t10k-images-idx3-ubyte.gz").toString(),
                    "--labels-path", tmp.resolve("fashion/t10k-labels-idx1-ubyte.gz").toString(), "--limit", "4",
                    "--code-path", codes.toString(), "--image-size", "8", "--spark-master", "local[1]");
            assertEquals(1, rc, err.toString());
            List<String> lines = err.toString().lines().filter(l -> l.startsWith("npp")).toList();
            assertEquals(1, lines.size(), err.toString());
            assertTrue(lines.get(0).contains("another npp run is writing there"), lines.get(0));
        }
        try (var files = Files.list(codes)) {
            assertEquals(List.of(org.nextpatch.util.DirLock.FILE), files.map(f -> f.getFileName().toString()).toList(),
                    "nothing written while another run held the folder");
        }
    }

    @Test
    void badMasterAndUnreachablePathGiveOneLine(@TempDir Path tmp) {
        String[] base = {"extract-codes", "--vq-ckpt", FIXTURE.resolve("vq.pt").toString(), "--device", "cpu",
                "--data-path", tmp.toString(), "--code-path", tmp.resolve("out").toString(), "--image-size", "8"};
        int rc = run(concat(base, "--spark-master", "nosuch[2]"));
        assertNotEquals(0, rc);
        List<String> lines = err.toString().lines().filter(l -> l.startsWith("npp")).toList();
        assertEquals(1, lines.size(), err.toString());
        assertTrue(lines.get(0).contains("--spark-master nosuch[2]"), lines.get(0));
        assertFalse(err.toString().contains("\tat "), "no stack trace: " + err);

        rc = run("extract-codes", "--vq-ckpt", FIXTURE.resolve("vq.pt").toString(), "--device", "cpu",
                "--data-path", "nosuchfs://nowhere/images", "--code-path", tmp.resolve("out").toString(), "--image-size", "8",
                "--spark-master", "local[1]");
        assertEquals(1, rc, err.toString());
        lines = err.toString().lines().filter(l -> l.startsWith("npp")).toList();
        assertEquals(1, lines.size(), err.toString());
        assertTrue(lines.get(0).contains("nosuchfs://nowhere/images"), lines.get(0));
        assertFalse(err.toString().contains("\tat "), "no stack trace: " + err);

        // a task's own error (found on the executor) comes back as the plain command's one line
        FashionMnistFiles.copyShipped(tmp.resolve("fashion"));
        rc = run("extract-codes", "--vq-ckpt", FIXTURE.resolve("vq.pt").toString(), "--vq-config", FIXTURE.resolve("vq-config.json").toString(),
                "--device", "cpu", "--data-path", tmp.resolve("fashion/t10k-images-idx3-ubyte.gz").toString(),
                "--labels-path", tmp.resolve("fashion/t10k-labels-idx1-ubyte.gz").toString(), "--limit", "4",
                "--code-path", tmp.resolve("out").toString(), "--image-size", "9", "--spark-master", "local[1]");
        assertEquals(1, rc, err.toString());
        lines = err.toString().lines().filter(l -> l.startsWith("npp")).toList();
        assertEquals(1, lines.size(), err.toString());
        assertTrue(lines.get(0).contains("--image-size 9 is not a multiple of the tokenizer's downsampling 2"), lines.get(0));

        // the flags' misfit is found before Spark runs anything
        rc = run("sample", "--gpt-ckpt", FIXTURE.resolve("gpt.pt").toString(), "--gpt-config", FIXTURE.resolve("gpt-config.json").toString(),
                "--device", "cpu", "--classes", "1,2", "--vq-ckpt", FIXTURE.resolve("vq.pt").toString(),
                "--vq-config", FIXTURE.resolve("vq-config.json").toString(), "--out", tmp.resolve("s").toString(),
                "--spark-master", "local[1,2]");
        assertEquals(1, rc, err.toString());
        lines = err.toString().lines().filter(l -> l.startsWith("npp")).toList();
        assertEquals(1, lines.size(), err.toString());
        assertTrue(lines.get(0).contains("codebook of 64 codes, but the GPT's vocabulary is 256"), lines.get(0));
        assertFalse(err.toString().contains("\tat "), "no stack trace: " + err);

        // a task that fails in every attempt (local[1]: one attempt) ends the command with one line
        System.setProperty(FaultInjection.PROPERTY, "0");
        rc = run("extract-codes", "--vq-ckpt", FIXTURE.resolve("vq.pt").toString(), "--device", "cpu", "--image-size", "8",
                "--data-path", tmp.resolve("fashion/t10k-images-idx3-ubyte.gz").toString(),
                "--labels-path", tmp.resolve("fashion/t10k-labels-idx1-ubyte.gz").toString(), "--limit", "4",
                "--vq-config", FIXTURE.resolve("vq-config.json").toString(), "--code-path", tmp.resolve("out2").toString(),
                "--spark-master", "local[1]");
        System.clearProperty(FaultInjection.PROPERTY);
        assertEquals(1, rc, err.toString());
        lines = err.toString().lines().filter(l -> l.startsWith("npp")).toList();
        assertEquals(1, lines.size(), err.toString());
        assertTrue(lines.get(0).contains("Spark job failed") && lines.get(0).contains("injected failure"), lines.get(0));
    }
}
