package org.nextpatch.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.oracle.labs.mlrg.olcut.provenance.PrimitiveProvenance;
import com.oracle.labs.mlrg.olcut.provenance.Provenance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.Fixtures;
import org.nextpatch.config.GptConfig;
import org.nextpatch.io.StateDicts;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.tribuo.NppModel;
import org.tribuo.ONNXExportable;

import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code npp import} (provenance of an imported checkpoint) and {@code --tribuo-model} as the
 * alternative to {@code --gpt-ckpt}: the same tokens, logits and ONNX graphs from the same weights.
 * Uses the llamagen-tiny fixture's upstream checkpoint.
 */
class TribuoModelCommandsTest {

    private static final String[] CKPT = {"--gpt-ckpt", Fixtures.file("gpt.pt").toString(),
            "--gpt-config", Fixtures.file("gpt-config.json").toString()};

    /** Strings and string arrays, flattened into one argument list. */
    private static String[] args(Object... parts) {
        java.util.List<String> out = new java.util.ArrayList<>();
        for (Object p : parts) {
            if (p instanceof String[] a) {
                out.addAll(java.util.List.of(a));
            } else {
                out.add((String) p);
            }
        }
        return out.toArray(new String[0]);
    }

    private static void ok(String... a) {
        StringWriter o = new StringWriter(), e = new StringWriter();
        assertEquals(0, NppCommandTest.run(o, e, a), e.toString());
    }

    /** Runs a command that must fail: its exit code and its one error line. */
    private static String fails(int code, String... a) {
        StringWriter o = new StringWriter(), e = new StringWriter();
        assertEquals(code, NppCommandTest.run(o, e, a), e + "\n" + o);
        String err = e.toString().strip();
        assertEquals(1, err.lines().count(), err);
        return err;
    }

    private static Path importFixture(Path dir, String name, String... extra) {
        Path m = dir.resolve(name);
        ok(args("import", CKPT, "--out", m.toString(), extra));
        return m;
    }

