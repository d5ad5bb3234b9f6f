package org.nextpatch.cli;

import org.nextpatch.data.ClassNames;
import org.nextpatch.tensor.DType;
import org.nextpatch.tribuo.NppModel;
import org.nextpatch.util.RegularFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code npp import}: wraps an upstream LlamaGen/NPP GPT checkpoint as a Tribuo {@link NppModel}
 * file ({@link NppModel#fromCheckpoint}), with the source's name, size and SHA-256, the configuration
 * and the tokenizer's hash in its provenance. Large models keep their weights in
 * {@code MODEL.weights} beside the model file.
 */
@Command(name = "import", mixinStandardHelpOptions = true,
        description = "Wrap a LlamaGen/NPP GPT checkpoint as a Tribuo NPP model file (provenance: source file name, size, "
                + "SHA-256, configuration, tokenizer hash). Weights over 2 GB go to OUT.weights beside the model file.")
public final class ImportCommand implements Callable<Integer> {

    @Mixin
    GptOptions gpt;

    @Option(names = "--vq-ckpt", paramLabel = "FILE",
            description = "The VQ tokenizer the GPT's tokens belong to: its name, size and SHA-256 go into the provenance.")
    Path vqCkpt;

    @Option(names = "--weights-dtype", defaultValue = "float32", paramLabel = "float32|float16|bfloat16",
            description = "Storage type of the weights (default ${DEFAULT-VALUE}); half types halve the files and are "
                    + "converted back to float32 when the model runs.")
    String weightsDtype;

    @Option(names = "--weights", defaultValue = "auto", paramLabel = "auto|inline|external",
            description = "Where the weights go (default ${DEFAULT-VALUE}: inside up to 2 GB, GPT-L in float32 and GPT-XL "
                    + "in half precision included, else beside): inside the model file or in OUT.weights beside it.")
    String layout;

    @Option(names = "--class-names", paramLabel = "FILE",
            description = "Class names, one per line in class order (as extract-codes writes classes.txt): the model "
                    + "keeps them, and its ONNX exports record them for 'npp serve'.")
    Path classNamesFile;

    @Option(names = "--out", required = true, paramLabel = "MODEL", description = "The Tribuo model file to write.")
    Path out;

    @Spec
    CommandSpec spec;

    /**
     * Import reads a checkpoint: the shared GPT options' {@code --tribuo-model} is neither offered in
     * its help nor accepted (picocli then names it an unknown option).
     */
    static void dropUnusedOptions(CommandSpec importSpec) {
        importSpec.remove(importSpec.findOption("--tribuo-model"));
    }

    @Override
    public Integer call() {
        if (gpt.ckpt == null) {
            throw new NppCommand.UsageException("give --gpt-ckpt FILE");
        }
        DType dtype = weightsDtype(weightsDtype);
        NppModel.WeightsLayout where = layout(layout);
        if (vqCkpt != null) {
            RegularFiles.requireRegular(vqCkpt, "--vq-ckpt");
        }
        if (Files.isDirectory(out)) {
            throw new NppCommand.UsageException("--out " + out + " is a directory; give the model file to write");
        }
        if (out.toAbsolutePath().normalize().equals(gpt.ckpt.toAbsolutePath().normalize())) {
            throw new NppCommand.UsageException("--out must not be the checkpoint itself");
        }
        Outputs.notAnInput(out, "--out", "--gpt-ckpt", gpt.ckpt, "--vq-ckpt", vqCkpt, "--gpt-config", gpt.configFile,
                "--class-names", classNamesFile);
        Outputs.writableFile(out, "--out");
        List<String> names = classNamesFile == null ? List.of()
                : ClassNames.read(classNamesFile, "--class-names", gpt.config().numClasses());
        long t0 = System.nanoTime();
        try (NppModel model = NppModel.fromCheckpoint(gpt.ckpt, gpt.config(), gpt.useEma, vqCkpt)) {
            model.setClassNames(names);
            model.save(out, dtype, where);
        }
        PrintWriter o = spec.commandLine().getOut();
        o.printf(Locale.ROOT, "imported %s as %s in %.1f s%n", gpt.ckpt, out, (System.nanoTime() - t0) / 1e9);
        o.flush();
        return 0;
    }

    /** {@code --weights-dtype} as a tensor type. */
    static DType weightsDtype(String v) {
        return switch (v.toLowerCase(Locale.ROOT)) {
            case "float32", "fp32" -> DType.FLOAT32;
            case "float16", "fp16", "half" -> DType.FLOAT16;
            case "bfloat16", "bf16" -> DType.BFLOAT16;
            default -> throw new NppCommand.UsageException("--weights-dtype must be float32, float16 or bfloat16, got '" + v + "'");
        };
    }

    private static NppModel.WeightsLayout layout(String v) {
        return switch (v.toLowerCase(Locale.ROOT)) {
            case "auto" -> NppModel.WeightsLayout.AUTO;
            case "inline" -> NppModel.WeightsLayout.INLINE;
            case "external" -> NppModel.WeightsLayout.EXTERNAL;
            default -> throw new NppCommand.UsageException("--weights must be auto, inline or external, got '" + v + "'");
        };
    }
}
