package org.nextpatch.cli;

import org.nextpatch.config.GptConfig;
import org.nextpatch.train.TrainBench;
import org.nextpatch.util.AtomicFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code npp bench-train}: the training figures of {@code docs/benchmarks.md}: time per optimizer step
 * at patch sides 1, 2, 4 (interleaved, one process), and the wall time of an NPP schedule against
 * plain next-token training for the same epochs.
 */
@Command(name = "bench-train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Benchmark NPP training: time per optimizer step at several patch sides, and a whole NPP "
                + "schedule against plain next-token training (same model, data, epochs, seed). Random codes in memory. "
                + "Prints a markdown report (and writes it to --out)."})
public final class BenchTrainCommand implements Callable<Integer> {

    @Option(names = "--gpt-config", paramLabel = "FILE", description = "Model JSON (default: d 128, 2 layers, 4 heads, vocab 1024, 16x16 grid).")
    Path gptConfig;

    @Option(names = "--batch", defaultValue = "8", description = "Images per step (default ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--sides", split = ",", defaultValue = "1,2,4", description = "Patch sides to time (default ${DEFAULT-VALUE}).")
    int[] sides;

    @Option(names = "--rounds", defaultValue = "5", description = "Interleaved timing rounds (default ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--steps-per-round", defaultValue = "4", description = "Steps per side per round (default ${DEFAULT-VALUE}).")
    int stepsPerRound;

    @Option(names = "--epochs", defaultValue = "4", description = "Epochs of the schedule comparison, 0 = skip (default ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--images", defaultValue = "64", description = "Images of the schedule comparison (default ${DEFAULT-VALUE}).")
    int images;

    @Option(names = "--patch-level", defaultValue = "2", description = "NPP patch level of the comparison (default ${DEFAULT-VALUE}).")
    int patchLevel;

    @Option(names = "--epoch-rate", defaultValue = "0.5", description = "NPP epoch rate of the comparison (default ${DEFAULT-VALUE}).")
    double epochRate;

    @Option(names = "--repeats", defaultValue = "1", description = "Runs of each schedule, alternating order; medians (default ${DEFAULT-VALUE}).")
    int repeats;

    @Option(names = "--device", defaultValue = "cpu", description = "Device (default ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--out", paramLabel = "FILE", description = "Also write the markdown report here.")
    Path out;

    @Override
    public Integer call() throws Exception {
        if (rounds < 1 || stepsPerRound < 1 || batch < 1 || repeats < 1 || epochs < 0 || images < 1 || sides.length == 0) {
            throw new NppCommand.UsageException("--rounds, --steps-per-round, --batch, --repeats and --images must be >= 1,"
                    + " --epochs >= 0, --sides not empty; got " + rounds + ", " + stepsPerRound + ", " + batch + ", "
                    + repeats + ", " + images + ", " + epochs);
        }
        for (int side : sides) {
            if (side < 1) {
                throw new NppCommand.UsageException("--sides must be positive, got " + side);
            }
        }
        GptConfig cfg = gptConfig != null ? GptConfig.fromJson(gptConfig) : TrainBench.smallConfig(128, 2, 4, 1024, 10, 16);
        Path work = Files.createTempDirectory("npp-bench-train");
        TrainBench.Settings s = new TrainBench.Settings(cfg, batch, sides, rounds, stepsPerRound, epochs, images,
                patchLevel, epochRate, device, repeats, work);
        TrainBench.StepTimes st = TrainBench.stepTimes(s);
        TrainBench.ScheduleTimes sc = epochs > 0 ? TrainBench.schedules(s) : null;
        String md = TrainBench.markdown(s, st, sc);
        try (java.util.stream.Stream<Path> files = Files.walk(work)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete()); // scratch runs
        }
        System.out.print(md);
        if (out != null) {
            AtomicFiles.writeString(out, md);
        }
        return 0;
    }
}
