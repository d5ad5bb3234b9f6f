package org.nextpatch.cli;

import org.nextpatch.config.VqConfig;
import org.nextpatch.data.CodeExtractor;
import org.nextpatch.data.IdxImages;
import org.nextpatch.data.ImageFolder;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.model.VqModel;
import org.nextpatch.train.VqTrainer;
import org.nextpatch.util.NppException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code npp train-vq}: trains a small LlamaGen-architecture VQ tokenizer on a dataset that has none. */
@Command(name = "train-vq", mixinStandardHelpOptions = true,
        description = {"Train a VQ tokenizer of the LlamaGen architecture (reconstruction + codebook + commitment loss, "
                + "straight-through estimator) on an image folder or an IDX file. Writes OUT/vq.pt (upstream layout), "
                + "OUT/vq-config.json and OUT/reconstructions.png. Default configuration: the small demo tokenizer "
                + "(codebook 512 x 8, ch 32, ch_mult [1,2,2], z 64, 1 res block): 32 px -> 8x8 codes."})
public final class TrainVqCommand implements Callable<Integer> {

    @Option(names = "--data-path", required = true, paramLabel = "PATH",
            description = "Image folder (class sub-folders) or IDX image file (.gz accepted).")
    Path dataPath;

    @Option(names = "--vq-config", paramLabel = "FILE", description = "Tokenizer configuration JSON (default: the demo tokenizer).")
    Path vqConfig;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder.")
    Path out;

    @Option(names = "--image-size", defaultValue = "32", description = "Training crop side (default ${DEFAULT-VALUE}).")
    int imageSize;

    @Option(names = "--steps", defaultValue = "2000", description = "Optimizer steps (default ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--batch-size", defaultValue = "32", description = "Images per step (default ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--lr", defaultValue = "1e-3", description = "Adam learning rate (default ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--beta", defaultValue = "0.25", description = "Commitment loss weight (default ${DEFAULT-VALUE}).")
    double beta;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the initialisation and the batches (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--save-every", defaultValue = "500", description = "Steps between checkpoints (default ${DEFAULT-VALUE}; 0: end only).")
    int saveEvery;

    @Option(names = "--resume", description = "Continue from OUT/vq.pt when it exists (same settings, up to --steps in total).")
    boolean resume;

    @Option(names = "--limit", defaultValue = "0", description = "Use only the first N images (0: all).")
    int limit;

    @Option(names = "--device", defaultValue = "auto", paramLabel = "cpu|gpu|auto", description = "Where to train (default ${DEFAULT-VALUE}).")
    String device;

    @Override
    public Integer call() {
        Outputs.notAnInput(out.resolve("vq.pt"), "--out", "--data-path", dataPath);
        Outputs.writableDir(out, "--out");
        VqTrainer.Settings settings = new VqTrainer.Settings(steps, batchSize, lr, beta, imageSize, seed, saveEvery);
        CodeExtractor.Source source = IdxImages.looksLikeIdx(dataPath)
                ? IdxImages.read(dataPath, null, limit)
                : CodeExtractor.of(ImageFolder.scan(dataPath));
        if (limit > 0 && !IdxImages.looksLikeIdx(dataPath)) {
            throw new NppCommand.UsageException("--limit is only supported for IDX data");
        }
        Path ckpt = out.resolve("vq.pt");
        VqModel model;
        Map<?, ?> state = null;
        if (resume && Files.exists(ckpt)) {
            Object root = TorchCheckpoint.load(ckpt);
            state = root instanceof Map<?, ?> m ? m : null;
            VqConfig cfg = vqConfig != null ? VqConfig.fromJson(vqConfig) : VqModel.recordedConfig(root);
            model = VqModel.load(ckpt, cfg, VqOptions.device(device));
        } else {
            VqConfig cfg = vqConfig != null ? VqConfig.fromJson(vqConfig) : VqTrainer.demoConfig();
            model = VqModel.initialise(cfg, seed, VqOptions.device(device));
        }
        try (model) {
            if (imageSize % model.config().downsample() != 0) {
                throw new NppException("--image-size " + imageSize + " is not a multiple of the tokenizer's downsampling "
                        + model.config().downsample());
            }
            model.config().writeJson(out.resolve("vq-config.json"));
            VqTrainer.Result r = VqTrainer.train(model, source, settings, ckpt, state);
            VqTrainer.writeReconstructions(model, source, imageSize, 8, out.resolve("reconstructions.png"));
            int g = imageSize / model.config().downsample();
            System.out.printf(Locale.ROOT, "%d steps: reconstruction MSE %.4f -> %.4f (PSNR %.1f dB), codebook usage %.0f%%; "
                            + "%s (%dx%d codes per %d px image)%n", r.steps(), r.firstReconstruction(), r.lastReconstruction(),
                    10 * Math.log10(4.0 / r.lastReconstruction()), 100 * r.codebookUsage(), ckpt, g, g, imageSize);
        }
        return 0;
    }
}
