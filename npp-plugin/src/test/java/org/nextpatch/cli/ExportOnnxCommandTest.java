package org.nextpatch.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.Fixtures;
import org.nextpatch.onnx.OnnxChecker;
import org.nextpatch.onnx.OnnxExport;
import org.nextpatch.tensor.Npy;

import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code npp export-onnx} on the llamagen-tiny fixture: files, manifest, structural checks, errors. */
class ExportOnnxCommandTest {

    /**
     * A GPT that fits the fixture tokenizer (vocabulary 64 = its codebook, 4x4 grid of 8-pixel images
     * at its downsampling 2), saved as a training checkpoint that records its configuration.
     */
    static Path fittingGpt(Path dir) {
        org.nextpatch.config.GptConfig c = new org.nextpatch.config.GptConfig(32, 1, 2, 64, 10, 16, 1, 32, null,
                1e-5, 10000, 0.0, 0.0, 0.0, 0.0, 0.0);
        java.util.Map<String, Object> args = new java.util.LinkedHashMap<>();
        java.util.Map<String, Object> g = new java.util.LinkedHashMap<>();
        c.toJson().fields().forEachRemaining(en -> g.put(en.getKey(), en.getValue().isNull() ? null
                : en.getValue().isIntegralNumber() ? (Object) en.getValue().asLong() : (Object) en.getValue().asDouble()));
        args.put("gpt_config", g);
        args.put("image_size", 8L);
        args.put("downsample_size", 2L);
        java.util.Map<String, Object> root = new java.util.LinkedHashMap<>();
        root.put("model", org.nextpatch.model.GptWeights.init(c, 3));
        root.put("steps", 0L);
        root.put("args", args);
        Path f = dir.resolve("fitting-gpt.pt");
        org.nextpatch.io.TorchCheckpoint.save(f, root);
        return f;
    }

    @Test
    void exportsGraphsAndManifest(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("onnx");
        StringWriter o = new StringWriter(), e = new StringWriter();
        // no shape flags: the configuration comes from the checkpoint
        int rc = NppCommandTest.run(o, e, "export-onnx", "--gpt-ckpt", fittingGpt(tmp).toString(),
                "--vq-ckpt", Fixtures.file("vq.pt").toString(), "--vq-config", Fixtures.file("vq-config.json").toString(),
                "--out", out.toString());
        assertEquals(0, rc, e.toString());
        for (String f : List.of("gpt-prefill.onnx", "gpt-step.onnx", "gpt-generate.onnx", "vq-decoder.onnx")) {
            assertEquals(List.of(), OnnxChecker.check(out.resolve(f)), f);
        }
        JsonNode m = new ObjectMapper().readTree(out.resolve("manifest.json").toFile());
        assertEquals(17, m.get("opset").asInt());
        assertEquals(32, m.get("gpt_config").get("dim").asInt());
        assertEquals(64, m.get("gpt_config").get("vocab_size").asInt());
        assertEquals(64, m.path("source").path("gpt_weights_sha256").asText().length());
        assertEquals("tokens", m.get("graphs").get("gpt-generate.onnx").get("outputs").get(0).get("name").asText());
        assertEquals("past_key_values.0.key", m.get("graphs").get("gpt-step.onnx").get("inputs").get(2).get("name").asText());
        assertTrue(m.get("provenance").get("gpt_ckpt").asText().endsWith("fitting-gpt.pt"));
        assertEquals(16, OnnxExport.readGptConfig(out).blockSize());
        // an existing export is not rewritten unless asked
        long before = java.nio.file.Files.getLastModifiedTime(out.resolve("manifest.json")).toMillis();
        e = new StringWriter();
        rc = NppCommandTest.run(o, e, "export-onnx", "--gpt-ckpt", fittingGpt(tmp).toString(), "--out", out.toString());
        assertEquals(1, rc);
        assertEquals(1, e.toString().strip().lines().count(), e.toString());
        assertTrue(e.toString().contains("--overwrite"), e.toString());
        assertEquals(before, java.nio.file.Files.getLastModifiedTime(out.resolve("manifest.json")).toMillis());
        assertEquals(0, NppCommandTest.run(o, e, "export-onnx", "--gpt-ckpt", fittingGpt(tmp).toString(), "--out",
                out.toString(), "--overwrite"), e.toString());
    }

