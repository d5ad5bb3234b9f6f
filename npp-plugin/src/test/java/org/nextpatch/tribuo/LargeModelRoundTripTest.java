package org.nextpatch.tribuo;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.nextpatch.config.GptConfig;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.model.GptWeights;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Tensor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A GPT-XL-shaped model (775 M parameters, 3.1 GB in float32, over protobuf's 2 GB: weights beside the
 * model file; 1.55 GB in half precision: inline) through {@code npp import}, the Tribuo model file and
 * {@code sample --tribuo-model}: the greedy tokens
 * must equal {@code sample --gpt-ckpt}'s from the same random checkpoint. Each step runs in its own
 * JVM with a 2 GB heap (so not even one float32 copy of the weights fits on the heap) under
 * {@code /usr/bin/time}, which gives its peak resident memory; half-precision imports are compared
 * with float32 on the logits of {@code npp forward}. Prints one line per step (the figures in
 * docs/benchmarks.md).
 * <p>
 * Needs about 10 GB of disk, 8 GB of memory and several minutes, so it only runs when asked:
 * {@code -Dnpp.largeModel=DIR} (a scratch directory; everything written there is deleted).
 */
@EnabledIfSystemProperty(named = "npp.largeModel", matches = ".+")
class LargeModelRoundTripTest {
    private static final Pattern TIME = Pattern.compile("NPP_TIME (\\d+) ([0-9.]+)");
    private static final Pattern LOG = Pattern.compile("(saved .*|mapped the weights .*|SHA-256 of .*|sampled \\d+ images in [0-9.]+ s: .*)");

    /** One child process: exit code, output, peak RSS (kB, -1 if unknown), wall seconds. */
    record Step(String name, int rc, String output, long peakKb, double seconds) {
        String line() {
            List<String> notes = new ArrayList<>();
            Matcher m = LOG.matcher(output);
            while (m.find()) {
                notes.add(m.group(1).replaceAll("/\\S*/", "").replaceAll("[0-9a-f]{64}", "<sha256>"));
            }
            return String.format(Locale.ROOT, "%-32s %6.1f s  peak RSS %5.2f GB  %s", name, seconds, peakKb / 1048576.0,
                    String.join("; ", notes));
        }
    }

    @Test
    void gptXlShapedModelRoundTripsThroughTheTribuoModelFile() throws Exception {
        Path root = Files.createDirectories(Path.of(System.getProperty("npp.largeModel")));
        Path dir = Files.createTempDirectory(root, "npp-large-model");
        List<Step> steps = new ArrayList<>();
        try {
            GptConfig c = GptConfig.named("GPT-XL", GptConfig.blockSizeFor(64, 16), 16384, 1000);
            Path ck = dir.resolve("gpt-xl-random.pt");
            long t0 = System.nanoTime();
            writeRandomCheckpoint(c, ck, dir);
            System.out.printf(Locale.ROOT, "random GPT-XL checkpoint: %d parameters, %.2f GB, written in %.1f s%n",
                    c.parameterCount(), Files.size(ck) / 1e9, (System.nanoTime() - t0) / 1e9);
            assertTrue(Files.size(ck) > (1L << 31), "the checkpoint must be over 2 GB");

            String[] size = {"--gpt-model", "GPT-XL", "--image-size", "64"};
            Path m32 = dir.resolve("xl.tribuo");
            steps.add(run("import float32", "import", "--gpt-ckpt", ck.toString(), size, "--out", m32.toString()));
            assertTrue(Files.size(m32) < (1 << 20), "the weights live outside the model file");
            assertTrue(Files.size(dir.resolve("xl.tribuo.weights")) >= c.parameterCount() * 4);

            // loading alone (read, check the SHA-256, map): the provenance command loads the model and prints it
            steps.add(run("load (npp provenance)", "provenance", m32.toString()));
            String[] sample = {"--classes", "1,7", "--greedy", "--cfg-scale", "1.5", "--seed", "0", "--device", "cpu",
                    "--batch-size", "1"};
            Path a = dir.resolve("from-ckpt"), b = dir.resolve("from-tribuo");
            steps.add(run("sample --gpt-ckpt", "sample", "--gpt-ckpt", ck.toString(), size, sample, "--out", a.toString()));
            steps.add(run("sample --tribuo-model", "sample", "--tribuo-model", m32.toString(), sample, "--out", b.toString()));
            long[] tokens = Npy.read(a.resolve("tokens.npy")).toLongArray();
            assertArrayEquals(tokens, Npy.read(b.resolve("tokens.npy")).toLongArray());

            // logits of float32 against half-precision storage, on the sampled grids
            Path tok = dir.resolve("tokens.npy"), lab = dir.resolve("labels.npy");
            Npy.write(tok, Tensor.ofLongs(new long[]{2, c.blockSize()}, tokens));
            Npy.write(lab, Tensor.ofLongs(new long[]{2}, new long[]{1, 7}));
            String[] fw = {"--tokens", tok.toString(), "--labels", lab.toString(), "--device", "cpu"};
            Path l32 = dir.resolve("logits-ckpt.npy");
            steps.add(run("forward --gpt-ckpt", "forward", "--gpt-ckpt", ck.toString(), size, fw, "--out", l32.toString()));
            float[] ref = Npy.read(l32).toFloatArray();
            for (String dtype : new String[]{"float16", "bfloat16"}) {
                Path m = dir.resolve(dtype + ".tribuo");
                steps.add(run("import " + dtype, "import", "--gpt-ckpt", ck.toString(), size, "--weights-dtype", dtype,
                        "--out", m.toString()));
                // 1.55 GB in half precision: below protobuf's 2 GiB, so one self-contained file
                assertFalse(Files.exists(dir.resolve(dtype + ".tribuo.weights")));
                assertTrue(Files.size(m) >= c.parameterCount() * 2);
                Path l = dir.resolve("logits-" + dtype + ".npy");
                steps.add(run("forward --tribuo-model " + dtype, "forward", "--tribuo-model", m.toString(), fw, "--out", l.toString()));
                float[] got = Npy.read(l).toFloatArray();
                double max = 0, err = 0, sum = 0;
                int argmaxSame = 0;
                for (int i = 0; i < ref.length; i++) {
                    max = Math.max(max, Math.abs(ref[i]));
                    double d = Math.abs(ref[i] - got[i]);
                    err = Math.max(err, d);
                    sum += d;
                }
                int v = c.vocabSize();
                for (int row = 0; row < ref.length / v; row++) {
                    argmaxSame += argmax(ref, row * v, v) == argmax(got, row * v, v) ? 1 : 0;
                }
                System.out.printf(Locale.ROOT, "%s weights vs float32: logits max |diff| %.2e, mean %.2e, largest |logit| %.3f, "
                        + "argmax equal at %d of %d positions; model file %.2f GB (weights inline)%n", dtype, err,
                        sum / ref.length, max, argmaxSame, ref.length / v, Files.size(m) / 1e9);
                assertTrue(err <= (dtype.equals("float16") ? 1e-2 : 1e-1) * Math.max(max, 1e-3), dtype + ": " + err);
            }
            for (Step s : steps) {
                System.out.println(s.line());
                // "fits a 24 GB machine with room to spare"
                assertTrue(s.peakKb() < 12L << 20, s.name() + " peak RSS " + s.peakKb() + " kB");
            }
        } finally {
            deleteTree(dir);
        }
    }

