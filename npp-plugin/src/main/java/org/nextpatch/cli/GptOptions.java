package org.nextpatch.cli;

import ai.djl.Device;
import ai.djl.engine.Engine;
import org.nextpatch.config.GptConfig;
import org.nextpatch.config.VqConfig;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.model.Gpt;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

/**
 * The GPT flags shared by {@code forward}, {@code score}, {@code sample} and {@code import} (upstream
 * flag names): the checkpoint, the model size (a name or a JSON config; by default what the checkpoint
 * records), the image geometry, EMA weights and the device; or, instead of a checkpoint and its size, a
 * Tribuo NPP model file ({@code --tribuo-model}, see {@link GptSource}). {@link GptConfigResolver}
 * decides where each value comes from. Model configurations built here have every dropout off (inference).
 */
public final class GptOptions {

    @Option(names = "--gpt-ckpt", paramLabel = "FILE",
            description = "LlamaGen/NPP GPT checkpoint (torch.save zip): {\"model\": ...}, {\"ema\": ...}, module, state_dict or a raw state dict.")
    Path ckpt;

    @Option(names = "--tribuo-model", paramLabel = "FILE",
            description = "Instead of --gpt-ckpt and a size: a Tribuo NPP model file (from 'npp import' or the Tribuo API), which carries its configuration.")
    Path tribuoModel;

    @Option(names = "--gpt-model", paramLabel = "NAME",
            description = "Named size: GPT-B, GPT-L, GPT-XL, GPT-XXL (default: the configuration the checkpoint records).")
    String model;

    @Option(names = "--gpt-config", paramLabel = "FILE",
            description = "JSON with upstream ModelArgs names (dim, n_layer, n_head, vocab_size, num_classes, block_size, ...; default: recorded in the checkpoint).")
    Path configFile;

    @Option(names = "--image-size", paramLabel = "S",
            description = "Image size in pixels (default: recorded in the checkpoint, else 256 with --gpt-model, else grid x downsampling).")
    Integer imageSize;

    @Option(names = "--downsample-size", paramLabel = "F",
            description = "Tokenizer downsampling factor (default: the tokenizer's, else recorded in the checkpoint, else 16): the token grid is image-size / F.")
    Integer downsample;

    @Option(names = "--codebook-size", paramLabel = "V",
            description = "Vocabulary of a --gpt-model (default 16384; a --gpt-config or --tribuo-model sets its own).")
    Integer codebookSize;

    @Option(names = "--num-classes", paramLabel = "C",
            description = "Classes of a --gpt-model (default 1000; a --gpt-config or --tribuo-model sets its own).")
    Integer numClasses;

    @Option(names = "--use-ema", description = "Load the checkpoint's EMA weights ('ema') instead of 'model'.")
    boolean useEma;

    @Option(names = "--device", defaultValue = "auto", paramLabel = "cpu|gpu|gpu:N|auto",
            description = "Where to run the model (default ${DEFAULT-VALUE}: a GPU when the engine sees one).")
    String device;

    private GptConfigResolver.Resolved resolved;
    private VqConfig tokenizer;
    private String tokenizerName;
    private GptSource source;

    /** Where the weights come from: {@code --gpt-ckpt} or {@code --tribuo-model}. */
    GptSource source() {
        if (source == null) {
            source = GptSource.of(ckpt, useEma, tribuoModel, model != null || configFile != null);
        }
        return source;
    }

    /**
     * Declares the tokenizer the command will decode or encode with, before {@link #config()}: its
     * downsampling is then the command's and it must fit the GPT.
     */
    public void tokenizer(VqConfig vq, String name) {
        if (resolved != null) {
            throw new IllegalStateException("tokenizer must be declared before the configuration is resolved");
        }
        this.tokenizer = vq;
        this.tokenizerName = name;
    }

    /** The model configuration (dropouts off), resolved by {@link GptConfigResolver}. */
    public GptConfig config() {
        return resolved().config();
    }

    /** The downsampling factor the command works with. */
    public int downsample() {
        return resolved().downsample();
    }

    /** The image size in pixels. */
    public int imageSize() {
        return resolved().imageSize();
    }

    private GptConfigResolver.Resolved resolved() {
        if (resolved == null) {
            if ((configFile != null || tribuoModel != null) && (codebookSize != null || numClasses != null)) {
                // they would be ignored: the file sets vocab_size and num_classes itself
                throw new NppCommand.UsageException((codebookSize != null ? "--codebook-size" : "--num-classes")
                        + " applies to --gpt-model; " + (configFile != null ? "--gpt-config " + configFile
                        : "--tribuo-model " + tribuoModel) + " sets vocab_size and num_classes itself");
            }
            GptSource src = source();
            // the checkpoint is read here only when no flag names the configuration (a Spark job's checkpoint
            // may not be on this machine)
            GptConfigResolver.Recorded rec = src.isTribuoModel() ? GptConfigResolver.Recorded.of(src.modelConfig())
                    : model != null || configFile != null ? GptConfigResolver.Recorded.NONE
                    : GptConfigResolver.Recorded.fromCheckpoint(src.checkpointRoot());
            resolved = GptConfigResolver.resolve(new GptConfigResolver.Flags(model, configFile, imageSize, downsample,
                    codebookSize == null ? 16384 : codebookSize, numClasses == null ? 1000 : numClasses), rec, src.flag(),
                    tokenizer, tokenizerName);
        }
        return resolved;
    }

    /** The weights ({@code ema} with {@code --use-ema}), read once. */
    public Map<String, Tensor> weights() {
        return source().weights();
    }

    /** Loads the checkpoint (or the Tribuo model's weights) into a model on the chosen device. */
    public Gpt load() {
        GptConfig c = config();
        return new Gpt(c, weights(), device(device), source().describe());
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
