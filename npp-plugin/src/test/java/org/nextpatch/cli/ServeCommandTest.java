package org.nextpatch.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code npp serve}'s flag handling: a wrong folder or flag is one error line with the right exit
 * status, before anything listens. Serving itself is tested in integration-tests ({@code ServeTest},
 * {@code ServeSigtermTest}, {@code PlaygroundBrowserTest}).
 */
class ServeCommandTest {

    @Test
    void missingExportIsOneLineError(@TempDir Path tmp) throws Exception {
        StringWriter o = new StringWriter(), e = new StringWriter();
        assertEquals(1, NppCommandTest.run(o, e, "serve", "--onnx-dir", tmp.resolve("nope").toString(), "--port", "0"));
        assertEquals(1, e.toString().strip().lines().count(), e.toString());
        assertTrue(e.toString().contains("--onnx-dir"), e.toString());

        Files.createDirectories(tmp.resolve("empty"));
        e = new StringWriter();
        assertEquals(1, NppCommandTest.run(o, e, "serve", "--onnx-dir", tmp.resolve("empty").toString(), "--port", "0"));
        assertTrue(e.toString().contains("gpt-generate.onnx"), e.toString());
    }

    @Test
    void badLimitsAreUsageErrors(@TempDir Path tmp) {
        for (String[] bad : new String[][]{{"--max-batch", "0"}, {"--queue", "0"}, {"--port", "70000"}, {"--timeout-ms", "0"},
                {"--batch-window-ms", "-1"}, {"--header-timeout-ms", "0"}, {"--body-timeout-ms", "-5"}, {"--idle-timeout-ms", "0"},
                {"--max-connections", "0"}}) {
            StringWriter o = new StringWriter(), e = new StringWriter();
            assertEquals(2, NppCommandTest.run(o, e, "serve", "--onnx-dir", tmp.toString(), bad[0], bad[1]), String.join(" ", bad));
            assertTrue(e.toString().contains(bad[0]), e.toString());
        }
    }

    @Test
    void helpNamesTheEndpoints() {
        StringWriter o = new StringWriter(), e = new StringWriter();
        assertEquals(0, NppCommandTest.run(o, e, "serve", "--help"));
        assertTrue(o.toString().contains("/v1/generate") && o.toString().contains("--max-batch"), o.toString());
    }
}
