package org.nextpatch.config;

import org.junit.jupiter.api.Test;
import org.nextpatch.util.NppException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Spec section 6.1: the named sizes, FFN hidden sizes and parameter counts. */
class GptConfigTest {

    @Test
    void namedSizesMatchPublishedParameterCounts() {
        // spec 6.1 table: FFN hidden and parameter counts (in millions, one decimal) at 256 px.
        Object[][] rows = {{"GPT-B", 2048, 110.9}, {"GPT-L", 2816, 342.9}, {"GPT-XL", 3584, 774.7}, {"GPT-XXL", 4096, 1411.0}};
        for (Object[] r : rows) {
            GptConfig c = GptConfig.named((String) r[0], 256);
            assertEquals((int) r[1], c.ffnHidden(), (String) r[0]);
            assertEquals(64, c.headDim());
            double millions = c.parameterCount() / 1e6;
            assertEquals((double) r[2], millions, r[0].equals("GPT-XXL") ? 5.0 : 0.06, (String) r[0]);
        }
    }

    @Test
    void ffnMultiplierAndRounding() {
        GptConfig c = new GptConfig(64, 2, 4, 256, 10, 16, 1, 256, null, 1e-5, 10000, 0, 0, 0, 0, 0);
        assertEquals(256, c.ffnHidden()); // int(2*256/3)=170 -> 256
        GptConfig m = new GptConfig(64, 2, 4, 256, 10, 16, 1, 32, 2.0, 1e-5, 10000, 0, 0, 0, 0, 0);
        assertEquals(352, m.ffnHidden()); // 170*2=340 -> 352
        assertEquals(4, c.gridSide());
    }

    @Test
    void fixtureJsonParses() throws Exception {
        String json = "{\"dim\":64,\"n_layer\":2,\"n_head\":4,\"vocab_size\":256,\"num_classes\":10,\"block_size\":16,"
                + "\"cls_token_num\":1,\"multiple_of\":256,\"norm_eps\":1e-05,\"rope_base\":10000}";
        GptConfig c = GptConfig.fromJson(new com.fasterxml.jackson.databind.ObjectMapper().readTree(json));
        assertEquals(64, c.dim());
        assertEquals(10, c.nullClass());
        GptConfig back = GptConfig.fromJson(c.toJson());
        assertEquals(c, back);
    }

    @Test
    void badInputIsNamed() {
        NppException e = assertThrows(NppException.class, () -> GptConfig.named("GPT-Q", 256));
        assertTrue(e.getMessage().contains("GPT-Q"));
        assertThrows(NppException.class, () -> new GptConfig(64, 2, 3, 256, 10, 16, 1, 256, null, 1e-5, 1e4, 0, 0, 0, 0, 0));
        assertThrows(NppException.class, () -> new GptConfig(64, 2, 4, 256, 10, 15, 1, 256, null, 1e-5, 1e4, 0, 0, 0, 0, 0));
    }

    /** ModelArgs fields that would change the model are accepted at their c2i values and refused otherwise. */
    @Test
    void modelArgsThatChangeTheModel() throws Exception {
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        String base = "{\"dim\":64,\"n_layer\":2,\"n_head\":4,\"block_size\":16,";
        GptConfig plain = GptConfig.fromJson(json.readTree(base + "\"n_kv_head\":null,\"model_type\":\"c2i\"}"));
        assertEquals(plain, GptConfig.fromJson(json.readTree(base + "\"n_kv_head\":4,\"drop_path_rate\":0.0}")));
        for (String[] bad : new String[][]{{"\"n_kv_head\":2", "grouped-query attention"},
                {"\"model_type\":\"t2i\"", "only 'c2i'"}, {"\"drop_path_rate\":0.1", "stochastic depth"}}) {
            NppException e = assertThrows(NppException.class, () -> GptConfig.fromJson(json.readTree(base + bad[0] + "}")));
            assertTrue(e.getMessage().startsWith("GPT config: ") && e.getMessage().contains(bad[1]), e.getMessage());
        }
    }
}