    /** The fixture GPT (vocabulary 256) and tokenizer (codebook 64) do not belong together: refused before any file. */
    @Test
    void mismatchedGptAndTokenizerAreRefusedBeforeWork(@TempDir Path tmp) {
        StringWriter o = new StringWriter(), e = new StringWriter();
        int rc = NppCommandTest.run(o, e, "export-onnx", "--gpt-ckpt", Fixtures.file("gpt.pt").toString(),
                "--gpt-config", Fixtures.file("gpt-config.json").toString(),
                "--vq-ckpt", Fixtures.file("vq.pt").toString(), "--vq-config", Fixtures.file("vq-config.json").toString(),
                "--out", tmp.resolve("onnx").toString());
        assertEquals(1, rc);
        String err = e.toString().strip();
        assertEquals(1, err.lines().count(), err);
        assertTrue(err.contains("vocabulary of 256") && err.contains("codebook of 64"), err);
        assertTrue(!java.nio.file.Files.exists(tmp.resolve("onnx")), "nothing written");
        // grid vs downsampling: a 4x4 GPT for 64-pixel images (downsampling 16) with a tokenizer downsampling by 2
        e = new StringWriter();
        rc = NppCommandTest.run(o, e, "export-onnx", "--gpt-ckpt", fittingGpt(tmp).toString(), "--image-size", "64",
                "--vq-ckpt", Fixtures.file("vq.pt").toString(), "--vq-config", Fixtures.file("vq-config.json").toString(), "--out", tmp.resolve("onnx").toString());
        assertEquals(1, rc);
        err = e.toString().strip();
        assertEquals(1, err.lines().count(), err);
        assertTrue(err.contains("64-pixel images") && err.contains("downsamples by 2"), err);
    }

    @Test
    void tokenizerConfigRecordedByTrainVqIsUsed(@TempDir Path out) throws Exception {
        // a train-vq style checkpoint: the fixture tokenizer with its configuration recorded beside the weights
        java.util.Map<String, Object> root = new java.util.LinkedHashMap<>();
        root.put("model", org.nextpatch.io.StateDicts.select(org.nextpatch.io.TorchCheckpoint.load(Fixtures.file("vq.pt")), false));
        root.put(org.nextpatch.model.VqModel.CONFIG_KEY,
                org.nextpatch.model.VqModel.configAsMap(org.nextpatch.config.VqConfig.fromJson(Fixtures.file("vq-config.json"))));
        Path vq = out.resolve("vq.pt");
        org.nextpatch.io.TorchCheckpoint.save(vq, root);
        StringWriter o = new StringWriter(), e = new StringWriter();
        int rc = NppCommandTest.run(o, e, "export-onnx", "--gpt-ckpt", fittingGpt(out).toString(), "--vq-ckpt", vq.toString(),
                "--out", out.resolve("onnx").toString());
        assertEquals(0, rc, e.toString());
        assertEquals(List.of(), OnnxChecker.check(out.resolve("onnx/vq-decoder.onnx")));
    }

    @Test
    void missingCheckpointIsOneLineError(@TempDir Path out) {
        StringWriter o = new StringWriter(), e = new StringWriter();
        int rc = NppCommandTest.run(o, e, "export-onnx", "--gpt-ckpt", out.resolve("nope.pt").toString(),
                "--gpt-model", "GPT-B", "--out", out.toString());
        assertEquals(1, rc);
        assertEquals(1, e.toString().strip().lines().count(), e.toString());
        assertTrue(e.toString().contains("--gpt-ckpt"), e.toString());
    }

    @Test
    void needsAConfigSourceForAPublishedCheckpoint(@TempDir Path out) {
        StringWriter o = new StringWriter(), e = new StringWriter();
        // the fixture checkpoint records no configuration (as a published one)
        assertEquals(2, NppCommandTest.run(o, e, "export-onnx", "--gpt-ckpt", Fixtures.file("gpt.pt").toString(),
                "--out", out.resolve("x").toString()));
        assertTrue(e.toString().contains("records no model configuration") && e.toString().contains("--gpt-config"), e.toString());
        assertEquals(2, NppCommandTest.run(o, e, "export-onnx", "--gpt-ckpt", "x.pt", "--gpt-model", "GPT-B",
                "--gpt-config", "c.json", "--out", out.toString()));
    }

