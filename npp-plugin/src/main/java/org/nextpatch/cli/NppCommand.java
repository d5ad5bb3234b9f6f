package org.nextpatch.cli;

import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.core.config.Configurator;
import org.nextpatch.util.NppException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

import java.io.PrintWriter;

/**
 * The {@code npp} command line: one subcommand per job, flags named as in the upstream LlamaGen/NPP
 * scripts. Each subcommand is a thin adapter over the same services the Tribuo API uses.
 * <p>
 * Exit status: 0 on success, 1 on a failure (one line on stderr naming the problem), 2 on a usage
 * error. {@code --verbose} adds stack traces and engine logs.
 */
@Command(name = "npp", mixinStandardHelpOptions = true, versionProvider = NppCommand.Version.class,
        description = "Next Patch Prediction for LlamaGen image generation, on Tribuo, DJL and ONNX Runtime.",
        subcommands = {
                CommandLine.HelpCommand.class,
                TrainCommand.class,
                BenchTrainCommand.class,
                VqEncodeCommand.class,
                VqDecodeCommand.class,
                ExtractCodesCommand.class,
                TrainVqCommand.class,
                ExportOnnxCommand.class,
                ImportCommand.class,
                BenchSampleCommand.class,
                InspectCkptCommand.class,
                DoctorCommand.class,
                EvaluateCommand.class,
                TrainFeatureNetCommand.class,
                ForwardCommand.class,
                ScoreCommand.class,
                SampleCommand.class,
                ServeCommand.class,
                ProvenanceCommand.class,
                DemoCommand.class,
                BenchCommand.class,
        })
public final class NppCommand implements Runnable {

    private static volatile boolean verbose;

    @Option(names = "--verbose", scope = ScopeType.INHERIT,
            description = "Show engine logs and stack traces of errors.")
    void setVerbose(boolean v) {
        verbose = v;
        if (v) {
            Configurator.setLevel("org.nextpatch", Level.DEBUG);
            Configurator.setLevel("ai.djl", Level.INFO);
            Configurator.setLevel("ai.djl.util.cuda", Level.INFO);
            Configurator.setLevel("org.tribuo", Level.INFO);
        }
    }

    @Option(names = "--allow-non-finite", scope = ScopeType.INHERIT,
            description = "Load checkpoints whose weights hold NaN or infinity (refused otherwise).")
    void setAllowNonFinite(boolean v) {
        org.nextpatch.io.TorchCheckpoint.allowNonFiniteByDefault(v);
    }

    /** Whether {@code --verbose} was given. */
    public static boolean verbose() {
        return verbose;
    }

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    /** Entry point of the launcher and the runnable jar. */
    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** Runs the command line and returns the exit status (for tests: no {@code System.exit}). */
    public static int execute(String... args) {
        prepareEnvironment();
        return commandLine().execute(args);
    }

    /** The configured picocli command line with the project's error handling. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new NppCommand());
        ImportCommand.dropUnusedOptions(cl.getSubcommands().get("import").getCommandSpec());
        cl.setParameterExceptionHandler((ex, a) -> {
            CommandLine c = ex.getCommandLine();
            PrintWriter err = c.getErr();
            err.println(c.getCommandSpec().qualifiedName() + ": " + ex.getMessage()
                    + " (see '" + c.getCommandSpec().qualifiedName() + " --help')");
            err.flush();
            return 2;
        });
        // picocli hands only Exceptions to the handler below: an Error (out of memory, stack overflow)
        // thrown by a command would leave execute() as a raw stack trace, so it is wrapped here
        cl.setExecutionStrategy(parseResult -> {
            try {
                return new CommandLine.RunLast().execute(parseResult);
            } catch (OutOfMemoryError | StackOverflowError e) {
                CommandLine.ParseResult last = parseResult;
                while (last.hasSubcommand()) {
                    last = last.subcommand();
                }
                throw new CommandLine.ExecutionException(last.commandSpec().commandLine(), String.valueOf(e), e);
            }
        });
        cl.setExecutionExceptionHandler((ex, c, parseResult) -> {
            PrintWriter err = c.getErr();
            err.println(c.getCommandSpec().qualifiedName() + ": " + describe(ex));
            if (verbose) {
                ex.printStackTrace(err);
            }
            err.flush();
            return ex instanceof UsageException || ex instanceof org.nextpatch.util.BadValueException ? 2 : 1;
        });
        return cl;
    }

    private static String describe(Throwable ex) {
        if (ex instanceof NppException || ex instanceof UsageException) {
            return ex.getMessage();
        }
        for (Throwable c = ex; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof OutOfMemoryError) {
                return "out of memory (" + c.getMessage() + ", at most " + Runtime.getRuntime().maxMemory() / (1 << 20)
                        + " MiB of Java heap); use a smaller batch or model, or give Java more memory (-Xmx)";
            }
            if (c instanceof StackOverflowError) {
                return "stack overflow: the input is nested too deeply";
            }
        }
        String msg = ex.getMessage();
        return "unexpected error: " + ex.getClass().getSimpleName() + (msg == null ? "" : ": " + msg)
                + (verbose ? "" : " (rerun with --verbose for details)");
    }

    /** The command line's Log4j2 configuration (a class path resource, not at the jar root). */
    static final String LOG_CONFIG = "org/nextpatch/cli/npp-log4j2.xml";

    /**
     * DJL must run offline and send nothing anywhere; JUL logs (Tribuo) go through Log4j2, configured
     * by {@value #LOG_CONFIG} unless the user names another configuration. Runs before any logger exists.
     */
    public static void prepareEnvironment() {
        System.setProperty("ai.djl.offline", "true");
        System.setProperty("OPT_OUT_TRACKING", "true");
        if (System.getProperty("log4j2.configurationFile") == null && System.getProperty("log4j.configurationFile") == null) {
            System.setProperty("log4j2.configurationFile", "classpath:" + LOG_CONFIG);
        }
        org.nextpatch.model.EngineThreads.apply();
        // The library reports progress as log lines; only the command line draws bars on a terminal.
        org.nextpatch.util.Progress.setTerminalBars(true);
        if (System.getProperty("java.util.logging.manager") == null) {
            System.setProperty("java.util.logging.manager", "org.apache.logging.log4j.jul.LogManager");
        }
    }

    /** A usage error found after parsing (conflicting or out-of-range flags): exit status 2. */
    public static final class UsageException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public UsageException(String message) {
            super(message);
        }
    }

    /** Version from the jar manifest. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = NppCommand.class.getPackage().getImplementationVersion();
            return new String[]{"npp " + (v == null ? "(development build)" : v)};
        }
    }
}
