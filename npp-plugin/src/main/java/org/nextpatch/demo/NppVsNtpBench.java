package org.nextpatch.demo;

import ai.djl.Device;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;
import org.nextpatch.config.GptConfig;
import org.nextpatch.config.VqConfig;
import org.nextpatch.data.CodeDirectorySet;
import org.nextpatch.data.CodeExtractor;
import org.nextpatch.data.FashionMnist;
import org.nextpatch.data.IdxImages;
import org.nextpatch.data.LabelledImages;
import org.nextpatch.eval.FeatureNet;
import org.nextpatch.model.VqModel;
import org.nextpatch.onnx.OnnxExport;
import org.nextpatch.onnx.OnnxSampler;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.train.NppTrainingLoop;
import org.nextpatch.train.VqTrainer;
import org.nextpatch.train.TrainConfig;
import org.nextpatch.train.TrainingListener;
import org.nextpatch.train.TrainingResult;
import org.nextpatch.util.AtomicFiles;
import org.nextpatch.util.NppException;

import java.awt.Color;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The NPP-versus-next-token experiment ({@code npp bench npp-vs-ntp}) on Fashion-MNIST codes: the
 * same data, model, epochs, batch, learning-rate cycle and seed, trained as plain next-token
 * prediction and with NPP (level 2 rate 0.5, level 3 rate 0.5), over several seeds. For every run:
 * the training time (sum of the optimizer steps' wall times, and the process CPU time of the loop),
 * the final held-out next-token loss (the loop's held-out split, identical for all variants of a
 * seed), and the FID (feature network) of guided samples drawn through ONNX Runtime.
 * Writes {@code table.md}, {@code runs.csv} and {@code plot.png}.
 */
public final class NppVsNtpBench {
    private static final Logger LOG = LogManager.getLogger(NppVsNtpBench.class);

    /**
     * A training variant.
     *
     * @param name       label in the table
     * @param patchLevel {@code --patch-level} (1: plain next-token)
     * @param epochRate  {@code --epoch-rate}
     */
    public record Variant(String name, int patchLevel, double epochRate) {}

    /** The compared variants: next-token, NPP level 2 rate 0.5, NPP level 3 rate 0.5. */
    public static final List<Variant> VARIANTS = List.of(new Variant("next-token (NTP)", 1, 0.5),
            new Variant("NPP level 2, rate 0.5", 2, 0.5), new Variant("NPP level 3, rate 0.5", 3, 0.5));

    /**
     * Settings.
     *
     * @param out          output folder
     * @param dataDir      Fashion-MNIST folder or null (installed, else shipped test split)
     * @param vqCkpt       tokenizer to reuse (e.g. the demo's {@code vq/vq.pt}), or null to train one
     * @param featureModel feature network to reuse (e.g. the demo's), or null to train one
     * @param images       training images (10 % of them held out)
     * @param dim          GPT width
     * @param layers       GPT blocks
     * @param heads        GPT heads
     * @param epochs       epochs of every run
     * @param batch        global batch
     * @param lr           peak learning rate (per-stage cycle for every variant)
     * @param seeds        number of seeds
     * @param firstSeed    the first seed
     * @param samples      guided samples per run for FID (class-balanced)
     * @param cfgScale     guidance scale
     * @param references   real test images the FID compares with
     * @param vqSteps      tokenizer training steps when no tokenizer is given
     */
    public record Settings(Path out, Path dataDir, Path vqCkpt, Path featureModel, int images, int dim, int layers,
                           int heads, int epochs, int batch, double lr, int seeds, long firstSeed, int samples,
                           double cfgScale, int references, int vqSteps) {
        /** Checks the values. */
        public Settings {
            if (seeds < 1 || epochs < 2 || samples < 20 || images < 20 || batch < 1 || references < 2 || vqSteps < 1) {
                throw new NppException("bench npp-vs-ntp: need --seeds >= 1, --epochs >= 2, --samples >= 20, --images >= 20, --vq-steps >= 1");
            }
        }
    }

    /** One run's results. */
    public record Run(Variant variant, long seed, long steps, double stepSeconds, double cpuSeconds, double heldOutLoss,
                      double fid, double classAgreement) {}

    private NppVsNtpBench() {}

    /** Runs the experiment; returns the markdown table. */
    public static String run(Settings s) {
        mkdirs(s.out());
        FashionMnistFiles files = FashionMnistFiles.locate(s.dataDir(), s.out().resolve("data"));
        Path imagesFile = files.hasTrain() ? files.trainImages() : files.testImages();
        Path labelsFile = files.hasTrain() ? files.trainLabels() : files.testLabels();
        IdxImages source = IdxImages.read(imagesFile, labelsFile, s.images());
        LabelledImages test = FashionMnist.read(files.testImages(), files.testLabels());

        Path vqCkpt = s.vqCkpt() != null ? s.vqCkpt() : trainTokenizer(s, source);
        Path featureOnnx = s.featureModel() != null ? s.featureModel() : trainFeatureNet(s, files, test);
        List<Run> runs = new ArrayList<>();
        try (VqModel vq = VqModel.load(vqCkpt, null, Device.cpu());
             FeatureNetMetrics fm = new FeatureNetMetrics(featureOnnx)) {
            Path codeDir = s.out().resolve("codes");
            CodeExtractor.run(vq, source, new CodeExtractor.Settings(DemoPipeline.IMAGE_SIZE, false, 1.1, codeDir, 64));
            CodeDirectorySet data = CodeDirectorySet.open(codeDir, DemoPipeline.IMAGE_SIZE);
            int grid = vq.config().gridSide(DemoPipeline.IMAGE_SIZE);
            GptConfig gpt = new GptConfig(s.dim(), s.layers(), s.heads(), vq.config().codebookSize(),
                    DemoPipeline.CLASSES.size(), grid * grid, 1, 32, null, 1e-5, 10000, 0.1, 0.0, 0.1, 0.1, 0.1);
            LabelledImages ref = test.range(0, Math.min(s.references(), test.n()));
            FeatureNetMetrics.Feats refF = fm.features("reference", ref.pixels(), ref.n(), ref.height(), ref.width(), 1);
            long[] labels = new long[s.samples()];
            for (int i = 0; i < labels.length; i++) {
                labels[i] = i % DemoPipeline.CLASSES.size();
            }
            // Seeds outermost: a burst of load on a shared machine then hits all variants of a seed alike.
            for (int k = 0; k < s.seeds(); k++) {
                long seed = s.firstSeed() + k;
                for (Variant v : VARIANTS) {
                    runs.add(one(s, v, seed, gpt, data, vq, fm, refF, labels));
                    writeOutputs(s, runs, gpt);
                }
            }
        }
        return writeOutputs(s, runs, null);
    }

    private static Run one(Settings s, Variant v, long seed, GptConfig gpt, CodeDirectorySet data, VqModel vq,
                           FeatureNetMetrics fm, FeatureNetMetrics.Feats refF, long[] labels) {
        Path dir = s.out().resolve("runs").resolve(String.format(Locale.ROOT, "level%d-seed%d", v.patchLevel(), seed));
        TrainConfig cfg = TrainConfig.builder().gptConfig(gpt).imageSize(DemoPipeline.IMAGE_SIZE)
                .downsampleSize(vq.config().downsample()).epochs(s.epochs()).patchLevel(v.patchLevel())
                .epochRate(v.epochRate()).scheduler(true).lr(s.lr()).globalBatchSize(s.batch()).seed(seed)
                .heldOutFraction(0.1).ckptEvery(0).resultsDir(dir).build();
        LOG.info("bench run: {} seed {}", v.name(), seed);
        double c0 = StageClock.processCpuSeconds();
        TrainingResult r = NppTrainingLoop.train(cfg, data, null);
        double cpu = StageClock.processCpuSeconds() - c0;
        double stepSeconds = r.steps().stream().mapToDouble(TrainingListener.StepMetrics::seconds).sum();
        Path onnx = dir.resolve("onnx");
        OnnxExport.export(gpt, r.weights(), null, null, onnx, false, false, Map.of("bench", v.name() + " seed " + seed));
        long[][] tokens;
        try (OnnxSampler sampler = new OnnxSampler(onnx, gpt, OnnxSampler.Options.cpu())) {
            tokens = sampler.generate(labels, new SamplingSettings(s.cfgScale(), -1, 1.0, 0, 1.0, false), seed, 0, 100);
        }
        Tensor px = DemoPipeline.decode(vq, tokens);
        long[] sh = px.shape();
        FeatureNetMetrics.Feats f = fm.features("samples", px.toByteArray(), (int) sh[0], (int) sh[1], (int) sh[2], (int) sh[3]);
        if (seed == s.firstSeed()) {
            DemoPipeline.writeGrid(dir.resolve("samples.png"), px, labels, 8);
        }
        Run run = new Run(v, seed, r.stepsDone(), stepSeconds, cpu, r.finalHeldOutLoss(), FeatureNetMetrics.fid(f, refF),
                FeatureNetMetrics.classAgreement(f, labels));
        LOG.info(String.format(Locale.ROOT, "%s seed %d: %.1f s of steps, %.1f s CPU, held-out loss %.4f, FID %.2f",
                v.name(), seed, stepSeconds, cpu, run.heldOutLoss(), run.fid()));
        return run;
    }

    private static Path trainTokenizer(Settings s, IdxImages source) {
        Path dir = s.out().resolve("vq");
        Path ckpt = dir.resolve("vq.pt");
        VqConfig c = VqTrainer.demoConfig();
        try (VqModel vq = VqModel.initialise(c, s.firstSeed(), Device.cpu())) {
            mkdirs(dir);
            VqTrainer.train(vq, source, new VqTrainer.Settings(s.vqSteps(), 32, 2e-3, 0.25, DemoPipeline.IMAGE_SIZE, s.firstSeed(), 0),
                    ckpt, null);
        }
        return ckpt;
    }

    private static Path trainFeatureNet(Settings s, FashionMnistFiles files, LabelledImages test) {
        Path file = s.out().resolve("feature-net.onnx");
        LabelledImages train = files.hasTrain() ? FashionMnist.read(files.trainImages(), files.trainLabels()).range(0, 20000)
                : test.range(0, test.n() * 4 / 5);
        try (FeatureNet net = new FeatureNet(DemoPipeline.CLASSES.size(), s.firstSeed())) {
            net.train(train, 2, 128, 1e-3f, s.firstSeed());
            net.exportOnnx(file, DemoPipeline.CLASSES);
        }
        return file;
    }

    /** mean and sample standard deviation. */
    static double[] meanSd(double[] x) {
        double m = 0;
        for (double v : x) {
            m += v;
        }
        m /= x.length;
        double ss = 0;
        for (double v : x) {
            ss += (v - m) * (v - m);
        }
        return new double[]{m, x.length > 1 ? Math.sqrt(ss / (x.length - 1)) : Double.NaN};
    }

    private static String pm(double[] ms, String fmt) {
        return String.format(Locale.ROOT, fmt, ms[0]) + (Double.isNaN(ms[1]) ? "" : " ± " + String.format(Locale.ROOT, fmt, ms[1]));
    }

    /** Writes runs.csv, table.md and plot.png from the runs so far; returns the table. */
    private static String writeOutputs(Settings s, List<Run> runs, GptConfig gptOrNull) {
        StringBuilder csv = new StringBuilder("variant,patch_level,epoch_rate,seed,steps,step_seconds,cpu_seconds,held_out_loss,fid,class_agreement\n");
        for (Run r : runs) {
            csv.append(String.format(Locale.ROOT, "%s,%d,%.2f,%d,%d,%.3f,%.3f,%.5f,%.4f,%.4f%n", r.variant().name(),
                    r.variant().patchLevel(), r.variant().epochRate(), r.seed(), r.steps(), r.stepSeconds(), r.cpuSeconds(),
                    r.heldOutLoss(), r.fid(), r.classAgreement()));
        }
        AtomicFiles.writeString(s.out().resolve("runs.csv"), csv.toString());
        // time ratios per seed against that seed's next-token run
        Map<Long, Run> ntp = new LinkedHashMap<>();
        for (Run r : runs) {
            if (r.variant().patchLevel() == 1) {
                ntp.put(r.seed(), r);
            }
        }
        StringBuilder t = new StringBuilder();
        t.append("| variant | seeds | training time (s, sum of steps) | ratio to NTP | CPU time (s) | CPU ratio | "
                + "held-out next-token loss | FID (feature net) | samples of requested class |\n");
        t.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        XYChart chart = new XYChartBuilder().width(800).height(500)
                .title("NPP vs next-token on Fashion-MNIST codes (one point per seed)")
                .xAxisTitle("training time / next-token training time (same seed)").yAxisTitle("FID (feature network)").build();
        chart.getStyler().setChartBackgroundColor(Color.WHITE);
        chart.getStyler().setDefaultSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
        for (Variant v : VARIANTS) {
            List<Run> vr = runs.stream().filter(r -> r.variant().equals(v)).toList();
            if (vr.isEmpty()) {
                continue;
            }
            List<Double> ratio = new ArrayList<>();
            List<Double> cpuRatio = new ArrayList<>();
            List<Double> fidOfRatio = new ArrayList<>();
            for (Run r : vr) {
                Run base = ntp.get(r.seed());
                if (base != null) {
                    ratio.add(r.stepSeconds() / base.stepSeconds());
                    cpuRatio.add(r.cpuSeconds() / base.cpuSeconds());
                    fidOfRatio.add(r.fid());
                }
            }
            t.append(String.format(Locale.ROOT, "| %s | %d | %s | %s | %s | %s | %s | %s | %s |%n", v.name(), vr.size(),
                    pm(meanSd(vr.stream().mapToDouble(Run::stepSeconds).toArray()), "%.1f"),
                    ratio.isEmpty() ? "-" : pm(meanSd(ratio.stream().mapToDouble(Double::doubleValue).toArray()), "%.2f"),
                    pm(meanSd(vr.stream().mapToDouble(Run::cpuSeconds).toArray()), "%.1f"),
                    cpuRatio.isEmpty() ? "-" : pm(meanSd(cpuRatio.stream().mapToDouble(Double::doubleValue).toArray()), "%.2f"),
                    pm(meanSd(vr.stream().mapToDouble(Run::heldOutLoss).toArray()), "%.4f"),
                    pm(meanSd(vr.stream().mapToDouble(Run::fid).toArray()), "%.2f"),
                    pm(meanSd(vr.stream().mapToDouble(r -> 100 * r.classAgreement()).toArray()), "%.1f") + " %"));
            if (!ratio.isEmpty()) {
                XYSeries ser = chart.addSeries(v.name(), ratio.stream().mapToDouble(Double::doubleValue).toArray(),
                        fidOfRatio.stream().mapToDouble(Double::doubleValue).toArray());
                ser.setMarker(SeriesMarkers.CIRCLE);
            }
        }
        t.append(String.format(Locale.ROOT, "%nMean ± sample standard deviation over seeds %d..%d. Settings: %d training images "
                        + "(10 %% held out), GPT dim %d, %d layers, %d heads, %d epochs, batch %d, lr %.0e with the per-stage cycle "
                        + "(--scheduler) for every variant, %d guided samples per run (guidance %.1f) through ONNX Runtime, FID "
                        + "against %d real test images. Tokenizer: %s.%n", s.firstSeed(), s.firstSeed() + s.seeds() - 1, s.images(), s.dim(),
                s.layers(), s.heads(), s.epochs(), s.batch(), s.lr(), s.samples(), s.cfgScale(), s.references(),
                s.vqCkpt() != null ? "`" + s.vqCkpt() + "`" : "the demo architecture trained here for " + s.vqSteps() + " steps (batch 32)"));
        String table = t.toString();
        AtomicFiles.writeString(s.out().resolve("table.md"), table);
        if (!runs.isEmpty() && chart.getSeriesMap().size() > 0) {
            try {
                AtomicFiles.write(s.out().resolve("plot.png"), BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG));
            } catch (IOException e) {
                throw new NppException("cannot write " + s.out().resolve("plot.png") + ": " + e.getMessage(), e);
            }
        }
        return table;
    }

    private static void mkdirs(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new NppException("--out " + dir + ": cannot create the directory: " + e.getMessage(), e);
        }
    }
}
