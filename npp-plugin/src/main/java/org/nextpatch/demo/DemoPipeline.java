package org.nextpatch.demo;

import ai.djl.Device;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.config.VqConfig;
import org.nextpatch.data.CodeExtractor;
import org.nextpatch.data.FashionMnist;
import org.nextpatch.data.IdxImages;
import org.nextpatch.data.LabelledImages;
import org.nextpatch.data.Resample;
import org.nextpatch.eval.FeatureNet;
import org.nextpatch.io.Images;
import org.nextpatch.model.VqModel;
import org.nextpatch.onnx.OnnxSampler;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Npz;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.train.VqTrainer;
import org.nextpatch.tribuo.IdxCodeSource;
import org.nextpatch.tribuo.NppModel;
import org.nextpatch.tribuo.NppTrainer;
import org.nextpatch.tribuo.TokenGrid;
import org.nextpatch.util.AtomicFiles;
import org.nextpatch.util.NppException;
import org.tribuo.MutableDataset;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The whole pipeline on Fashion-MNIST, as {@code npp demo} runs it: train a small VQ tokenizer
 * ({@link VqTrainer}), extract codes through the Tribuo data source ({@link IdxCodeSource}, which runs
 * {@link CodeExtractor}), train a small GPT with NPP through the Tribuo trainer ({@link NppTrainer},
 * which runs the project's training loop), export the GPT and VQ-decoder graphs with their manifest
 * ({@link NppModel#exportOnnxGraphs}), sample every class through ONNX Runtime with guidance
 * ({@link OnnxSampler}), decode with the VQ decoder, train (or reuse) the feature network
 * ({@link FeatureNet}) and measure FID ({@link FeatureNetMetrics}). Every stage is one call into the
 * services above; this class only wires them and writes {@code report.md} ({@link DemoReport}).
 */
public final class DemoPipeline {
    private static final Logger LOG = LogManager.getLogger(DemoPipeline.class);

    /** Image side fed to the tokenizer: Fashion-MNIST's 28 px are resized to 32 (ADM crop), 8x8 codes. */
    public static final int IMAGE_SIZE = 32;
    /** Class names by label. */
    public static final List<String> CLASSES = FashionMnist.CLASS_NAMES;

    /**
     * Everything the demo can be told.
     *
     * @param resultsDir         output folder
     * @param dataDir            Fashion-MNIST IDX folder, or null (installed dataset, else the shipped test split)
     * @param quick              whether this is the smoke-test size (recorded in the report)
     * @param seed               seed of every stage
     * @param trainImages        images the tokenizer and the GPT train on
     * @param vqSteps            tokenizer optimizer steps
     * @param vqBatch            tokenizer batch size
     * @param vqLr               tokenizer learning rate
     * @param gptDim             GPT width
     * @param gptLayers          GPT blocks
     * @param gptHeads           GPT heads
     * @param gptEpochs          GPT epochs (NPP level 2, rate 0.5: the first half at patch side 2)
     * @param gptBatch           GPT global batch
     * @param gptLr              GPT peak learning rate (per-stage cycle, --scheduler)
     * @param cfgScale           classifier-free guidance scale of the samples
     * @param samplesPerClass    images per class in samples.png
     * @param fidSamples         generated images for FID (class-balanced)
     * @param referenceImages    real test images the FID compares with
     * @param featureEpochs      feature network epochs
     * @param featureTrainImages feature network training images
     * @param featureModel       an existing feature network ONNX file to reuse, or null to train one
     * @param onnxBatch          images per ONNX Runtime run
     */
    public record Settings(Path resultsDir, Path dataDir, boolean quick, long seed,
                           int trainImages, int vqSteps, int vqBatch, double vqLr,
                           int gptDim, int gptLayers, int gptHeads, int gptEpochs, int gptBatch, double gptLr,
                           double cfgScale, int samplesPerClass, int fidSamples, int referenceImages,
                           int featureEpochs, int featureTrainImages, Path featureModel, int onnxBatch) {

        /** Checks the values. */
        public Settings {
            require(trainImages >= 10, "--train-images must be at least 10");
            require(vqSteps >= 1 && vqBatch >= 1, "--vq-steps and the tokenizer batch must be positive");
            require(gptEpochs >= 2, "--gpt-epochs must be at least 2 (NPP level 2, rate 0.5 needs two stages)");
            require(gptBatch >= 1 && gptBatch <= trainImages, "--gpt-batch must be between 1 and --train-images");
            require(samplesPerClass >= 1, "--samples-per-class must be positive");
            require(fidSamples >= 10 * samplesPerClass, "--fid-samples must be at least 10 x --samples-per-class");
            require(referenceImages >= 2, "--reference-images must be at least 2");
            require(cfgScale >= 1.0, "--cfg-scale must be at least 1");
        }

        private static void require(boolean ok, String msg) {
            if (!ok) {
                throw new NppException(msg);
            }
        }

        /** The default run: sized to finish within 10 minutes on a 2-core machine (see docs/benchmarks.md). */
        public static Settings full(Path resultsDir, Path dataDir, long seed) {
            return new Settings(resultsDir, dataDir, false, seed, 4000, 200, 32, 2e-3,
                    128, 3, 4, 12, 32, 1e-3, 2.0, 10, 1000, 2000,
                    3, 30000, null, 100);
        }

        /** The smoke-test size ({@code --quick}): about a minute, pictures not yet recognisable. */
        public static Settings quick(Path resultsDir, Path dataDir, long seed) {
            return new Settings(resultsDir, dataDir, true, seed, 400, 30, 16, 2e-3,
                    64, 2, 2, 2, 50, 1e-3, 2.0, 4, 100, 300,
                    1, 3000, null, 100);
        }
    }

    /**
     * What the demo measured.
     *
     * @param fid                FID of the generated images vs the real reference images (feature network)
     * @param fidRealBaseline    FID of as many other real images vs the reference (the floor at this sample size)
     * @param fidVqReconstruction FID of the tokenizer's reconstructions of real images (the tokenizer's ceiling)
     * @param classAgreement     share of samples the feature network assigns to the class they were generated for
     * @param featureAccuracy    the feature network's accuracy on its held-out real images
     */
    public record Metrics(double fid, double fidRealBaseline, double fidVqReconstruction, double classAgreement,
                          double featureAccuracy) {}

    private final Settings s;
    private final StageClock clock = new StageClock();

    private DemoPipeline(Settings s) {
        this.s = s;
    }

    /** Runs the demo and returns the path of report.md. */
    public static Path run(Settings s) {
        return new DemoPipeline(s).run();
    }

    private Path run() {
        Path out = s.resultsDir();
        mkdirs(out);
        DemoReport report = new DemoReport(s);

        // 1. data
        FashionMnistFiles files = clock.time("data", () -> FashionMnistFiles.locate(s.dataDir(), out.resolve("data")));
        Path trainImagesFile = files.hasTrain() ? files.trainImages() : files.testImages();
        Path trainLabelsFile = files.hasTrain() ? files.trainLabels() : files.testLabels();
        LabelledImages test = FashionMnist.read(files.testImages(), files.testLabels());
        LabelledImages trainSplit = files.hasTrain() ? FashionMnist.read(files.trainImages(), files.trainLabels()) : test;
        int nTrain = Math.min(s.trainImages(), trainSplit.n());
        report.data(files, nTrain, trainImagesFile);

        // 2. tokenizer
        Path vqDir = out.resolve("vq");
        Path vqCkpt = vqDir.resolve("vq.pt");
        IdxImages trainSource = IdxImages.read(trainImagesFile, trainLabelsFile, nTrain);
        VqConfig vqConfig = VqTrainer.demoConfig();
        try (VqModel vq = VqModel.initialise(vqConfig, s.seed(), Device.cpu())) {
            VqTrainer.Result vr = clock.time("train VQ tokenizer", () -> {
                mkdirs(vqDir);
                vqConfig.writeJson(vqDir.resolve("vq-config.json"));
                VqTrainer.Result r = VqTrainer.train(vq, trainSource,
                        new VqTrainer.Settings(s.vqSteps(), s.vqBatch(), s.vqLr(), 0.25, IMAGE_SIZE, s.seed(), 0), vqCkpt, null);
                VqTrainer.writeReconstructions(vq, trainSource, IMAGE_SIZE, 8, vqDir.resolve("reconstructions.png"));
                return r;
            });
            report.vq(vqConfig, vr, vq.parameterCount());

            // 3. codes, as a Tribuo data source (provenance: file hashes, code directory hash)
            Path codeDir = out.resolve("codes");
            MutableDataset<TokenGrid> dataset = clock.time("extract codes", () ->
                    new MutableDataset<>(new IdxCodeSource(trainImagesFile, trainLabelsFile, vqCkpt, codeDir, IMAGE_SIZE, nTrain)));

            // 4. GPT with NPP through the Tribuo trainer
            Path gptDir = out.resolve("gpt");
            NppTrainer trainer = NppTrainer.customSize(s.gptDim(), s.gptLayers(), s.gptHeads())
                    .setMultipleOf(32).setVocabSize(vqConfig.codebookSize()).setNumClasses(CLASSES.size())
                    .setDownsampleSize(vqConfig.downsample())
                    .setEpochs(s.gptEpochs()).setPatchLevel(2).setEpochRate(0.5).setScheduler(true)
                    .setLr(s.gptLr()).setGlobalBatchSize(s.gptBatch()).setResultsDir(gptDir).setSeed(s.seed());
            try (NppModel model = clock.time("train GPT (NPP level 2, rate 0.5)", () -> trainer.train(dataset))) {
                Path modelFile = out.resolve("npp-model.tribuo");
                try {
                    model.serializeToFile(modelFile);
                } catch (IOException e) {
                    throw new NppException("cannot write " + modelFile + ": " + e.getMessage(), e);
                }
                copy(gptDir.resolve("loss.png"), out.resolve("loss.png"));
                report.gpt(trainer, model, dataset.size(), gptDir, modelFile);

                // 5. ONNX graphs (the GPT's carry the Tribuo provenance as metadata)
                Path onnxDir = out.resolve("onnx");
                List<Path> graphs = clock.time("export ONNX", () -> {
                    List<Path> written = model.exportOnnxGraphs(onnxDir, org.nextpatch.tribuo.OnnxGraphOptions.defaults()
                            .withDecoder(vqConfig, vq.stateDict()).withOverwrite(true)); // its own folder of an earlier run
                    org.nextpatch.onnx.OnnxExport.recordClassNames(onnxDir, CLASSES); // npp serve shows them
                    return written;
                });
                report.onnx(graphs);

                // 6. sampling through ONNX Runtime, every class, with guidance
                long[] labels = new long[s.fidSamples()];
                for (int i = 0; i < labels.length; i++) {
                    labels[i] = i % CLASSES.size();
                }
                SamplingSettings sampling = new SamplingSettings(s.cfgScale(), -1, 1.0, 0, 1.0, false);
                long[][] tokens = clock.time("sample (ONNX Runtime, " + labels.length + " images)", () -> {
                    try (OnnxSampler sampler = OnnxSampler.open(onnxDir, OnnxSampler.Options.cpu())) {
                        return sampler.generate(labels, sampling, s.seed(), 0, s.onnxBatch());
                    }
                });
                report.sampling(sampling, labels.length);

                // 7. decode and write the pictures
                Tensor samples = clock.time("decode (VQ decoder)", () -> {
                    Tensor px = decode(vq, tokens);
                    Npz.write(out.resolve("samples.npz"), Map.of(Npz.SAMPLES, px));
                    writeGrid(out.resolve("samples.png"), px, labels, s.samplesPerClass());
                    return px;
                });

                // 8. the feature network: trained here (accuracy on held-out real images) or reused
                LabelledImages featTrain;
                LabelledImages featTest;
                if (files.hasTrain()) {
                    featTrain = trainSplit.range(0, Math.min(s.featureTrainImages(), trainSplit.n()));
                    featTest = test;
                } else {
                    // Only the test split: the network learns on its first 80 % and is scored on the rest.
                    int cut = test.n() * 4 / 5;
                    featTrain = test.range(0, Math.min(cut, s.featureTrainImages()));
                    featTest = test.range(cut, test.n());
                }
                Path featureOnnx = s.featureModel() != null ? s.featureModel() : out.resolve("feature-net.onnx");
                if (s.featureModel() == null) {
                    clock.run("train feature network", () -> {
                        try (FeatureNet net = new FeatureNet(CLASSES.size(), s.seed())) {
                            net.train(featTrain, s.featureEpochs(), 128, 1e-3f, s.seed());
                            net.exportOnnx(featureOnnx, CLASSES);
                        }
                    });
                }

                // 9. metrics
                Metrics m = clock.time("evaluate (feature network, ONNX Runtime)", () ->
                        evaluate(featureOnnx, samples, labels, test, trainSplit, files.hasTrain(), featTest, vq));
                report.metrics(m, featureOnnx, s.featureModel() != null, featTrain.n(), featTest.n(),
                        Math.min(s.referenceImages(), test.n()));
                report.provenance(model);
            }
        }
        report.timings(clock);
        Path md = out.resolve("report.md");
        AtomicFiles.writeString(md, report.render());
        LOG.info("demo report: {}", md);
        return md;
    }

    /** Decodes tokens [N, T] to uint8 NHWC images with the tokenizer's decoder, in batches. */
    static Tensor decode(VqModel vq, long[][] tokens) {
        int n = tokens.length;
        int t = tokens[0].length;
        byte[] all = null;
        int per = 0;
        long[] shape = null;
        int batch = 100;
        for (int i = 0; i < n; i += batch) {
            int b = Math.min(batch, n - i);
            long[] flat = new long[b * t];
            for (int j = 0; j < b; j++) {
                System.arraycopy(tokens[i + j], 0, flat, j * t, t);
            }
            Tensor px = Images.toUint8Nhwc(vq.decode(Tensor.ofLongs(new long[]{b, t}, flat)));
            byte[] bytes = px.toByteArray();
            if (all == null) {
                per = bytes.length / b;
                shape = px.shape().clone();
                shape[0] = n;
                all = new byte[n * per];
            }
            System.arraycopy(bytes, 0, all, i * per, bytes.length);
        }
        return Tensor.ofBytes(DType.UINT8, shape, all);
    }

    /** samples.png: the first {@code perClass} images of every class, one row per class, labelled. */
    static void writeGrid(Path file, Tensor nhwc, long[] labels, int perClass) {
        long[] s = nhwc.shape();
        int per = (int) (s[1] * s[2] * s[3]);
        byte[] px = nhwc.toByteArray();
        int[] count = new int[CLASSES.size()];
        List<Integer> keep = new ArrayList<>();
        for (int i = 0; i < labels.length; i++) {
            if (count[(int) labels[i]]++ < perClass) {
                keep.add(i);
            }
        }
        byte[] sub = new byte[keep.size() * per];
        long[] subLabels = new long[keep.size()];
        for (int k = 0; k < keep.size(); k++) {
            System.arraycopy(px, keep.get(k) * per, sub, k * per, per);
            subLabels[k] = labels[keep.get(k)];
        }
        Images.writeGrid(file, Tensor.ofBytes(DType.UINT8, new long[]{keep.size(), s[1], s[2], s[3]}, sub), subLabels, CLASSES);
    }

    private Metrics evaluate(Path featureOnnx, Tensor samples, long[] labels, LabelledImages test,
                             LabelledImages trainSplit, boolean hasTrain, LabelledImages featTest, VqModel vq) {
        int nRef = Math.min(s.referenceImages(), test.n());
        int nGen = labels.length;
        try (FeatureNetMetrics fm = new FeatureNetMetrics(featureOnnx)) {
            LabelledImages ref = test.range(0, nRef);
            FeatureNetMetrics.Feats refF = grey(fm, "reference", ref);
            long[] sh = samples.shape();
            FeatureNetMetrics.Feats genF = fm.features("samples", samples.toByteArray(), nGen, (int) sh[1], (int) sh[2], (int) sh[3]);
            // Another real set of the same size as the samples: FID depends on the sample size, so this
            // is the value a perfect generator would get here.
            LabelledImages other = hasTrain ? trainSplit.range(trainSplit.n() - Math.min(nGen, trainSplit.n()), trainSplit.n())
                    : test.range(nRef, Math.min(test.n(), nRef + nGen));
            double baseline = other.n() >= 2 ? FeatureNetMetrics.fid(grey(fm, "other real images", other), refF) : Double.NaN;
            // The tokenizer's own ceiling: its reconstructions of real images (no GPT involved).
            LabelledImages recSrc = other.n() >= 2 ? other : ref;
            Tensor rec = reconstruct(vq, recSrc);
            long[] rs = rec.shape();
            double vqFid = FeatureNetMetrics.fid(fm.features("VQ reconstructions", rec.toByteArray(), (int) rs[0],
                    (int) rs[1], (int) rs[2], (int) rs[3]), refF);
            double fid = FeatureNetMetrics.fid(genF, refF);
            double agreement = FeatureNetMetrics.classAgreement(genF, labels);
            FeatureNetMetrics.Feats heldF = grey(fm, "feature-net test images", featTest);
            long[] heldLabels = Arrays.stream(featTest.labels()).asLongStream().toArray();
            double accuracy = FeatureNetMetrics.classAgreement(heldF, heldLabels);
            return new Metrics(fid, baseline, vqFid, agreement, accuracy);
        }
    }

    private static FeatureNetMetrics.Feats grey(FeatureNetMetrics fm, String name, LabelledImages img) {
        return fm.features(name, img.pixels(), img.n(), img.height(), img.width(), 1);
    }

    /** Encode-decode round trip of real images through the tokenizer, as the codes were made (ADM crop to 32). */
    private static Tensor reconstruct(VqModel vq, LabelledImages img) {
        int n = img.n();
        int side = IMAGE_SIZE;
        int plane = 3 * side * side;
        List<long[]> codes = new ArrayList<>();
        int batch = 100;
        for (int i = 0; i < n; i += batch) {
            int b = Math.min(batch, n - i);
            float[] x = new float[b * plane];
            for (int j = 0; j < b; j++) {
                CodeExtractor.toChw(Resample.admCenterCrop(rgb(img, i + j), side), x, j * plane);
            }
            long[] c = vq.encode(Tensor.ofFloats(new long[]{b, 3, side, side}, x)).toLongArray();
            int t = c.length / b;
            for (int j = 0; j < b; j++) {
                codes.add(Arrays.copyOfRange(c, j * t, (j + 1) * t));
            }
        }
        return decode(vq, codes.toArray(new long[0][]));
    }

    private static Images.Rgb rgb(LabelledImages img, int i) {
        int hw = img.height() * img.width();
        int[] px = new int[hw];
        for (int p = 0; p < hw; p++) {
            int v = img.pixels()[i * hw + p] & 0xFF;
            px[p] = v << 16 | v << 8 | v;
        }
        return new Images.Rgb(img.width(), img.height(), px);
    }

    private static void mkdirs(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new NppException("--results-dir " + dir + ": cannot create the directory: " + e.getMessage(), e);
        }
    }

    private static void copy(Path from, Path to) {
        if (!Files.isRegularFile(from)) {
            LOG.warn("{} was not written; {} is missing", from, to);
            return;
        }
        try {
            AtomicFiles.write(to, Files.readAllBytes(from));
        } catch (IOException e) {
            throw new NppException("cannot copy " + from + " to " + to + ": " + e.getMessage(), e);
        }
    }

    /** Files under a directory (for the report). */
    static List<Path> listFiles(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> st = Files.walk(dir)) {
            return st.filter(Files::isRegularFile).sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }
}
