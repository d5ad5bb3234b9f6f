package org.nextpatch.config;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.util.NppException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Spec section 7: the VQ-16 preset, the downsampling factor, and the fixture's JSON field names. */
class VqConfigTest {

    @Test
    void vq16IsUpstreamDs16() {
        VqConfig c = VqConfig.named("VQ-16");
        assertEquals(16384, c.codebookSize());
        assertEquals(8, c.codebookEmbedDim());
        assertEquals(128, c.ch());
        assertEquals(List.of(1, 1, 2, 2, 4), c.chMult());
        assertEquals(256, c.zChannels());
        assertEquals(2, c.numResBlocks());
        assertEquals(3, c.decoderResBlocks());
        assertTrue(c.codebookL2Norm());
        assertEquals(0.0, c.dropout());
        assertEquals(16, c.downsample());
        assertEquals(16, c.gridSide(256));
        assertEquals(512, c.channels(4));
    }

    @Test
    void fixtureJsonParsesAndRoundTrips(@TempDir Path dir) throws Exception {
        // The exact content of llamagen-tiny/vq-config.json.
        String json = "{\"codebook_size\": 64, \"codebook_embed_dim\": 8, \"ch\": 32, \"ch_mult\": [1, 2],"
                + " \"z_channels\": 64, \"num_res_blocks\": 2, \"codebook_l2_norm\": true}";
        VqConfig c = VqConfig.fromJson(new ObjectMapper().readTree(json));
        assertEquals(new VqConfig(64, 8, 32, List.of(1, 2), 64, 2, true, 0.0), c);
        assertEquals(2, c.downsample());
        assertEquals(8, c.gridSide(16));
        assertEquals(c, VqConfig.fromJson(c.toJson()));
        Path f = dir.resolve("vq.json");
        c.writeJson(f);
        assertEquals(c, VqConfig.fromJson(f));
    }

    @Test
    void badInputIsNamed(@TempDir Path dir) throws Exception {
        NppException e = assertThrows(NppException.class, () -> VqConfig.named("VQ-8"));
        assertTrue(e.getMessage().contains("VQ-8"));
        // 48 channels cannot be split into 32 GroupNorm groups.
        e = assertThrows(NppException.class, () -> new VqConfig(64, 8, 48, List.of(1), 64, 2, true, 0));
        assertTrue(e.getMessage().contains("32"));
        assertThrows(NppException.class, () -> VqConfig.named("VQ-16").gridSide(100));
        Path f = dir.resolve("bad.json");
        Files.writeString(f, "{\"ch_mult\": \"x\"}");
        e = assertThrows(NppException.class, () -> VqConfig.fromJson(f));
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("ch_mult"));
        e = assertThrows(NppException.class, () -> VqConfig.fromJson(dir.resolve("missing.json")));
        assertTrue(e.getMessage().contains("missing.json"));
        // upstream ModelArgs names: encoder_ch_mult stands for ch_mult; a different decoder_ch_mult is refused
        Files.writeString(f, "{\"encoder_ch_mult\": [1, 2], \"decoder_ch_mult\": [1, 2]}");
        assertEquals(List.of(1, 2), VqConfig.fromJson(f).chMult());
        Files.writeString(f, "{\"ch_mult\": [1, 2], \"decoder_ch_mult\": [1, 2, 2]}");
        e = assertThrows(NppException.class, () -> VqConfig.fromJson(f));
        assertTrue(e.getMessage().contains("decoder_ch_mult [1, 2, 2]"), e.getMessage());
    }
}
