package org.nextpatch.util;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Issue 21: a library caller gets log lines, never a bar drawn on its stderr. */
class ProgressTest {

    @Test
    void libraryDefaultDrawsNoBars() {
        assertFalse(Progress.terminalBarsEnabled(), "bars are the command line's choice, off by default");
        PrintStream saved = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try (Progress p = Progress.start("job", 4, "unit")) {
            p.step(2);
            p.step(2);
            assertEquals(4, p.done());
        } finally {
            System.setErr(saved);
        }
        String err = captured.toString(StandardCharsets.UTF_8);
        assertFalse(err.contains("\r") || err.contains("["), "no bar on stderr: " + err);
    }

    @Test
    void durationsFormat() {
        assertEquals("0:59", Progress.formatDuration(59));
        assertEquals("1:01:01", Progress.formatDuration(3661));
        assertTrue(Progress.formatDuration(0).startsWith("0:"));
    }
}
