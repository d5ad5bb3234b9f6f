package org.nextpatch.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.nextpatch.cli.NppCommand;
import org.nextpatch.config.GptConfig;
import org.nextpatch.demo.FashionMnistFiles;
import org.nextpatch.eval.FeatureNet;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.model.GptWeights;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Npz;
import org.nextpatch.tensor.Tensor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Opt-in benchmark (docs/benchmarks.md, "Spark jobs"): each job run plain, on {@code local[1]} and on
 * {@code local[2]} (4 partitions), side by side in one JVM, timed from the command's start to its
 * end (Spark's start-up included). Enable with {@code -Dnpp.bench.spark=DIR}; the table goes to
 * stdout and {@code DIR/spark-bench.md}.
 */
@EnabledIfSystemProperty(named = "npp.bench.spark", matches = ".+")
class SparkBenchTest {
    static final Path FIXTURE = SparkJobsTest.FIXTURE;

    private static double time(String... args) {
        long t0 = System.nanoTime();
        int rc = NppCommand.execute(args);
        double s = (System.nanoTime() - t0) / 1e9;
        assertEquals(0, rc, String.join(" ", args));
        return s;
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    /** Plain, local[1], local[2] times of one job; {@code out} names the output flag, "" for none. */
    private static double[] three(Path dir, String[] base, String outFlag) {
        // warm-up: the JVM's first run of a job pays for class loading, JIT and the engines' start
        time(outFlag.isEmpty() ? base : concat(base, outFlag, dir.resolve("warmup" + System.nanoTime()).toString()));
        double[] t = new double[3];
        String[][] modes = {{}, {"--spark-master", "local[1]", "--partitions", "4"}, {"--spark-master", "local[2]", "--partitions", "4"}};
        for (int m = 0; m < 3; m++) {
            String[] a = outFlag.isEmpty() ? base : concat(base, outFlag, dir.resolve("run" + m).toString());
            t[m] = time(concat(a, modes[m]));
        }
        return t;
    }

    @Test
    void sparkJobs() throws Exception {
        Path dir = Files.createTempDirectory(Files.createDirectories(Path.of(System.getProperty("npp.bench.spark"))), "spark-bench");
        FashionMnistFiles.copyShipped(dir.resolve("fashion"));
        int nExtract = 1000;
        String[] extract = {"extract-codes", "--vq-ckpt", FIXTURE.resolve("vq.pt").toString(),
                "--vq-config", FIXTURE.resolve("vq-config.json").toString(), "--device", "cpu",
                "--data-path", dir.resolve("fashion/t10k-images-idx3-ubyte.gz").toString(),
                "--labels-path", dir.resolve("fashion/t10k-labels-idx1-ubyte.gz").toString(),
                "--image-size", "16", "--limit", String.valueOf(nExtract), "--batch-size", "32"};
        double[] te = three(dir, extract, "--code-path");

        GptConfig cfg = GptConfig.fromJson(Path.of("..", "docs", "bench", "gpt-small.json"));
        Path ckpt = dir.resolve("gpt-small.pt");
        TorchCheckpoint.save(ckpt, Map.of("model", new LinkedHashMap<String, Object>(GptWeights.init(cfg, 1))));
        int nSample = 256;
        String[] sample = {"sample", "--gpt-ckpt", ckpt.toString(), "--gpt-config", "../docs/bench/gpt-small.json",
                "--device", "cpu", "--num-samples", String.valueOf(nSample), "--batch-size", "32", "--cfg-scale", "2"};
        double[] ts = three(dir, sample, "--out");

        Path model = dir.resolve("f.onnx");
        try (FeatureNet net = new FeatureNet(10, 3)) {
            net.exportOnnx(model, List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"));
        }
        int nEval = 2000;
        Random r = new Random(1);
        for (String f : new String[]{"ref.npz", "sam.npz"}) {
            byte[] b = new byte[nEval * 32 * 32 * 3];
            r.nextBytes(b);
            Npz.write(dir.resolve(f), Map.of("arr_0", Tensor.ofBytes(DType.UINT8, new long[]{nEval, 32, 32, 3}, b)));
        }
        String[] eval = {"evaluate", dir.resolve("ref.npz").toString(), dir.resolve("sam.npz").toString(),
                "--feature-model", model.toString(), "--batch-size", "100"};
        double[] tv = three(dir, eval, "");

        List<String> rows = new ArrayList<>();
        rows.add("| job | items | plain s | local[1] s | local[2] s | local[2] / local[1] throughput | local[2] time / plain time |");
        rows.add("|---|---|---|---|---|---|---|");
        rows.add(row("extract-codes (fixture VQ, 16 px, batch 32)", nExtract + " images", te));
        rows.add(row("sample (gpt-small.json, 64 tokens, cfg 2, batch 32, DJL)", nSample + " images", ts));
        rows.add(row("evaluate (feature net, 32 px, batch 100)", 2 * nEval + " images", tv));
        rows.add("");
        rows.add(String.format(Locale.ROOT, "Load average at the end: %.1f on %d cores.",
                java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage(),
                Runtime.getRuntime().availableProcessors()));
        String table = String.join("\n", rows) + "\n";
        System.out.println(table);
        Files.writeString(dir.getParent().resolve("spark-bench.md"), table);
    }

    /**
     * The CPU cost per image of extraction's input side (JPEG decode, ADM crop, crops, float CHW) at
     * ImageNet-like size, one thread: the measured term of the ImageNet cost model in docs/benchmarks.md.
     */
    @Test
    void imageNetDecodeCost() throws Exception {
        Path dir = Files.createTempDirectory(Files.createDirectories(Path.of(System.getProperty("npp.bench.spark"))), "jpeg");
        Random r = new Random(1);
        int n = 40;
        for (int k = 0; k < n; k++) {
            java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(500, 375, java.awt.image.BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < 375; y++) {
                for (int x = 0; x < 500; x++) {
                    int v = Math.max(0, Math.min(255, (int) (128 + 60 * Math.sin(x / 17.0 + k) * Math.cos(y / 23.0)) + r.nextInt(30)));
                    img.setRGB(x, y, (v << 16) | ((255 - v) << 8) | (v / 2));
                }
            }
            javax.imageio.ImageIO.write(img, "jpg", dir.resolve(k + ".jpg").toFile());
        }
        List<String> lines = new ArrayList<>();
        for (int size : new int[]{256, 384}) {
            for (boolean ten : new boolean[]{false, true}) {
                org.nextpatch.data.CodeExtractor.Settings s = new org.nextpatch.data.CodeExtractor.Settings(size, ten, 1.1, dir, 8);
                float[] buf = new float[s.augmentations() * 3 * size * size];
                double ms = 0;
                for (int rep = 0; rep < 4; rep++) {
                    long t0 = System.nanoTime();
                    for (int k = 0; k < n; k++) {
                        org.nextpatch.io.Images.Rgb[] c = org.nextpatch.data.CodeExtractor.augment(
                                org.nextpatch.io.Images.readRgb(dir.resolve(k + ".jpg")), s);
                        for (int i = 0; i < c.length; i++) {
                            org.nextpatch.data.CodeExtractor.toChw(c[i], buf, i * 3 * size * size);
                        }
                    }
                    ms = (System.nanoTime() - t0) / 1e6 / n;
                }
                lines.add(String.format(Locale.ROOT, "| 500x375 JPEG -> S=%d, %s | %.1f ms |", size, ten ? "ten crops" : "centre + flip", ms));
            }
        }
        String table = "| decode + crop + normalise, one thread (4th pass) | per image |\n|---|---|\n" + String.join("\n", lines) + "\n";
        System.out.println(table);
        Files.writeString(dir.getParent().resolve("decode-cost.md"), table);
    }

    private static String row(String job, String items, double[] t) {
        return String.format(Locale.ROOT, "| %s | %s | %.1f | %.1f | %.1f | %.2f | %.2f |", job, items, t[0], t[1], t[2], t[1] / t[2], t[2] / t[0]);
    }
}
