package org.nextpatch.config;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.util.NppException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Configuration files as an attacker or a careless user writes them: numbers that overflow once
 * converted to float32, sizes that would allocate or loop for minutes, files that are not files,
 * duplicate and unknown keys. Each is refused at once in one message naming the file and the field.
 */
class ConfigLimitsTest {
    private static final String GPT = "{\"dim\":64,\"n_layer\":2,\"n_head\":4,\"vocab_size\":256,\"num_classes\":10,\"block_size\":16";

    @TempDir
    Path dir;

    private Path file(String name, String content) throws Exception {
        return Files.writeString(dir.resolve(name), content);
    }

    /** The error for the base config with {@code extra} (",key:value") added, replacing the base's value of that key. */
    private String gptError(String extra) throws Exception {
        String key = extra.substring(1, extra.indexOf(':'));
        String base = GPT.replaceAll("(?<=[{,])" + java.util.regex.Pattern.quote(key) + ":\\d+,?", "").replaceAll(",$", "");
        Path f = file("gpt.json", base + extra + "}");
        String m = assertThrows(NppException.class, () -> GptConfig.fromJson(f)).getMessage();
        assertTrue(m.startsWith(f.toString()), m);
        return m;
    }

    @Test
    void gptNumbersAreCheckedAsTheFloat32TheyBecome() throws Exception {
        assertTrue(gptError(",\"norm_eps\":1e400").contains("'norm_eps' must be a finite number"));
        assertTrue(gptError(",\"rope_base\":1e-300").contains("rope_base 1.0E-300 is out of range [1.0, 1.0E12]"));
        assertTrue(gptError(",\"norm_eps\":1e-50").contains("norm_eps"));  // positive as a double, 0 as float32
        assertTrue(gptError(",\"rope_base\":1e39").contains("not a finite float32"));
        assertTrue(gptError(",\"token_dropout_p\":0.99999999999").contains("token_dropout_p must be in [0, 1)"));
        assertTrue(gptError(",\"ffn_dim_multiplier\":\"x\"").contains("'ffn_dim_multiplier' must be a finite number"));
        assertTrue(gptError(",\"ffn_dim_multiplier\":1e30").contains("ffn_dim_multiplier"));
        // the fixture's values stay accepted
        GptConfig ok = GptConfig.fromJson(file("ok.json", GPT + ",\"norm_eps\":1e-6,\"rope_base\":500,\"ffn_dim_multiplier\":1.3}"));
        assertEquals(1e-6, ok.normEps());
    }

    @Test
    void gptSizesAreCheckedBeforeAnythingIsAllocated() throws Exception {
        String m = assertTimeoutPreemptively(Duration.ofSeconds(5), () -> gptError(",\"n_layer\":100000000"));
        assertTrue(m.contains("n_layer 100000000 is out of range [1, 512]"), m);
        assertTrue(gptError(",\"dim\":1048576").contains("dim 1048576 is out of range"));
        assertTrue(gptError(",\"block_size\":2147395600").contains("block_size"));
        assertTrue(gptError(",\"multiple_of\":2000000000").contains("multiple_of"));
        // within every limit alone, but the embedding would not fit in one buffer
        assertTrue(assertThrows(NppException.class, () -> new GptConfig(8192, 1, 64, GptConfig.MAX_VOCAB, 10, 16, 1, 256,
                null, 1e-5, 1e4, 0, 0, 0, 0, 0)).getMessage().contains("tok_embeddings"));
        GptConfig xxl = GptConfig.named("GPT-XXL", 576);
        assertEquals(48, xxl.nLayer());
    }

