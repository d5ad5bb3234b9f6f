package org.nextpatch.cli;

import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Exit statuses and one-line errors of the command line. */
public class NppCommandTest {

    /** Runs the command line in this JVM, as {@code ./npp ARGS} would, capturing its output. */
    public static int run(StringWriter out, StringWriter err, String... args) {
        NppCommand.prepareEnvironment();
        picocli.CommandLine cl = NppCommand.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        return cl.execute(args);
    }

    @Test
    void helpListsAndSucceeds() {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        assertEquals(0, run(out, err, "--help"));
        assertTrue(out.toString().contains("Usage: npp"), out.toString());
    }

    @Test
    void unknownSubcommandIsUsageError() {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        assertEquals(2, run(out, err, "no-such-command"));
        String e = err.toString().strip();
        assertEquals(1, e.lines().count(), e);
        assertTrue(e.contains("no-such-command"), e);
    }
}