    private static int argmax(float[] a, int from, int n) {
        int best = from;
        for (int i = from + 1; i < from + n; i++) {
            if (a[i] > a[best]) {
                best = i;
            }
        }
        return best - from;
    }

    /**
     * Random weights, uniform with standard deviation 0.02 (norm gains 1), written to a raw scratch
     * file tensor by tensor and mapped, then saved as an upstream checkpoint: no 3 GB in memory.
     */
    private static void writeRandomCheckpoint(GptConfig c, Path ck, Path dir) throws IOException {
        Path raw = dir.resolve("raw.bin");
        LinkedHashMap<String, Object> sd = new LinkedHashMap<>();
        try (FileChannel ch = FileChannel.open(raw, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 22).order(ByteOrder.LITTLE_ENDIAN);
            SplittableRandom r = new SplittableRandom(2024);
            float a = (float) (0.02 * Math.sqrt(3));
            long pos = 0;
            for (Map.Entry<String, long[]> e : GptWeights.expectedShapes(c).entrySet()) {
                long n = Tensor.numel(e.getValue());
                boolean gain = GptWeights.isNormGain(e.getKey());
                long start = pos;
                for (long i = 0; i < n; i++) {
                    chunk.putFloat(gain ? 1f : a * (2 * r.nextFloat() - 1));
                    if (!chunk.hasRemaining() || i == n - 1) {
                        chunk.flip();
                        while (chunk.hasRemaining()) {
                            pos += ch.write(chunk, pos);
                        }
                        chunk.clear();
                    }
                }
                sd.put(e.getKey(), new Tensor(DType.FLOAT32, e.getValue(), ch.map(FileChannel.MapMode.READ_ONLY, start, n * 4)));
            }
        }
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("model", sd);
        TorchCheckpoint.save(ck, root);
        Files.delete(raw);
    }

    /** Runs {@code npp ARGS} in a new JVM with a 2 GB heap, under /usr/bin/time when there is one. */
    private static Step run(String name, Object... parts) throws Exception {
        List<String> cmd = new ArrayList<>();
        boolean timed = Files.isExecutable(Path.of("/usr/bin/time"));
        if (timed) {
            cmd.addAll(List.of("/usr/bin/time", "-f", "NPP_TIME %M %e"));
        }
        cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx2g",
                "-XX:MaxDirectMemorySize=8g", "-Dai.djl.offline=true", "-cp", System.getProperty("java.class.path"),
                "org.nextpatch.cli.NppCommand"));
        for (Object p : parts) {
            if (p instanceof String[] a) {
                cmd.addAll(List.of(a));
            } else {
                cmd.add((String) p);
            }
        }
        long t0 = System.nanoTime();
        Process proc = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int rc = proc.waitFor();
        double secs = (System.nanoTime() - t0) / 1e9;
        long kb = -1;
        Matcher m = TIME.matcher(out);
        if (m.find()) {
            kb = Long.parseLong(m.group(1));
            secs = Double.parseDouble(m.group(2));
        }
        Step s = new Step(name, rc, out, kb, secs);
        assertEquals(0, rc, name + " failed:\n" + out);
        System.out.println(s.line());
        return s;
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