    private static String sha256(Path p) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p)));
    }

    private static Object value(NppModel m, String key) {
        Provenance p = m.getProvenance().getInstanceProvenance().getMap().get(key);
        return p == null ? null : ((PrimitiveProvenance<?>) p).getValue();
    }

    @Test
    void importRecordsSourceConfigurationAndTokenizer(@TempDir Path tmp) throws Exception {
        Path ckpt = Fixtures.file("gpt.pt");
        Path vq = Fixtures.file("vq.pt");
        Path m = importFixture(tmp, "m.tribuo", "--vq-ckpt", vq.toString(), "--weights", "external");
        assertTrue(Files.isRegularFile(tmp.resolve("m.tribuo.weights")));
        NppModel model = NppModel.load(m);
        GptConfig cfg = GptConfig.fromJson(Fixtures.file("gpt-config.json")).withoutDropout();
        assertEquals(cfg, model.getGptConfig());
        assertEquals("gpt.pt", value(model, "import-source"));
        assertEquals(Files.size(ckpt), value(model, "import-source-bytes"));
        assertEquals(sha256(ckpt), value(model, "import-source-sha256"));
        assertEquals("model", value(model, "import-state-dict"));
        assertEquals(cfg.toJson(), new ObjectMapper().readTree((String) value(model, "gpt-config")));
        assertEquals("vq.pt", value(model, "tokenizer"));
        assertEquals(sha256(vq), value(model, "tokenizer-sha256"));
        assertEquals(sha256(tmp.resolve("m.tribuo.weights")), value(model, NppModel.PROV_WEIGHTS_SHA256));
        Map<String, Tensor> want = StateDicts.select(TorchCheckpoint.load(ckpt), false);
        for (Map.Entry<String, Tensor> e : want.entrySet()) {
            assertTrue(e.getValue().contentEquals(model.getWeights().get(e.getKey())), e.getKey());
        }
        // the provenance command shows it
        StringWriter o = new StringWriter(), e = new StringWriter();
        assertEquals(0, NppCommandTest.run(o, e, "provenance", m.toString()), e.toString());
        assertTrue(o.toString().contains(sha256(ckpt)), o.toString());
        // the API gives the same model
        try (NppModel api = NppModel.fromCheckpoint(ckpt, cfg, false, null)) {
            assertEquals(sha256(ckpt), value(api, "import-source-sha256"));
            assertEquals(null, value(api, "tokenizer"));
        }
        model.close();
    }

    @Test
    void sampleForwardAndExportGiveTheSameResultsFromATribuoModel(@TempDir Path tmp) throws Exception {
        Path m = importFixture(tmp, "m.tribuo", "--weights", "external");
        String[] tribuo = {"--tribuo-model", m.toString()};
        for (String engine : new String[]{"djl", "onnx"}) {
            Path a = tmp.resolve("a-" + engine), b = tmp.resolve("b-" + engine);
            String[] opts = {"--classes", "3,0,9,9", "--cfg-scale", "2", "--top-k", "50", "--seed", "7",
                    "--engine", engine, "--device", "cpu"};
            ok(args("sample", CKPT, opts, "--out", a.toString()));
            ok(args("sample", tribuo, opts, "--out", b.toString()));
            assertArrayEquals(Npy.read(a.resolve("tokens.npy")).toLongArray(), Npy.read(b.resolve("tokens.npy")).toLongArray(), engine);
        }
        // greedy with guidance 2: the fixture's tokens
        Path g = tmp.resolve("greedy");
        ok(args("sample", tribuo, "--classes", "3,0,9", "--cfg-scale", "2", "--greedy", "--seed", "1",
                "--device", "cpu", "--out", g.toString()));
        assertArrayEquals(Npy.read(Fixtures.file("greedy-cfg2.npy")).toLongArray(), Npy.read(g.resolve("tokens.npy")).toLongArray());

        Path l1 = tmp.resolve("l1.npy"), l2 = tmp.resolve("l2.npy");
        String[] fw = {"--tokens", Fixtures.file("tokens.npy").toString(), "--labels", Fixtures.file("labels.npy").toString(),
                "--device", "cpu"};
        ok(args("forward", CKPT, fw, "--out", l1.toString()));
        ok(args("forward", tribuo, fw, "--out", l2.toString()));
        assertArrayEquals(Npy.read(l1).toFloatArray(), Npy.read(l2).toFloatArray(), 0f);

        Path e1 = tmp.resolve("onnx-ckpt"), e2 = tmp.resolve("onnx-tribuo");
        ok(args("export-onnx", CKPT, "--out", e1.toString()));
        ok("export-onnx", "--tribuo-model", m.toString(), "--out", e2.toString());
        for (String graph : new String[]{"gpt-prefill.onnx", "gpt-step.onnx", "gpt-generate.onnx"}) {
            assertArrayEquals(Files.readAllBytes(e1.resolve(graph)), Files.readAllBytes(e2.resolve(graph)), graph);
        }
        JsonNode manifest = new ObjectMapper().readTree(e2.resolve("manifest.json").toFile());
        assertEquals(m.toAbsolutePath().toString(), manifest.path("provenance").path("tribuo_model").asText());
        assertTrue(manifest.path("provenance").path(ONNXExportable.PROVENANCE_METADATA_FIELD).asText().contains("import-source-sha256"));
    }

    /**
     * {@code import --class-names} gives the model its names; {@code export-onnx --tribuo-model} records them in
     * the manifest without being told, {@code npp serve} shows them; a wrong count is one line naming the flag.
     */
    @Test
    void classNamesGoFromImportThroughExportToServe(@TempDir Path tmp) throws Exception {
        java.util.List<String> names = java.util.stream.IntStream.range(0, 10).mapToObj(i -> "class " + i).toList();
        Path file = Files.writeString(tmp.resolve("classes.txt"), String.join("\n", names) + "\n");
        Path m = importFixture(tmp, "m.tribuo", "--class-names", file.toString());
        try (NppModel model = NppModel.load(m)) {
            assertEquals(names, model.getClassNames());
        }
        Path e = tmp.resolve("onnx");
        ok("export-onnx", "--tribuo-model", m.toString(), "--out", e.toString());
        assertEquals(names, org.nextpatch.serve.ServedModel.open(e, null).classNames());
        // a checkpoint has none unless given
        Path c = tmp.resolve("onnx-ckpt");
        ok(args("export-onnx", CKPT, "--out", c.toString()));
        assertEquals(null, org.nextpatch.serve.ServedModel.open(c, null).classNames());
        ok(args("export-onnx", CKPT, "--class-names", file.toString(), "--out", c.toString(), "--overwrite"));
        assertEquals(names, org.nextpatch.serve.ServedModel.open(c, null).classNames());

        Path three = Files.writeString(tmp.resolve("three.txt"), "a\nb\nc\n");
        String err = fails(1, args("import", CKPT, "--class-names", three.toString(), "--out", tmp.resolve("y").toString()));
        assertTrue(err.contains("--class-names " + three) && err.contains("3 names for a model of 10 classes"), err);
        assertFalse(Files.exists(tmp.resolve("y")));
        err = fails(1, "export-onnx", "--tribuo-model", m.toString(), "--class-names", three.toString(),
                "--out", tmp.resolve("z").toString());
        assertTrue(err.contains("3 names for a model of 10 classes"), err);
        assertFalse(Files.exists(tmp.resolve("z")));
    }

    /**
     * Half-precision storage: the files halve and the logits move by the weights' rounding. The
     * measured differences against float32 (printed) are what docs/formats.md quotes.
     */
    @Test
    void halfPrecisionImportsStayCloseToFloat32(@TempDir Path tmp) {
        float[] ref = Npy.read(Fixtures.file("logits.npy")).toFloatArray();
        float max = 0;
        for (float v : ref) {
            max = Math.max(max, Math.abs(v));
        }
        for (String dtype : new String[]{"float16", "bfloat16"}) {
            Path m = importFixture(tmp, dtype + ".tribuo", "--weights-dtype", dtype, "--weights", "external");
            Path out = tmp.resolve(dtype + ".npy");
            ok("forward", "--tribuo-model", m.toString(), "--tokens", Fixtures.file("tokens.npy").toString(),
                    "--labels", Fixtures.file("labels.npy").toString(), "--device", "cpu", "--out", out.toString());
            float[] got = Npy.read(out).toFloatArray();
            double err = 0, sum = 0;
            for (int i = 0; i < ref.length; i++) {
                double d = Math.abs(ref[i] - got[i]);
                err = Math.max(err, d);
                sum += d;
            }
            System.out.printf(Locale.ROOT, "%s weights: logits max |diff| %.2e (mean %.2e), largest |logit| %.2f%n",
                    dtype, err, sum / ref.length, max);
            // float16 keeps 11 significant bits, bfloat16 8: relative weight errors 2^-11 and 2^-8
            assertTrue(err <= (dtype.equals("float16") ? 2e-3 : 2e-2) * max, dtype + ": " + err);
            assertTrue(err > 0, dtype + ": the weights were rounded");
            // the ONNX export converts the stored halves too: DJL and ONNX Runtime draw the same greedy grids
            Path d = tmp.resolve(dtype + "-djl"), o = tmp.resolve(dtype + "-onnx");
            String[] greedy = {"--classes", "3,0,9", "--cfg-scale", "2", "--greedy", "--device", "cpu"};
            ok(args("sample", "--tribuo-model", m.toString(), greedy, "--engine", "djl", "--out", d.toString()));
            ok(args("sample", "--tribuo-model", m.toString(), greedy, "--engine", "onnx", "--out", o.toString()));
            assertArrayEquals(Npy.read(d.resolve("tokens.npy")).toLongArray(), Npy.read(o.resolve("tokens.npy")).toLongArray(), dtype);
        }
    }

    /** {@code --use-ema} imports the 'ema' state dict and says so in the provenance. */
    @Test
    void importTakesTheEmaWeightsOnRequest(@TempDir Path tmp) {
        Map<String, Tensor> fixture = StateDicts.select(TorchCheckpoint.load(Fixtures.file("gpt.pt")), false);
        GptConfig c = GptConfig.fromJson(Fixtures.file("gpt-config.json"));
        Map<String, Object> root = new java.util.LinkedHashMap<>();
        root.put("model", org.nextpatch.model.GptWeights.init(c, 5));
        root.put("ema", fixture);
        Path ckpt = tmp.resolve("ema.pt");
        TorchCheckpoint.save(ckpt, root);
        Path m = tmp.resolve("ema.tribuo");
        ok("import", "--gpt-ckpt", ckpt.toString(), "--gpt-config", Fixtures.file("gpt-config.json").toString(),
                "--use-ema", "--out", m.toString());
        NppModel model = NppModel.load(m);
        assertEquals("ema", value(model, "import-state-dict"));
        for (Map.Entry<String, Tensor> e : fixture.entrySet()) {
            assertTrue(e.getValue().contentEquals(model.getWeights().get(e.getKey())), e.getKey());
        }
        model.close();
    }

    @Test
    void flagErrorsAreOneLine(@TempDir Path tmp) throws Exception {
        Path m = importFixture(tmp, "m.tribuo", "--weights", "external");
        String err = fails(2, "sample", "--tribuo-model", m.toString(), "--gpt-model", "GPT-B", "--classes", "1",
                "--out", tmp.resolve("x").toString());
        assertTrue(err.contains("--tribuo-model"), err);
        err = fails(2, args("sample", CKPT, "--tribuo-model", m.toString(), "--classes", "1",
                "--out", tmp.resolve("x").toString()));
        assertTrue(err.contains("exactly one"), err);
        err = fails(2, "sample", "--tribuo-model", m.toString(), "--image-size", "512", "--classes", "1",
                "--out", tmp.resolve("x").toString());
        assertTrue(err.contains("--image-size"), err);
        // import reads checkpoints only: --tribuo-model is neither in its help nor accepted
        StringWriter helpOut = new StringWriter();
        assertEquals(0, NppCommandTest.run(helpOut, new StringWriter(), "import", "--help"));
        assertFalse(helpOut.toString().contains("--tribuo-model=FILE"), helpOut.toString());
        assertTrue(helpOut.toString().contains("--gpt-ckpt"), helpOut.toString());
        err = fails(2, "import", "--tribuo-model", m.toString(), "--out", tmp.resolve("y").toString());
        assertTrue(err.contains("--tribuo-model"), err);
        err = fails(2, args("import", CKPT, "--weights-dtype", "int8", "--out", tmp.resolve("y").toString()));
        assertTrue(err.contains("--weights-dtype"), err);
        assertFalse(Files.exists(tmp.resolve("y")));

        Files.delete(tmp.resolve("m.tribuo.weights"));
        err = fails(1, "sample", "--tribuo-model", m.toString(), "--classes", "1", "--out", tmp.resolve("x").toString());
        assertTrue(err.contains("m.tribuo.weights") && err.contains("missing"), err);
        assertFalse(Files.exists(tmp.resolve("x")));
        err = fails(1, "export-onnx", "--tribuo-model", tmp.resolve("none.tribuo").toString(), "--out", tmp.resolve("z").toString());
        assertTrue(err.contains("none.tribuo"), err);
    }
}
