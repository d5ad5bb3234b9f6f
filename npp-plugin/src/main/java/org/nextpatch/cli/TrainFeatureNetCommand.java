package org.nextpatch.cli;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.data.FashionMnist;
import org.nextpatch.data.LabelledImages;
import org.nextpatch.eval.FeatureNet;
import org.nextpatch.eval.FeatureStats;
import org.nextpatch.eval.Features;
import org.nextpatch.eval.Frechet;
import org.nextpatch.eval.ImageBatch;
import org.nextpatch.eval.OnnxFeatureModel;
import org.nextpatch.eval.OnnxFeatureModel.Kind;
import org.nextpatch.eval.PyFloat;
import org.nextpatch.util.AtomicFiles;
import org.nextpatch.util.NppException;
import org.nextpatch.util.RandomStreams;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * {@code npp train-feature-net}: trains the small Fashion-MNIST classifier ({@link FeatureNet}) in
 * DJL, reports its test accuracy, exports it as the ONNX feature model {@code npp evaluate} uses,
 * checks the export against DJL, and measures the FID between the two halves of the real test
 * split next to the FID of real images against noise, so a reader can judge the scale of FIDs
 * measured with this network.
 */
@Command(name = "train-feature-net", mixinStandardHelpOptions = true,
        description = {"Train the small CNN feature network on Fashion-MNIST (DJL, CPU), report its test accuracy, "
                + "and export it to ONNX as the feature model of 'npp evaluate' (outputs pool, spatial, logits).",
                "Input of the exported model: uint8 [N, H, W, C] images; channels are averaged to grey and the image "
                        + "resized bilinearly to 28x28 inside the graph."})
public final class TrainFeatureNetCommand implements Callable<Integer> {
    private static final Logger LOG = LogManager.getLogger(TrainFeatureNetCommand.class);

    /** Images of the shipped test split used for training when no training split is installed. */
    static final int SHIPPED_TRAIN = 8000;

    @Option(names = "--data", paramLabel = "DIR",
            description = "Directory with the Fashion-MNIST IDX files. Default: " + FashionMnist.SYSTEM_DIR
                    + " when installed (apt-get install dataset-fashion-mnist), else the test split shipped with npp.")
    Path data;

    @Option(names = "--out", paramLabel = "FILE.onnx", description = "Where to write the feature model (default ${DEFAULT-VALUE}).")
    Path out = EvaluateCommand.DEFAULT_FEATURE_MODEL;

    @Option(names = "--epochs", defaultValue = "0",
            description = "Passes over the training images (default: 2 over the 60,000-image training split, "
                    + "30 over the 8,000 shipped images when there is no training split).")
    int epochs;

    @Option(names = "--augment", negatable = true, paramLabel = "BOOL",
            description = "Mirror and shift training images at random (default: on when only the 8,000 shipped "
                    + "images are available, where it gains about a point of accuracy; off for the 60,000-image split).")
    Boolean augment;

    @Option(names = "--batch-size", defaultValue = "128", description = "Training batch size (default ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--lr", defaultValue = "0.002", description = "Adam learning rate (default ${DEFAULT-VALUE}).")
    float lr;

    @Option(names = "--train-limit", defaultValue = "0", paramLabel = "N",
            description = "Train on at most N images (0: all; for quick runs).")
    int trainLimit;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of initialisation and shuffling (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--check-images", defaultValue = "0", paramLabel = "N",
            description = "Images of the test split used for the FID check (0: all; halves of N/2 each).")
    int checkImages;

    @Option(names = "--min-accuracy", defaultValue = "-1",
            description = "Fail (exit 1) when the test accuracy is below this (default: 0.88 when trained on the "
                    + "training split, 0.87 when only the 8,000 shipped images were available; 0 disables).")
    double minAccuracy;

