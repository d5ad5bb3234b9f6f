package org.nextpatch.cli;

import ai.djl.Device;
import ai.djl.engine.Engine;
import org.nextpatch.config.GptConfig;
import org.nextpatch.config.VqConfig;
import org.nextpatch.io.StateDicts;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.model.Gpt;
import org.nextpatch.util.NppException;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

/**
 * The GPT flags shared by {@code forward}, {@code score} and {@code sample} (upstream flag names):
 * the checkpoint, the model size (a name or a JSON config; by default what the checkpoint records), the
 * image geometry, EMA weights and the device. {@link GptConfigResolver} decides where each value comes
 * from. Model configurations built here have every dropout off (inference).
 */
public final class GptOptions {

    @Option(names = "--gpt-ckpt", required = true, paramLabel = "FILE",
            description = "LlamaGen/NPP GPT checkpoint (torch.save zip): {\"model\": ...}, {\"ema\": ...}, module, state_dict or a raw state dict.")
    Path ckpt;

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

    private GptConfigResolver.Resolved resolved;
    private Object root;
    private VqConfig tokenizer;
    private String tokenizerName;

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
            resolved = GptConfigResolver.resolve(new GptConfigResolver.Flags(model, configFile, imageSize, downsample,
                    codebookSize, numClasses), root(), "--gpt-ckpt " + ckpt, tokenizer, tokenizerName);
        }
        return resolved;
    }

    /** The checkpoint tree, read once. */
    Object root() {
        if (root == null) {
            if (!Files.isRegularFile(ckpt)) {
                throw new NppException("--gpt-ckpt " + ckpt + ": file not found");
            }
            root = TorchCheckpoint.load(ckpt);
        }
        return root;
    }

    /** The checkpoint's weights ({@code ema} with {@code --use-ema}). */
    public Map<String, Tensor> weights() {
        try {
            return StateDicts.select(root(), useEma);
        } catch (NppException e) {
            throw e.getMessage().contains(ckpt.toString()) ? e : new NppException("--gpt-ckpt " + ckpt + ": " + e.getMessage(), e);
        }
    }

    /** Loads the checkpoint into a model on the chosen device. */
    public Gpt load() {
        GptConfig c = config();
        return new Gpt(c, weights(), device(device), ckpt + (useEma ? " (ema)" : ""));
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
