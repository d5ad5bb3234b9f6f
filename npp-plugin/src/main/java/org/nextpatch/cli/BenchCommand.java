package org.nextpatch.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code npp bench}: experiments that compare training methods end to end (see its subcommands). */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "End-to-end experiments; see the subcommands (npp-vs-ntp, quantize).",
        subcommands = {CommandLine.HelpCommand.class, BenchNppVsNtpCommand.class, BenchQuantizeCommand.class})
public final class BenchCommand implements Runnable {
    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }
}