    @Override
    public Integer call() {
        if (epochs < 0 || batchSize < 1 || lr <= 0 || trainLimit < 0 || checkImages < 0 || checkImages == 1) {
            throw new NppCommand.UsageException("--epochs, --batch-size and --lr must be positive, --train-limit >= 0, "
                    + "--check-images 0 or at least 2");
        }
        Outputs.writableFile(out, "--out");
        long t0 = System.nanoTime();
        FashionMnist.Dataset ds = FashionMnist.load(data);
        LabelledImages train;
        LabelledImages test;
        String split;
        if (ds.train().isPresent()) {
            train = ds.train().get();
            test = ds.test();
            split = String.format(Locale.ROOT, "trained on the training split (%d images), tested on the test split (%d images)",
                    train.n(), test.n());
        } else {
            train = ds.test().range(0, SHIPPED_TRAIN);
            test = ds.test().range(SHIPPED_TRAIN, ds.test().n());
            split = String.format(Locale.ROOT, "no training split installed: trained on the first %d images of the test split, "
                    + "tested on its last %d", train.n(), test.n());
        }
        if (epochs == 0) {
            epochs = ds.train().isPresent() ? 2 : 30;
        }
        if (augment == null) {
            augment = ds.train().isEmpty();
        }
        LOG.info("training the feature network: {} epochs, batch {}, lr {}, seed {}, augmentation {}", epochs, batchSize, lr,
                seed, augment ? "on" : "off");
        if (trainLimit > 0 && trainLimit < train.n()) {
            train = train.range(0, trainLimit);
            split += String.format(Locale.ROOT, " (training limited to %d images)", trainLimit);
        }
        System.out.println("data: " + ds.source());
        System.out.println("split: " + split);
        double accuracy;
        double loss;
        try (FeatureNet net = new FeatureNet(FashionMnist.CLASS_NAMES.size(), seed)) {
            long tt = System.nanoTime();
            loss = net.train(train, epochs, batchSize, lr, seed, augment);
            double trainSecs = (System.nanoTime() - tt) / 1e9;
            accuracy = net.accuracy(test);
            System.out.printf(Locale.ROOT, "training: %d epochs%s, %.1f s, final mean loss %.4f%n", epochs,
                    augment ? " (mirrored and shifted at random)" : "", trainSecs, loss);
            System.out.printf(Locale.ROOT, "test accuracy: %.4f (%d images)%n", accuracy, test.n());
            net.exportOnnx(out, FashionMnist.CLASS_NAMES);
            System.out.println("feature model: " + out + " (input uint8 [N, H, W, C]; outputs pool [N, 128], "
                    + "spatial [N, 7, 7, 32], logits [N, 10])");
            checkExport(net, test);
        }
        LabelledImages checkSet = checkImages > 0 && checkImages < ds.test().n() ? ds.test().range(0, checkImages) : ds.test();
        FidCheck fid = fidCheck(checkSet, out, seed);
        System.out.println("FID test half 1 vs test half 2: " + PyFloat.repr(fid.halves)
                + " (" + fid.half + " vs " + fid.half + " images)");
        System.out.println("FID test half 1 vs uniform noise: " + PyFloat.repr(fid.noise));
        String json = String.format(Locale.ROOT,
                "{\"data\": \"%s\", \"split\": \"%s\", \"epochs\": %d, \"augment\": %b, \"seed\": %d, \"test_accuracy\": %.6f, "
                        + "\"fid_test_halves\": %s, \"fid_test_vs_noise\": %s, \"seconds\": %.1f}%n",
                ds.source().replace("\"", "'"), split.replace("\"", "'"), epochs, augment, seed, accuracy,
                PyFloat.repr(fid.halves), PyFloat.repr(fid.noise), (System.nanoTime() - t0) / 1e9);
        AtomicFiles.writeString(out.resolveSibling(out.getFileName().toString().replaceFirst("\\.onnx$", "") + ".json"), json);
        if (minAccuracy < 0) {
            minAccuracy = ds.train().isPresent() ? 0.88 : 0.87;
        }
        if (minAccuracy > 0 && accuracy < minAccuracy) {
            throw new NppException(String.format(Locale.ROOT, "test accuracy %.4f is below --min-accuracy %.2f; "
                    + "train longer (--epochs) or on the full dataset", accuracy, minAccuracy));
        }
        return 0;
    }

    /** The ONNX export must give the DJL network's outputs (checked on real test images). */
    private void checkExport(FeatureNet net, LabelledImages test) {
        LabelledImages few = test.range(0, Math.min(64, test.n()));
        float[] djl = net.outputs(few, 64).logits().data();
        try (OnnxFeatureModel fm = new OnnxFeatureModel(out, names(), 0, false)) {
            float[] onnx = fm.run(few.pixels(), new long[]{few.n(), 28, 28, 1}, "test images").get(Kind.LOGITS).data();
            double maxDiff = 0;
            double scale = 1e-6;
            for (int i = 0; i < djl.length; i++) {
                maxDiff = Math.max(maxDiff, Math.abs(djl[i] - onnx[i]));
                scale = Math.max(scale, Math.abs(djl[i]));
            }
            System.out.printf(Locale.ROOT, "export check: max |DJL - ONNX| logit difference %.2e over %d images%n", maxDiff, few.n());
            if (maxDiff > 1e-3 * scale) {
                throw new NppException(out + ": the ONNX export differs from the DJL network (max logit difference " + maxDiff + ")");
            }
        }
    }

    static Map<Kind, String> names() {
        Map<Kind, String> m = new EnumMap<>(Kind.class);
        m.put(Kind.POOL, FeatureNet.POOL);
        m.put(Kind.SPATIAL, FeatureNet.SPATIAL);
        m.put(Kind.LOGITS, FeatureNet.LOGITS);
        return m;
    }

    record FidCheck(double halves, double noise, int half) {}

    /**
     * FID (pool features of the exported model, the path 'npp evaluate' takes) between the two
     * halves of the test split, and between its first half and as many uniform-noise images.
     */
    static FidCheck fidCheck(LabelledImages test, Path model, long seed) {
        int half = test.n() / 2;
        byte[] noise = new byte[half * 28 * 28];
        SplittableRandom rng = RandomStreams.stream(seed, RandomStreams.Purpose.FEATURE_NET_NOISE, 0);
        for (int i = 0; i < noise.length; i++) {
            noise[i] = (byte) rng.nextInt(256);
        }
        int size = test.height() * test.width();
        try (OnnxFeatureModel fm = new OnnxFeatureModel(model, Map.of(Kind.POOL, FeatureNet.POOL), 0, false)) {
            Features a = fm.extract(ImageBatch.of("test half 1", java.util.Arrays.copyOfRange(test.pixels(), 0, half * size),
                    half, test.height(), test.width(), 1), 500, "features test half 1").get(Kind.POOL);
            Features b = fm.extract(ImageBatch.of("test half 2", java.util.Arrays.copyOfRange(test.pixels(), half * size, 2 * half * size),
                    half, test.height(), test.width(), 1), 500, "features test half 2").get(Kind.POOL);
            Features n = fm.extract(ImageBatch.of("noise", noise, half, 28, 28, 1), 500, "features noise").get(Kind.POOL);
            FeatureStats sa = FeatureStats.of(a);
            return new FidCheck(Frechet.distance(FeatureStats.of(b), sa), Frechet.distance(FeatureStats.of(n), sa), half);
        }
    }
}
