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

    @Test
    void exportsGraphsAndManifest(@TempDir Path out) throws Exception {
        StringWriter o = new StringWriter(), e = new StringWriter();
        int rc = NppCommandTest.run(o, e, "export-onnx", "--gpt-ckpt", Fixtures.file("gpt.pt").toString(),
                "--gpt-config", Fixtures.file("gpt-config.json").toString(),
                "--vq-ckpt", Fixtures.file("vq.pt").toString(), "--vq-config", Fixtures.file("vq-config.json").toString(),
                "--out", out.toString());
        assertEquals(0, rc, e.toString());
        for (String f : List.of("gpt-prefill.onnx", "gpt-step.onnx", "gpt-generate.onnx", "vq-decoder.onnx")) {
            assertEquals(List.of(), OnnxChecker.check(out.resolve(f)), f);
        }
        JsonNode m = new ObjectMapper().readTree(out.resolve("manifest.json").toFile());
        assertEquals(17, m.get("opset").asInt());
        assertEquals(64, m.get("gpt_config").get("dim").asInt());
        assertEquals("tokens", m.get("graphs").get("gpt-generate.onnx").get("outputs").get(0).get("name").asText());
        assertEquals("past_key_values.0.key", m.get("graphs").get("gpt-step.onnx").get("inputs").get(2).get("name").asText());
        assertTrue(m.get("provenance").get("gpt_ckpt").asText().endsWith("gpt.pt"));
        assertEquals(16, OnnxExport.readGptConfig(out).blockSize());
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
        int rc = NppCommandTest.run(o, e, "export-onnx", "--gpt-ckpt", Fixtures.file("gpt.pt").toString(),
                "--gpt-config", Fixtures.file("gpt-config.json").toString(), "--vq-ckpt", vq.toString(),
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
    void needsExactlyOneConfigSource(@TempDir Path out) {
        StringWriter o = new StringWriter(), e = new StringWriter();
        assertEquals(2, NppCommandTest.run(o, e, "export-onnx", "--gpt-ckpt", "x.pt", "--out", out.toString()));
    }

    @Test
    void benchSampleRunsBothOnnxEngines() {
        StringWriter o = new StringWriter(), e = new StringWriter();
        java.io.PrintStream old = System.out;
        java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
        System.setOut(new java.io.PrintStream(buf, true));
        int rc;
        try {
            rc = NppCommandTest.run(o, e, "bench-sample", "--gpt-config", Fixtures.file("gpt-config.json").toString(),
                    "--batch-sizes", "1,2", "--repeats", "1", "--threads", "1");
        } finally {
            System.setOut(old);
        }
        assertEquals(0, rc, e.toString());
        String table = buf.toString();
        assertTrue(table.contains("| onnx-loop | 2 |") && table.contains("| onnx-step | 1 |"), table);
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

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
