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
 *       configuration a training checkpoint records ({@code args.gpt_config}) or a Tribuo model file
 *       carries ({@code --tribuo-model}, see {@link GptSource}); a published checkpoint that records
 *       none needs one of the two flags;</li>
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

    /** What a file records: a configuration, and the image size and downsampling it was trained for (null: none). */
    record Recorded(GptConfig config, Integer imageSize, Integer downsample) {
        /** Nothing recorded (or not read: the flags name the configuration). */
        static final Recorded NONE = new Recorded(null, null, null);

        /** A Tribuo model's configuration (the image size is not part of it). */
        static Recorded of(GptConfig config) {
            return new Recorded(config, null, null);
        }

        /** What a checkpoint tree's {@code args} record ({@code npp train}, {@code NppTrainer}); nulls for none. */
        static Recorded fromCheckpoint(Object root) {
            Map<?, ?> args = root instanceof Map<?, ?> m && m.get("args") instanceof Map<?, ?> a ? a : Map.of();
            GptConfig c = null;
            if (args.get("gpt_config") instanceof Map<?, ?> g) {
                try {
                    c = GptConfig.fromJson(JSON.valueToTree(g)).withoutDropout();
                } catch (NppException e) {
                    throw new NppException("the recorded model configuration is not usable: " + e.getMessage(), e);
                }
            }
            return new Recorded(c, intArg(args, "image_size"), intArg(args, "downsample_size"));
        }
    }

    private GptConfigResolver() {}

    /**
     * @param recorded what the GPT's file records
     * @param ckptName how to name the GPT's file ({@code --gpt-ckpt FILE})
     * @param vq       the tokenizer's configuration, or null when the command has none
     * @param vqName   how to name the tokenizer ({@code --vq-ckpt FILE})
     */
    static Resolved resolve(Flags f, Recorded recorded, String ckptName, VqConfig vq, String vqName) {
        if (f.model() != null && f.configFile() != null) {
            throw new NppCommand.UsageException("give at most one of --gpt-model NAME or --gpt-config FILE");
        }
        if (f.downsample() != null && f.downsample() <= 0) {
            throw new NppCommand.UsageException("--downsample-size must be positive, got " + f.downsample());
        }
        Integer recordedImage = recorded.imageSize();
        Integer recordedDown = recorded.downsample();

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
            if (recorded.config() == null) {
                throw new NppCommand.UsageException(ckptName + " records no model configuration (a published checkpoint): "
                        + "give --gpt-model NAME or --gpt-config FILE");
            }
            config = recorded.config();
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

    private static Integer intArg(Map<?, ?> args, String key) {
        return args.get(key) instanceof Number n ? n.intValue() : null;
    }
}
