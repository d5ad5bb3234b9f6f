package org.nextpatch.tribuo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.oracle.labs.mlrg.olcut.config.json.JsonProvenanceSerialization;
import com.oracle.labs.mlrg.olcut.provenance.ProvenanceUtil;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.cli.NppCommandTest;

import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code npp provenance MODEL_FILE}: JSON output, the marshalled form reads back, one-line errors. */
class ProvenanceCommandTest {

    @Test
    void printsTheProvenanceAsJson(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("m.model");
        try (NppModel m = NppModelTest.model(NppModelTest.data(3, 1))) {
            m.serializeToFile(file);
            StringWriter out = new StringWriter();
            StringWriter err = new StringWriter();
            assertEquals(0, NppCommandTest.run(out, err, "provenance", file.toString()), err.toString());
            JsonNode json = new ObjectMapper().readTree(out.toString());
            assertEquals(NppModel.class.getName(), json.path("class-name").asText(), out.toString());
            assertEquals(NppTrainer.class.getName(), json.path("trainer").path("class-name").asText(), out.toString());

            StringWriter out2 = new StringWriter();
            assertEquals(0, NppCommandTest.run(out2, new StringWriter(), "provenance", "--marshalled", file.toString()));
            assertEquals(m.getProvenance(), ProvenanceUtil.unmarshalProvenance(
                    new JsonProvenanceSerialization(true).deserializeFromString(out2.toString())));
        }
    }

    @Test
    void oneLineErrors(@TempDir Path dir) throws Exception {
        StringWriter err = new StringWriter();
        assertEquals(1, NppCommandTest.run(new StringWriter(), err, "provenance", dir.resolve("none.model").toString()));
        assertEquals(1, err.toString().strip().lines().count(), err.toString());
        assertTrue(err.toString().contains("model file " + dir.resolve("none.model") + ": file not found"), err.toString());

        Path junk = dir.resolve("junk.model");
        Files.writeString(junk, "not a model");
        err = new StringWriter();
        assertEquals(1, NppCommandTest.run(new StringWriter(), err, "provenance", junk.toString()));
        assertEquals(1, err.toString().strip().lines().count(), err.toString());
        assertTrue(err.toString().contains(junk.toString()), err.toString());
    }
}
