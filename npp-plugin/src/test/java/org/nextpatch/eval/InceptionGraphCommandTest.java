package org.nextpatch.eval;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.cli.NppCommand;
import org.nextpatch.tensor.DType;
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
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code npp evaluate --inception-pb}: output, provenance, flag checks, and a class path without TensorFlow. */
class InceptionGraphCommandTest {
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

    private String stderr() {
        return err.toString(StandardCharsets.UTF_8);
    }

    @Test
    void printsTheFiveNumbersOfThePlainJavaFeaturesWithProvenance(@TempDir Path dir) throws Exception {
        AdmGraphFixture f = new AdmGraphFixture(21, 13, 8, 10, 7);
        Path pb = InceptionGraphModelTest.write(dir, f);
        Random r = new Random(7);
        Npz.write(dir.resolve("ref.npz"), Map.of("arr_0", Tensor.ofBytes(DType.UINT8, new long[]{50, 16, 20, 3},
                InceptionGraphModelTest.images(r, 50, 16, 20, 3))));
        Npz.write(dir.resolve("sam.npz"), Map.of("arr_0", Tensor.ofBytes(DType.UINT8, new long[]{40, 16, 20, 3},
                InceptionGraphModelTest.images(r, 40, 16, 20, 3, 80))));
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
        InceptionGraphModelTest.assertClose(want, new AdmEvaluator.Report(got[0], got[1], got[2], got[3], got[4],
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
    void withoutTensorFlowOneLineSaysWhatToAdd(@TempDir Path dir) throws Exception {
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
