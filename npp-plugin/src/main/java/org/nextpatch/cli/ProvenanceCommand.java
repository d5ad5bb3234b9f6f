package org.nextpatch.cli;

import org.nextpatch.tribuo.ModelFiles;
import org.tribuo.Model;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code npp provenance MODEL_FILE}: prints the provenance of a Tribuo model file (an NPP model or
 * any other Tribuo model saved as protobuf) as JSON: the dataset, the trainer with every setting,
 * the training time, Java/OS/Tribuo versions and the run's own values (DJL and PyTorch versions,
 * device, ...).
 */
@Command(name = "provenance", mixinStandardHelpOptions = true,
        description = "Print the provenance of a Tribuo model file (e.g. an NPP model) as JSON.")
public final class ProvenanceCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "MODEL_FILE", description = "A Tribuo model file (protobuf).")
    Path modelFile;

    @Option(names = "--marshalled", description = "Print OLCUT's marshalled provenance JSON (the form "
            + "that can be read back with JsonProvenanceSerialization) instead of the nested view.")
    boolean marshalled;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        Model<?> model = load(modelFile);
        PrintWriter out = spec.commandLine().getOut();
        out.println(toJson(model, marshalled));
        out.flush();
        // stderr, so that stdout stays the JSON
        org.nextpatch.tribuo.RecordedThreads.check(model.getProvenance(), "model " + modelFile + " was trained")
                .ifPresent(note -> spec.commandLine().getErr().println("note: " + note));
        return 0;
    }

    /** Reads a Tribuo model file with one-line errors naming the file ({@link ModelFiles#load}). */
    public static Model<?> load(Path file) {
        return ModelFiles.load(file);
    }

    /** A model's provenance as JSON ({@link ModelFiles#provenanceJson}). */
    public static String toJson(Model<?> model, boolean marshalled) {
        return ModelFiles.provenanceJson(model, marshalled);
    }
}
