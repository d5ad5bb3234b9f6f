package org.nextpatch.eval;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.nextpatch.Fixtures;
import org.nextpatch.config.GptConfig;
import org.nextpatch.data.CodeDirectory;
import org.nextpatch.model.Gpt;

import java.io.IOException;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** codes/scores.json: the mean NPP loss over all 60 (image, augmentation) rows, relative error <= 1e-5. */
class NppScoreTest {
    @Test
    void reproducesTheFixtureScores() throws IOException {
        JsonNode ref = new ObjectMapper().readTree(Fixtures.file("codes/scores.json").toFile());
        GptConfig c = GptConfig.fromJson(Fixtures.file("gpt-config.json"));
        CodeDirectory codes = CodeDirectory.open(Fixtures.file("codes"), 64);
        assertEquals(60, codes.rows());
        try (Gpt gpt = Gpt.fromCheckpoint(Fixtures.file("gpt.pt"), c, false, Device.cpu())) {
            for (int p : new int[]{1, 2}) {
                double expected = ref.get("score_patch_side_" + p).asDouble();
                // batch 7 does not divide 60: the last partial batch is exercised too
                assertEquals(expected, NppScore.score(gpt, codes, p, 7), 1e-5 * expected, "p=" + p);
            }
        }
    }
}