    @Test
    void vqSizesAreCheckedBeforeAnyLoop() throws Exception {
        String mult = "1,".repeat(99_999) + "1";
        Path f = file("vq.json", "{\"ch\":32,\"ch_mult\":[" + mult + "]}");
        String m = assertTimeoutPreemptively(Duration.ofSeconds(5),
                () -> assertThrows(NppException.class, () -> VqConfig.fromJson(f)).getMessage());
        assertTrue(m.startsWith(f.toString()) && m.contains("the length of ch_mult 100000 is out of range [1, 8]"), m);
        Function<String, String> vq = json -> assertThrows(NppException.class,
                () -> VqConfig.fromJson(new ObjectMapper().readTree(json))).getMessage();
        assertTrue(vq.apply("{\"ch_mult\":[" + "1,".repeat(32) + "1]}").contains("ch_mult"));  // 2^32 downsampling
        assertTrue(vq.apply("{\"ch\":2147483647}").contains("ch 2147483647 is out of range"));
        assertTrue(vq.apply("{\"ch\":64,\"ch_mult\":[1,67108864]}").contains("ch * ch_mult"));  // 2^32 overflows int
        assertTrue(vq.apply("{\"codebook_size\":1048576,\"codebook_embed_dim\":4096}").contains("codebook"));
        assertTrue(vq.apply("{\"dropout\":1e400}").contains("finite"));
        assertTrue(vq.apply("{\"num_res_blocks\":100000000}").contains("num_res_blocks"));
    }

    @Test
    void onlyBoundedRegularFilesAreRead() throws Exception {
        assertTrue(assertThrows(NppException.class, () -> GptConfig.fromJson(dir)).getMessage().contains("is a directory"));
        Path big = file("big.json", GPT + "}" + " ".repeat(JsonFiles.MAX_BYTES));
        assertTrue(assertThrows(NppException.class, () -> GptConfig.fromJson(big)).getMessage().contains("more than the 1048576"));
        Path loop = dir.resolve("loop.json");
        Files.createSymbolicLink(loop, loop);
        String m = assertThrows(NppException.class, () -> GptConfig.fromJson(loop)).getMessage();
        assertTrue(m.contains(loop.toString()) && m.toLowerCase().contains("symbolic links"), m);
        Path missing = dir.resolve("missing.json");
        assertTrue(assertThrows(NppException.class, () -> VqConfig.fromJson(missing)).getMessage().contains("file not found"));
        if (Files.exists(Path.of("/dev/zero"))) {
            String z = assertTimeoutPreemptively(Duration.ofSeconds(10),
                    () -> assertThrows(NppException.class, () -> GptConfig.fromJson(Path.of("/dev/zero"))).getMessage());
            assertTrue(z.contains("/dev/zero is not a regular file"), z);
        }
    }

    @Test
    void aFifoIsRefusedWithoutBlocking() throws Exception {
        Path fifo = dir.resolve("gpt.fifo");
        boolean made;
        try {
            made = new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0;
        } catch (java.io.IOException e) {
            made = false;
        }
        assumeTrue(made, "mkfifo is not available");
        String m = assertTimeoutPreemptively(Duration.ofSeconds(10),
                () -> assertThrows(NppException.class, () -> VqConfig.fromJson(fifo)).getMessage());
        assertTrue(m.contains(fifo + " is not a regular file"), m);
    }

    @Test
    void duplicateKeysTrailingTextAndUnknownKeys() throws Exception {
        Path dup = file("dup.json", GPT + ",\"n_layer\":3}");
        String m = assertThrows(NppException.class, () -> GptConfig.fromJson(dup)).getMessage();
        assertTrue(m.contains(dup.toString()) && m.contains("Duplicate field 'n_layer'") && m.contains("line 1"), m);
        Path trailing = file("trailing.json", GPT + "} {\"dim\": 128}");
        m = assertThrows(NppException.class, () -> GptConfig.fromJson(trailing)).getMessage();
        assertTrue(m.contains(trailing + " is not valid JSON"), m);
        Path empty = file("empty.json", "");
        assertTrue(assertThrows(NppException.class, () -> GptConfig.fromJson(empty)).getMessage().contains("is empty"));
        // unknown keys are warned about (a typo such as norm_esp would otherwise pass unnoticed)
        assertEquals(List.of("norm_esp", "n_layers"), JsonFiles.unknownKeys(new ObjectMapper().readTree(
                "{\"dim\":1,\"norm_esp\":1,\"n_layers\":2,\"initializer_range\":0.02}"), Set.of("dim", "initializer_range")));
        assertEquals(2, GptConfig.fromJson(file("typo.json", GPT + ",\"norm_esp\":1e-6,\"initializer_range\":0.02}")).nLayer());
    }
}