    @Test
    void benchSampleRunsBothOnnxEngines(@TempDir Path tmp) {
        StringWriter e = new StringWriter();
        String table = benchSample(e, "--gpt-config", Fixtures.file("gpt-config.json").toString(),
                "--batch-sizes", "1,2", "--repeats", "1", "--threads", "1", "--quantize", "int4", "--keep-exports", tmp.toString());
        assertTrue(table.contains("| onnx-loop | 2 |") && table.contains("| onnx-step | 1 |"), table);
        assertTrue(table.contains("| onnx-loop-int4 | 2 |") && table.contains("| onnx-step-int4 | 1 |"), table);
        assertTrue(table.contains("export int4:") && table.contains("quantized tensors"), table);
        // a kept export measured on its own (no weights in memory)
        table = benchSample(e, "--onnx-dir", tmp.resolve("int4").toString(), "--engines", "onnx-loop", "--batch-sizes", "1", "--repeats", "1");
        assertTrue(table.contains("| onnx-loop | 1 |"), table);
    }

    /** Runs bench-sample (which prints its table to System.out); returns that output. */
    private static String benchSample(StringWriter e, String... args) {
        java.io.PrintStream old = System.out;
        java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
        System.setOut(new java.io.PrintStream(buf, true));
        int rc;
        try {
            rc = NppCommandTest.run(new StringWriter(), e, concat(new String[]{"bench-sample"}, args));
        } finally {
            System.setOut(old);
        }
        assertEquals(0, rc, e.toString());
        return buf.toString();
    }

    /**
     * {@code export-onnx --quantize}: the manifest records the scheme, and {@code sample --engine onnx}
     * takes the quantized folder as any other (it was exported from the same checkpoint).
     */
    @Test
    void quantizedExportIsSampledWithoutExtraFlags(@TempDir Path tmp) throws Exception {
        String[] model = {"--gpt-ckpt", Fixtures.file("gpt.pt").toString(), "--gpt-config", Fixtures.file("gpt-config.json").toString()};
        Path q = tmp.resolve("int8");
        StringWriter o = new StringWriter(), e = new StringWriter();
        assertEquals(0, NppCommandTest.run(o, e, concat(concat(new String[]{"export-onnx"}, model), "--quantize", "int8",
                "--out", q.toString())), e.toString());
        JsonNode m = new ObjectMapper().readTree(q.resolve("manifest.json").toFile());
        assertEquals("int8-weights", m.path("precision").asText());
        assertEquals(8, m.path("quantization").path("bits").asInt());
        for (String f : List.of("gpt-prefill.onnx", "gpt-step.onnx", "gpt-generate.onnx")) {
            assertEquals(List.of(), OnnxChecker.check(q.resolve(f)), f);
        }
        o = new StringWriter();
        e = new StringWriter();
        assertEquals(0, NppCommandTest.run(o, e, concat(concat(new String[]{"sample"}, model), "--engine", "onnx",
                "--onnx-dir", q.toString(), "--num-samples", "3", "--cfg-scale", "1.5", "--seed", "5",
                "--out", tmp.resolve("s").toString())), e.toString());
        long[] tokens = Npy.read(tmp.resolve("s/tokens.npy")).toLongArray();
        assertEquals(3 * 16, tokens.length);
        assertTrue(java.util.Arrays.stream(tokens).allMatch(t -> t >= 0 && t < 256));
        // --quantize with --fp16, or an unknown scheme: refused in one line before any file
        e = new StringWriter();
        assertEquals(2, NppCommandTest.run(o, e, concat(concat(new String[]{"export-onnx"}, model), "--quantize", "int4",
                "--fp16", "--out", tmp.resolve("x").toString())));
        assertTrue(e.toString().contains("--fp16"), e.toString());
        e = new StringWriter();
        assertEquals(1, NppCommandTest.run(o, e, concat(concat(new String[]{"export-onnx"}, model), "--quantize", "int2",
                "--out", tmp.resolve("x").toString())));
        assertEquals(1, e.toString().strip().lines().count(), e.toString());
        assertTrue(e.toString().contains("--quantize must be int8 or int4"), e.toString());
        assertTrue(!java.nio.file.Files.exists(tmp.resolve("x")), "nothing written");
    }

