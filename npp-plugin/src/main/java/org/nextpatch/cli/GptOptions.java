package org.nextpatch.cli;

import ai.djl.Device;
import ai.djl.engine.Engine;
import org.nextpatch.config.GptConfig;
import org.nextpatch.model.Gpt;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Locale;

/**
 * The GPT flags shared by {@code forward}, {@code score}, {@code sample} and {@code import} (upstream
 * flag names): the checkpoint, the model size (a name or a JSON config), the image geometry, EMA
 * weights and the device; or, instead of a checkpoint and its size, a Tribuo NPP model file
 * ({@code --tribuo-model}, see {@link GptSource}). Model configurations built here have every
 * dropout off (inference).
 */
public final class GptOptions {

    @Option(names = "--gpt-ckpt", paramLabel = "FILE",
            description = "LlamaGen/NPP GPT checkpoint (torch.save zip): {\"model\": ...}, {\"ema\": ...}, module, state_dict or a raw state dict.")
    Path ckpt;

    @Option(names = "--tribuo-model", paramLabel = "FILE",
            description = "Instead of --gpt-ckpt and a size: a Tribuo NPP model file (from 'npp import' or the Tribuo API), which carries its configuration.")
    Path tribuoModel;

    @Option(names = "--gpt-model", paramLabel = "NAME", description = "Named size: GPT-B, GPT-L, GPT-XL, GPT-XXL.")
    String model;

    @Option(names = "--gpt-config", paramLabel = "FILE",
            description = "JSON with upstream ModelArgs names (dim, n_layer, n_head, vocab_size, num_classes, block_size, ...).")
    Path configFile;

    @Option(names = "--image-size", paramLabel = "S",
            description = "Image size in pixels (default: 256 with --gpt-model; with --gpt-config it follows block_size and must agree with it).")
    Integer imageSize;

    @Option(names = "--downsample-size", defaultValue = "16", paramLabel = "F",
            description = "Tokenizer downsampling factor (default ${DEFAULT-VALUE}): the token grid is image-size / F.")
    int downsample;

    @Option(names = "--codebook-size", defaultValue = "16384", paramLabel = "V",
            description = "Vocabulary of a --gpt-model (default ${DEFAULT-VALUE}).")
    int codebookSize;

    @Option(names = "--num-classes", defaultValue = "1000", paramLabel = "C",
            description = "Classes of a --gpt-model (default ${DEFAULT-VALUE}).")
    int numClasses;

    @Option(names = "--use-ema", description = "Load the checkpoint's EMA weights ('ema') instead of 'model'.")
    boolean useEma;

    @Option(names = "--device", defaultValue = "auto", paramLabel = "cpu|gpu|gpu:N|auto",
            description = "Where to run the model (default ${DEFAULT-VALUE}: a GPU when the engine sees one).")
    String device;

    private GptConfig config;
    private GptSource source;

    /** Where the weights come from: {@code --gpt-ckpt} or {@code --tribuo-model}. */
    GptSource source() {
        if (source == null) {
            source = GptSource.of(ckpt, useEma, tribuoModel, model != null || configFile != null);
        }
        return source;
    }

    /** The model configuration (dropouts off), validated against the image geometry. */
    public GptConfig config() {
        if (config != null) {
            return config;
        }
        if (downsample <= 0) {
            throw new NppCommand.UsageException("--downsample-size must be positive, got " + downsample);
        }
        if (source().isTribuoModel()) {
            GptConfig c = source().modelConfig();
            checkImageSize(c, "--tribuo-model " + tribuoModel);
            config = c;
            return config;
        }
        if ((model == null) == (configFile == null)) {
            throw new NppCommand.UsageException("give exactly one of --gpt-model NAME or --gpt-config FILE");
        }
        if (configFile != null) {
            GptConfig c = GptConfig.fromJson(configFile).withoutDropout();
            checkImageSize(c, "--gpt-config " + configFile);
            config = c;
        } else {
            if (codebookSize <= 0 || numClasses <= 0) {
                throw new NppCommand.UsageException("--codebook-size and --num-classes must be positive");
            }
            int s = imageSize == null ? 256 : imageSize;
            config = GptConfig.named(model, GptConfig.blockSizeFor(s, downsample), codebookSize, numClasses).withoutDropout();
        }
        return config;
    }

    private void checkImageSize(GptConfig c, String what) {
        if (imageSize != null) {
            int t = GptConfig.blockSizeFor(imageSize, downsample);
            if (t != c.blockSize()) {
                throw new NppCommand.UsageException("--image-size " + imageSize + " with --downsample-size " + downsample
                        + " gives " + t + " tokens, but " + what + " has block_size " + c.blockSize()
                        + " (image size " + c.gridSide() * downsample + ")");
            }
        }
    }

    /** The image size in pixels: given, or implied by the configuration's token grid. */
    public int imageSize() {
        return imageSize != null ? imageSize : config().gridSide() * downsample;
    }

    /** Loads the checkpoint (or the Tribuo model's weights) into a model on the chosen device. */
    public Gpt load() {
        GptConfig c = config();
        return new Gpt(c, source().weights(), device(device), source().describe());
    }

    /** Resolves {@code --device}: cpu, gpu (the first), gpu:N, or auto. */
    public static Device device(String name) {
        String v = name == null ? "auto" : name.trim().toLowerCase(Locale.ROOT);
        if (v.startsWith("gpu:") || v.startsWith("cuda:")) {
            int idx;
            try {
                idx = Integer.parseInt(v.substring(v.indexOf(':') + 1));
            } catch (NumberFormatException e) {
                throw new NppCommand.UsageException("--device '" + name + "': expected cpu, gpu, gpu:N or auto");
            }
            int n = Engine.getInstance().getGpuCount();
            if (idx < 0 || idx >= n) {
                throw new NppCommand.UsageException("--device " + name + ": the engine sees " + n + " GPU(s)");
            }
            return Device.gpu(idx);
        }
        return VqOptions.device(v);
    }
}
