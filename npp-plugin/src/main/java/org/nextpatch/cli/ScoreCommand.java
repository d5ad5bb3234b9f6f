package org.nextpatch.cli;

import org.nextpatch.data.CodeDirectory;
import org.nextpatch.model.Gpt;
import org.nextpatch.eval.NppScore;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code npp score}: the mean NPP loss of a checkpoint over every (image, augmentation) row of a code
 * directory at one patch side, without dropout. The last line of the output is exactly {@code loss: X}.
 */
@Command(name = "score", mixinStandardHelpOptions = true,
        description = "Mean NPP loss over every (image, augmentation) row of a code directory; last line 'loss: X'.")
public final class ScoreCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    GptOptions gpt;

    @Option(names = "--code-path", required = true, paramLabel = "DIR",
            description = "Code directory in the upstream layout: DIR/imagenet{S}_codes/{i}.npy and DIR/imagenet{S}_labels/{i}.npy.")
    Path codePath;

    @Option(names = "--patch-side", defaultValue = "1", paramLabel = "p",
            description = "Patch side p (a divisor of the token grid side; 1 = next-token loss; default ${DEFAULT-VALUE}).")
    int patchSide;

    @Option(names = "--batch-size", defaultValue = "32", description = "Rows per forward pass (default ${DEFAULT-VALUE}).")
    int batchSize;

    @Override
    public Integer call() {
        if (batchSize < 1) {
            throw new NppCommand.UsageException("--batch-size must be positive");
        }
        int g = gpt.config().gridSide();
        if (patchSide < 1 || g % patchSide != 0) {
            throw new NppCommand.UsageException("--patch-side " + patchSide + " must divide the token grid side " + g);
        }
        CodeDirectory codes = CodeDirectory.open(codePath, gpt.imageSize());
        codes.checkValues(gpt.config().vocabSize(), gpt.config().numClasses());
        double loss;
        try (Gpt model = gpt.load()) {
            loss = NppScore.score(model, codes, patchSide, batchSize);
        }
        spec.commandLine().getOut().println("rows: " + codes.rows() + ", patch side: " + patchSide);
        spec.commandLine().getOut().println("loss: " + loss);
        spec.commandLine().getOut().flush();
        return 0;
    }
}
