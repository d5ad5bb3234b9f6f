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

    /** A subcommand that fails with an Error, as a command that runs out of memory does. */
    @picocli.CommandLine.Command(name = "fail")
    static final class Fail implements java.util.concurrent.Callable<Integer> {
        @picocli.CommandLine.Parameters
        String kind;

        @Override
        public Integer call() {
            if (kind.equals("oom")) {
                throw new OutOfMemoryError("Java heap space");
            }
            throw new StackOverflowError();
        }
    }

    @Test
    void errorsSuchAsOutOfMemoryGetOneLineNotAStackTrace() {
        for (String kind : new String[]{"oom", "deep"}) {
            StringWriter err = new StringWriter();
            picocli.CommandLine cl = NppCommand.commandLine().addSubcommand(new Fail());
            cl.setErr(new PrintWriter(err, true));
            assertEquals(1, cl.execute("fail", kind));
            String e = err.toString().strip();
            assertEquals(1, e.lines().count(), e);
            assertTrue(e.startsWith("npp fail: " + (kind.equals("oom") ? "out of memory (Java heap space, at most" : "stack overflow")), e);
        }
    }
}
