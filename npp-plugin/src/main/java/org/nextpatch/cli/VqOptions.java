package org.nextpatch.cli;

import ai.djl.Device;
import ai.djl.engine.Engine;
import org.nextpatch.config.VqConfig;
import org.nextpatch.model.VqModel;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** The tokenizer flags shared by the VQ commands: {@code --vq-ckpt}, {@code --vq-config}, {@code --device}. */
public final class VqOptions {

    @Option(names = "--vq-ckpt", required = true, paramLabel = "FILE",
            description = "VQ tokenizer checkpoint in the upstream layout ({\"model\": state_dict}), e.g. vq_ds16_c2i.pt.")
    Path vqCkpt;

    @Option(names = "--vq-config", paramLabel = "FILE",
            description = "Tokenizer configuration JSON (codebook_size, codebook_embed_dim, ch, ch_mult, z_channels, "
                    + "num_res_blocks, codebook_l2_norm). Default: the one train-vq stored in the checkpoint, else VQ-16.")
    Path vqConfig;

    @Option(names = "--device", defaultValue = "auto", paramLabel = "cpu|gpu|auto",
            description = "Where to run the tokenizer (default: ${DEFAULT-VALUE}, a GPU when there is one).")
    String device;

    /** The configuration from {@code --vq-config}, or null to use the checkpoint's / VQ-16. */
    public VqConfig config() {
        return vqConfig == null ? null : VqConfig.fromJson(vqConfig);
    }

    /** Loads the tokenizer. */
    public VqModel load() {
        return VqModel.load(vqCkpt, config(), device(device));
    }

    /** Resolves a {@code --device} value. */
    public static Device device(String name) {
        return switch (name == null ? "auto" : name.toLowerCase(java.util.Locale.ROOT)) {
            case "auto" -> Engine.getInstance().defaultDevice();
            case "cpu" -> Device.cpu();
            case "gpu", "cuda" -> {
                if (Engine.getInstance().getGpuCount() == 0) {
                    throw new NppCommand.UsageException("--device gpu: no GPU is visible to the engine");
                }
                yield Device.gpu();
            }
            default -> throw new NppCommand.UsageException("--device must be cpu, gpu or auto, got '" + name + "'");
        };
    }
}
