package org.nextpatch.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.nextpatch.config.GptConfig;
import org.nextpatch.config.ModelFit;
import org.nextpatch.config.VqConfig;
import org.nextpatch.util.NppException;

import java.nio.file.Path;
import java.util.Map;

/**
 * Where a command's GPT configuration, downsampling and image size come from, in one place:
 * <ol>
 *   <li>the GPT: {@code --gpt-config FILE}, else {@code --gpt-model NAME} with the shape flags, else the
 *       configuration a training checkpoint records ({@code args.gpt_config}); a published checkpoint
 *       that records none needs one of the two flags;</li>
 *   <li>the downsampling: the tokenizer's when one is given, else {@code --downsample-size}, else the
 *       checkpoint's record, else 16;</li>
 *   <li>the image size: {@code --image-size}, else the checkpoint's record, else grid times downsampling.</li>
 * </ol>
 * A GPT and a tokenizer that do not fit, or flags that contradict the files, are refused here, before
 * any work, in one line naming both values (see {@link ModelFit}).
 */
final class GptConfigResolver {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The flags a command was given (null: not given). */
    record Flags(String model, Path configFile, Integer imageSize, Integer downsample, int codebookSize,
                 int numClasses) {}

    /** What the command runs with. */
    record Resolved(GptConfig config, int downsample, int imageSize) {}

    private GptConfigResolver() {}

    /**
     * @param ckptRoot the loaded GPT checkpoint tree (its {@code args} are read)
     * @param ckptName how to name the checkpoint ({@code --gpt-ckpt FILE})
     * @param vq       the tokenizer's configuration, or null when the command has none
     * @param vqName   how to name the tokenizer ({@code --vq-ckpt FILE})
     */
    static Resolved resolve(Flags f, Object ckptRoot, String ckptName, VqConfig vq, String vqName) {
        if (f.model() != null && f.configFile() != null) {
            throw new NppCommand.UsageException("give at most one of --gpt-model NAME or --gpt-config FILE");
        }
        if (f.downsample() != null && f.downsample() <= 0) {
            throw new NppCommand.UsageException("--downsample-size must be positive, got " + f.downsample());
        }
        Map<?, ?> args = ckptRoot instanceof Map<?, ?> m && m.get("args") instanceof Map<?, ?> a ? a : Map.of();
        Integer recordedImage = intArg(args, "image_size");
        Integer recordedDown = intArg(args, "downsample_size");

        int down;
        if (vq != null) {
            down = vq.downsample();
            if (f.downsample() != null && f.downsample() != down) {
                throw new NppCommand.UsageException("--downsample-size " + f.downsample() + " but " + vqName
                        + " downsamples by " + down);
            }
        } else if (f.downsample() != null) {
            down = f.downsample();
        } else {
            down = recordedDown != null ? recordedDown : 16;
        }

        GptConfig config;
        Integer image = f.imageSize();
        if (f.configFile() != null) {
            config = GptConfig.fromJson(f.configFile()).withoutDropout();
        } else if (f.model() != null) {
            if (f.codebookSize() <= 0 || f.numClasses() <= 0) {
                throw new NppCommand.UsageException("--codebook-size and --num-classes must be positive");
            }
            int s = image != null ? image : 256;
            config = GptConfig.named(f.model(), GptConfig.blockSizeFor(s, down), f.codebookSize(), f.numClasses())
                    .withoutDropout();
            image = s;
        } else {
            config = recorded(args, ckptName);
            if (image == null) {
                image = recordedImage; // checked against the tokenizer's downsampling below
            }
        }
        int made = config.gridSide() * down;
        if (vq != null) {
            ModelFit.imageSize(config, vq, image, "the GPT (" + ckptName + ")", "the tokenizer (" + vqName + ")");
        } else if (image != null && image != made) {
            throw new NppCommand.UsageException("--image-size " + image + " with downsampling " + down + " gives a "
                    + (image / down) + "x" + (image / down) + " grid, but the GPT (" + ckptName + ") generates "
                    + config.gridSide() + "x" + config.gridSide());
        }
        return new Resolved(config, down, made);
    }

    /** The configuration a training checkpoint records. */
    private static GptConfig recorded(Map<?, ?> args, String ckptName) {
        Object g = args.get("gpt_config");
        if (!(g instanceof Map<?, ?>)) {
            throw new NppCommand.UsageException(ckptName + " records no model configuration (a published checkpoint): "
                    + "give --gpt-model NAME or --gpt-config FILE");
        }
        try {
            return GptConfig.fromJson(JSON.valueToTree(g)).withoutDropout();
        } catch (NppException e) {
            throw new NppException(ckptName + ": the recorded model configuration is not usable: " + e.getMessage(), e);
        }
    }

    private static Integer intArg(Map<?, ?> args, String key) {
        return args.get(key) instanceof Number n ? n.intValue() : null;
    }
}
