package org.nextpatch.demo;

import ai.djl.Device;
import ai.onnxruntime.OnnxTensor;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.data.FashionMnist;
import org.nextpatch.data.LabelledImages;
import org.nextpatch.model.VqModel;
import org.nextpatch.onnx.OnnxExport;
import org.nextpatch.onnx.OnnxSampler;
import org.nextpatch.onnx.WeightQuantization;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.tribuo.NppModel;
import org.nextpatch.util.AtomicFiles;
import org.nextpatch.util.NppException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Quality of the weight-only quantized ONNX exports of a finished demo ({@code results/demo}) against
 * its float32 export: the demo's model exported as float32, int8 and int4, each sampled with the demo's
 * labels, guidance and seed, decoded by the demo's tokenizer and scored by the demo's feature network
 * (FID against the same real images, class agreement), plus the logits error against float32
 * (teacher-forced on the float32 samples' tokens) and the agreement of greedy decoding.
 */
public final class QuantizeBench {
    private static final Logger LOG = LogManager.getLogger(QuantizeBench.class);

    /**
     * @param demoDir    a finished demo's folder (npp-model.tribuo, vq/vq.pt, feature-net.onnx)
     * @param out        output folder (the exports and table.md)
     * @param dataDir    Fashion-MNIST folder as the demo's --data, or null
     * @param seed       the demo's seed
     * @param samples    images per export for FID (the demo's --fid-samples)
     * @param cfgScale   guidance scale (the demo's)
     * @param references real test images the FID compares with (the demo's)
     * @param compared   images whose logits and greedy tokens are compared with float32
     */
    public record Settings(Path demoDir, Path out, Path dataDir, long seed, int samples, double cfgScale, int references,
                           int compared) {}

    /** One export's figures; errors are relative to the largest float32 logit magnitude. */
    public record Row(String precision, double maxLogitError, double meanLogitError, double argmaxAgreement,
                      double greedyTokenAgreement, double fid, double classAgreement, double sampleSeconds) {}

    private QuantizeBench() {}

    /** Runs the comparison; returns the markdown table (also written to {@code out/table.md}). */
    public static String run(Settings s) {
        Path modelFile = s.demoDir().resolve("npp-model.tribuo");
        Path vqCkpt = s.demoDir().resolve("vq").resolve("vq.pt");
        Path featureOnnx = s.demoDir().resolve("feature-net.onnx");
        for (Path p : List.of(modelFile, vqCkpt, featureOnnx)) {
            if (!Files.isRegularFile(p)) {
                throw new NppException("--demo " + s.demoDir() + ": no " + s.demoDir().relativize(p) + " (run ./npp demo first)");
            }
        }
        if (s.samples() < 10 || s.compared() < 1 || s.compared() > s.samples()) {
            throw new NppException("need --samples >= 10 and 1 <= --compared <= --samples");
        }
        NppModel model;
        try {
            model = (NppModel) NppModel.deserializeFromFile(modelFile);
        } catch (IOException | ClassCastException e) {
            throw new NppException(modelFile + ": not an NPP model file: " + e.getMessage(), e);
        }
        FashionMnistFiles files = FashionMnistFiles.locate(s.dataDir(), s.out().resolve("data"));
        LabelledImages test = FashionMnist.read(files.testImages(), files.testLabels());
        LabelledImages ref = test.range(0, Math.min(s.references(), test.n()));
        long[] labels = new long[s.samples()];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = i % DemoPipeline.CLASSES.size();
        }
        SamplingSettings sampling = new SamplingSettings(s.cfgScale(), -1, 1.0, 0, 1.0, false);
        List<Row> rows = new ArrayList<>();
        try (model; VqModel vq = VqModel.load(vqCkpt, null, Device.cpu());
             FeatureNetMetrics fm = new FeatureNetMetrics(featureOnnx)) {
            FeatureNetMetrics.Feats refF = fm.features("reference", ref.pixels(), ref.n(), ref.height(), ref.width(), 1);
            long[][] floatTokens = null;
            float[][] floatLogits = null;
            long[][] floatGreedy = null;
            for (WeightQuantization q : Arrays.asList(null, WeightQuantization.INT8, WeightQuantization.INT4)) {
                String name = q == null ? "float32" : q.label();
                Path dir = s.out().resolve("onnx-" + name);
                model.exportOnnxGraphs(dir, org.nextpatch.tribuo.OnnxGraphOptions.defaults().withQuantization(q));
                try (OnnxSampler sampler = OnnxSampler.open(dir, OnnxSampler.Options.cpu())) {
                    long t0 = System.nanoTime();
                    long[][] tokens = sampler.generate(labels, sampling, s.seed(), 0, 100);
                    double secs = (System.nanoTime() - t0) / 1e9;
                    if (floatTokens == null) {
                        floatTokens = Arrays.copyOf(tokens, s.compared());
                    }
                    float[][] logits = teacherForced(sampler, Arrays.copyOf(labels, s.compared()), floatTokens);
                    long[][] greedy = sampler.generate(Arrays.copyOf(labels, s.compared()), SamplingSettings.greedy(s.cfgScale()),
                            s.seed(), 0, 100);
                    if (floatLogits == null) {
                        floatLogits = logits;
                        floatGreedy = greedy;
                    }
                    Tensor px = DemoPipeline.decode(vq, tokens);
                    long[] sh = px.shape();
                    FeatureNetMetrics.Feats f = fm.features(name, px.toByteArray(), (int) sh[0], (int) sh[1], (int) sh[2], (int) sh[3]);
                    double[] err = errors(logits, floatLogits, sampler.config().vocabSize());
                    Row row = new Row(name, err[0], err[1], err[2], agreement(greedy, floatGreedy),
                            FeatureNetMetrics.fid(f, refF), FeatureNetMetrics.classAgreement(f, labels), secs);
                    LOG.info("{}", row);
                    rows.add(row);
                }
            }
        }
        String table = table(rows, s);
        AtomicFiles.writeString(s.out().resolve("table.md"), table);
        return table;
    }

    /** Logits [n][T * V] of each class then its tokens (the prefill, then one step-graph run). */
    private static float[][] teacherForced(OnnxSampler sampler, long[] classes, long[][] tokens) {
        float[][] out = new float[classes.length][];
        for (int i = 0; i < classes.length; i++) {
            List<OnnxTensor> cache = new ArrayList<>();
            try {
                float[] first = sampler.prefill(new long[]{classes[i]}, cache);
                int t = tokens[i].length;
                long[][] ids = {Arrays.copyOf(tokens[i], t - 1)};
                long[][] pos = new long[1][t - 1];
                for (int j = 0; j < t - 1; j++) {
                    pos[0][j] = j + 1;
                }
                float[] rest = sampler.step(ids, pos, cache);
                out[i] = new float[first.length + rest.length];
                System.arraycopy(first, 0, out[i], 0, first.length);
                System.arraycopy(rest, 0, out[i], first.length, rest.length);
            } finally {
                cache.forEach(OnnxTensor::close);
            }
        }
        return out;
    }

    /**
     * {max |a - b|, mean |a - b|} relative to max |b|, and the share of positions (rows of
     * {@code vocab} logits) whose largest logit is the same token.
     */
    static double[] errors(float[][] a, float[][] b, int vocab) {
        double maxAbs = 0, maxDiff = 0, sumDiff = 0;
        long n = 0, same = 0, positions = 0;
        for (int i = 0; i < a.length; i++) {
            for (int j = 0; j < a[i].length; j++) {
                double diff = Math.abs(a[i][j] - b[i][j]);
                maxAbs = Math.max(maxAbs, Math.abs(b[i][j]));
                maxDiff = Math.max(maxDiff, diff);
                sumDiff += diff;
                n++;
            }
            for (int row = 0; row < a[i].length; row += vocab) {
                same += argMax(a[i], row, vocab) == argMax(b[i], row, vocab) ? 1 : 0;
                positions++;
            }
        }
        return new double[]{maxDiff / maxAbs, sumDiff / n / maxAbs, (double) same / positions};
    }

    private static int argMax(float[] x, int from, int len) {
        int best = 0;
        for (int k = 1; k < len; k++) {
            if (x[from + k] > x[from + best]) {
                best = k;
            }
        }
        return best;
    }

    /** Share of equal tokens. */
    static double agreement(long[][] a, long[][] b) {
        long same = 0, n = 0;
        for (int i = 0; i < a.length; i++) {
            for (int j = 0; j < a[i].length; j++) {
                same += a[i][j] == b[i][j] ? 1 : 0;
                n++;
            }
        }
        return (double) same / n;
    }

    private static String table(List<Row> rows, Settings s) {
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "Demo model %s, %d guided samples (cfg %.1f, seed %d) against %d real images; "
                        + "logits and greedy tokens of the first %d images against float32.%n%n",
                s.demoDir(), s.samples(), s.cfgScale(), s.seed(), s.references(), s.compared()));
        b.append("| export | max logit error | mean logit error | same argmax | same greedy tokens | FID | FID vs float32 | class agreement | sampling s |\n");
        b.append("|---|---|---|---|---|---|---|---|---|\n");
        double fid0 = rows.get(0).fid();
        for (Row r : rows) {
            b.append(String.format(Locale.ROOT, "| %s | %.2e | %.2e | %.2f %% | %.2f %% | %.2f | %+.1f %% | %.1f %% | %.1f |%n",
                    r.precision(), r.maxLogitError(), r.meanLogitError(), 100 * r.argmaxAgreement(),
                    100 * r.greedyTokenAgreement(), r.fid(), 100 * (r.fid() / fid0 - 1), 100 * r.classAgreement(), r.sampleSeconds()));
        }
        return b.toString();
    }
}