    /** {@code sample --engine onnx} writes the same tokens as {@code --engine djl} (same seed, filters on). */
    @Test
    void sampleEngineOnnxMatchesDjl(@TempDir Path tmp) {
        String[] common = {"sample", "--gpt-ckpt", Fixtures.file("gpt.pt").toString(),
                "--gpt-config", Fixtures.file("gpt-config.json").toString(), "--device", "cpu",
                "--num-samples", "5", "--cfg-scale", "1.5", "--top-k", "40", "--top-p", "0.9", "--temperature", "1.1",
                "--seed", "77", "--batch-size", "2"};
        StringWriter o = new StringWriter(), e = new StringWriter();
        assertEquals(0, NppCommandTest.run(o, e, concat(common, "--engine", "djl", "--out", tmp.resolve("djl").toString())), e.toString());
        // first with a fresh --onnx-dir (exported into it), then reusing it
        Path onnxDir = tmp.resolve("graphs");
        for (String run : List.of("onnx1", "onnx2")) {
            o = new StringWriter();
            e = new StringWriter();
            assertEquals(0, NppCommandTest.run(o, e, concat(common, "--engine", "onnx", "--onnx-dir", onnxDir.toString(),
                    "--onnx-threads", "1", "--out", tmp.resolve(run).toString())), e.toString());
            assertTrue(o.toString().contains("(onnx, CPU)"), o.toString());
            assertArrayEquals(Npy.read(tmp.resolve("djl/tokens.npy")).toLongArray(), Npy.read(tmp.resolve(run + "/tokens.npy")).toLongArray());
            assertArrayEquals(Npy.read(tmp.resolve("djl/labels.npy")).toLongArray(), Npy.read(tmp.resolve(run + "/labels.npy")).toLongArray());
        }
        assertTrue(java.nio.file.Files.exists(onnxDir.resolve("manifest.json")));
    }

