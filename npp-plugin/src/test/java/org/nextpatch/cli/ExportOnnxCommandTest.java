package org.nextpatch.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.Fixtures;
import org.nextpatch.onnx.OnnxChecker;
import org.nextpatch.onnx.OnnxExport;

import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;

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
}