    /**
     * A trained checkpoint and its tokenizer need no shape flags; an ONNX folder of other weights, or one
     * without a manifest, is refused and left as it was; a tokenizer that does not fit is refused before sampling.
     */
    @Test
    void sampleTakesItsShapesFromTheFilesAndGuardsTheOnnxFolder(@TempDir Path tmp) throws Exception {
        Path gpt = fittingGpt(tmp);
        StringWriter o = new StringWriter(), e = new StringWriter();
        assertEquals(0, NppCommandTest.run(o, e, "sample", "--gpt-ckpt", gpt.toString(), "--vq-ckpt", Fixtures.file("vq.pt").toString(),
                "--vq-config", Fixtures.file("vq-config.json").toString(), "--device", "cpu", "--classes", "1,2",
                "--out", tmp.resolve("s").toString()), e.toString());
        assertTrue(java.nio.file.Files.isRegularFile(tmp.resolve("s/samples.npz")));

        // a folder exported from the fixture GPT: sampling the fitting GPT with it is refused, the folder untouched
        Path other = tmp.resolve("other-onnx");
        assertEquals(0, NppCommandTest.run(o, e, "export-onnx", "--gpt-ckpt", Fixtures.file("gpt.pt").toString(),
                "--gpt-config", Fixtures.file("gpt-config.json").toString(), "--out", other.toString()), e.toString());
        byte[] manifest = java.nio.file.Files.readAllBytes(other.resolve("manifest.json"));
        String[] onnx = {"sample", "--gpt-ckpt", Fixtures.file("gpt.pt").toString(), "--gpt-config",
                Fixtures.file("gpt-config.json").toString(), "--device", "cpu", "--classes", "1", "--engine", "onnx",
                "--onnx-threads", "1", "--out", tmp.resolve("o").toString()};
        assertEquals(0, NppCommandTest.run(o, e, concat(onnx, "--onnx-dir", other.toString())), e.toString());
        e = new StringWriter();
        int rc = NppCommandTest.run(o, e, "sample", "--gpt-ckpt", gpt.toString(), "--device", "cpu", "--classes", "1",
                "--engine", "onnx", "--onnx-dir", other.toString(), "--out", tmp.resolve("o2").toString());
        assertEquals(1, rc);
        assertEquals(1, e.toString().strip().lines().count(), e.toString());
        assertTrue(e.toString().contains("another model") || e.toString().contains("other weights"), e.toString());
        assertArrayEquals(manifest, java.nio.file.Files.readAllBytes(other.resolve("manifest.json")));

        // same shape, other weights: refused by the weights digest
        Path retrained = tmp.resolve("retrained.pt");
        java.util.Map<String, Object> root = new java.util.LinkedHashMap<>();
        java.util.Map<String, org.nextpatch.tensor.Tensor> w = org.nextpatch.io.StateDicts.select(
                org.nextpatch.io.TorchCheckpoint.load(Fixtures.file("gpt.pt")), false);
        w.put("tok_embeddings.weight", org.nextpatch.tensor.Tensor.ofFloats(w.get("tok_embeddings.weight").shape(),
                new float[(int) w.get("tok_embeddings.weight").numel()]));
        root.put("model", w);
        org.nextpatch.io.TorchCheckpoint.save(retrained, root);
        e = new StringWriter();
        rc = NppCommandTest.run(o, e, concat(new String[]{"sample", "--gpt-ckpt", retrained.toString(), "--gpt-config",
                Fixtures.file("gpt-config.json").toString(), "--device", "cpu", "--classes", "1", "--engine", "onnx",
                "--out", tmp.resolve("o3").toString()}, "--onnx-dir", other.toString()));
        assertEquals(1, rc);
        assertTrue(e.toString().contains("other weights") && e.toString().contains("--overwrite"), e.toString());
        assertArrayEquals(manifest, java.nio.file.Files.readAllBytes(other.resolve("manifest.json")));

        // what an export of the retrained weights over this folder, killed after its first graph, left before
        // exports were swapped in whole: its graph beside the fixture's manifest; sampling the fixture is refused
        Path b = tmp.resolve("b-onnx");
        assertEquals(0, NppCommandTest.run(o, e, "export-onnx", "--gpt-ckpt", retrained.toString(),
                "--gpt-config", Fixtures.file("gpt-config.json").toString(), "--out", b.toString()), e.toString());
        java.nio.file.Files.copy(b.resolve("gpt-generate.onnx"), other.resolve("gpt-generate.onnx"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        e = new StringWriter();
        assertEquals(1, NppCommandTest.run(o, e, concat(onnx, "--onnx-dir", other.toString())));
        assertEquals(1, e.toString().strip().lines().count(), e.toString());
        assertTrue(e.toString().contains("gpt-generate.onnx does not match its SHA-256"), e.toString());

        // a folder with files but no manifest
        Path junk = tmp.resolve("junk");
        java.nio.file.Files.createDirectories(junk);
        java.nio.file.Files.writeString(junk.resolve("notes.txt"), "mine");
        e = new StringWriter();
        assertEquals(1, NppCommandTest.run(o, e, concat(onnx, "--onnx-dir", junk.toString())));
        assertEquals(1, e.toString().strip().lines().count(), e.toString());
        assertEquals(List.of(junk.resolve("notes.txt")), java.nio.file.Files.list(junk).toList());

        // the fixture GPT (vocabulary 256) with the fixture tokenizer (codebook 64): refused before sampling
        e = new StringWriter();
        assertEquals(1, NppCommandTest.run(o, e, "sample", "--gpt-ckpt", Fixtures.file("gpt.pt").toString(), "--gpt-config",
                Fixtures.file("gpt-config.json").toString(), "--vq-ckpt", Fixtures.file("vq.pt").toString(),
                "--vq-config", Fixtures.file("vq-config.json").toString(), "--device", "cpu", "--classes", "1", "--out", tmp.resolve("bad").toString()));
        assertTrue(e.toString().contains("vocabulary of 256") && e.toString().contains("codebook of 64"), e.toString());
        assertTrue(!java.nio.file.Files.exists(tmp.resolve("bad")), "nothing written");
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
