package org.nextpatch.train;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import org.nextpatch.config.GptConfig;
import org.nextpatch.data.InMemoryCodeSet;
import org.nextpatch.model.Autograd;
import org.nextpatch.model.Gpt;
import org.nextpatch.model.GptWeights;
import org.nextpatch.npp.StageSchedule;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * The training benchmarks of {@code docs/benchmarks.md}, measured side by side in one process:
 * <ol>
 *   <li>time per optimizer step (forward, backward, clipping, AdamW) at several patch sides, in
 *       interleaved rounds so that machine load hits every side alike (median per side);</li>
 *   <li>wall time of a whole NPP schedule against plain next-token training for the same epochs, data,
 *       model and seed, through {@link NppTrainingLoop}.</li>
 * </ol>
 * Data are random tokens in memory: speed does not depend on their content.
 */
public final class TrainBench {
    static {
        org.nextpatch.model.EngineThreads.apply(); // before this class can start the DJL engine
    }

    private TrainBench() {}

    /**
     * Settings.
     *
     * @param model      the model to time
     * @param batch      images per step
     * @param sides      patch sides to time
     * @param rounds     timed rounds (each side does {@code stepsPerRound} steps per round)
     * @param stepsPerRound steps per side per round
     * @param epochs     epochs of the schedule comparison (0: skip it)
     * @param images     images in the schedule comparison's data set
     * @param patchLevel NPP patch level of the schedule comparison
     * @param epochRate  NPP epoch rate of the schedule comparison
     * @param device     device
     * @param repeats    runs of each schedule (alternating order; medians reported)
     * @param workDir    where the schedule runs write their results
     */
    public record Settings(GptConfig model, int batch, int[] sides, int rounds, int stepsPerRound, int epochs,
                           int images, int patchLevel, double epochRate, String device, int repeats, Path workDir) {}

    /** Median seconds per optimizer step for every patch side. */
    public record StepTimes(int[] sides, double[] seconds) {}

    /**
     * Schedule comparison.
     *
     * @param nppSeconds     wall time of the NPP run
     * @param ntpSeconds     wall time of the next-token run
     * @param nppStepSeconds sum of the NPP run's step times
     * @param ntpStepSeconds sum of the next-token run's step times
     * @param predicted      the sequence-length cost model's ratio ({@link StageSchedule#relativeCost})
     */
    public record ScheduleTimes(double nppSeconds, double ntpSeconds, double nppStepSeconds, double ntpStepSeconds,
                                double predicted) {}

    /** Times optimizer steps at every patch side, interleaved. */
    public static StepTimes stepTimes(Settings s) {
        GptConfig cfg = s.model();
        Device device = NppTrainingLoop.devices(TrainConfig.DeviceSpec.parse(s.device())).get(0);
        Engine.getInstance().setRandomSeed(0);
        int t = cfg.blockSize();
        SplittableRandom r = new SplittableRandom(1);
        long[] tokens = new long[s.batch() * t];
        long[] labels = new long[s.batch()];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = r.nextInt(cfg.vocabSize());
        }
        for (int i = 0; i < labels.length; i++) {
            labels[i] = r.nextInt(cfg.numClasses());
        }
        List<List<Double>> times = new ArrayList<>();
        for (int ignored : s.sides()) {
            times.add(new ArrayList<>());
        }
        try (Gpt gpt = new Gpt(cfg, GptWeights.init(cfg, 0), device, "bench");
             AdamW opt = new AdamW(gpt.parameters(), 0.9, 0.95, 1e-8, 0.05)) {
            for (int round = -1; round < s.rounds(); round++) { // round -1 warms up every side
                for (int k = 0; k < s.sides().length; k++) {
                    int n = round < 0 ? 2 : s.stepsPerRound();
                    for (int i = 0; i < n; i++) {
                        long t0 = System.nanoTime();
                        step(gpt, opt, tokens, labels, s.batch(), t, s.sides()[k]);
                        if (round >= 0) {
                            times.get(k).add((System.nanoTime() - t0) / 1e9);
                        }
                    }
                }
            }
        }
        double[] med = new double[s.sides().length];
        for (int k = 0; k < med.length; k++) {
            double[] v = times.get(k).stream().mapToDouble(Double::doubleValue).sorted().toArray();
            med[k] = v[v.length / 2];
        }
        return new StepTimes(s.sides().clone(), med);
    }

    private static void step(Gpt gpt, AdamW opt, long[] tokens, long[] labels, int b, int t, int side) {
        float loss;
        try (NDManager m = gpt.manager().newSubManager()) {
            NDArray tok = m.create(tokens, new Shape(b, t));
            NDArray lab = m.create(labels, new Shape(b));
            try (Autograd.Scope recording = Autograd.recording();
                 GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray l = gpt.loss(tok, lab, side, true);
                gc.backward(l);
                loss = l.getFloat(); // the loop syncs once per step for its log line too
            }
        }
        Gradients.clipGlobalNorm(gpt.parameters().values(), 1.0);
        opt.step(1e-4);
        gpt.zeroGradients();
        if (!Float.isFinite(loss)) {
            throw new IllegalStateException("benchmark loss is not finite");
        }
    }

    /** Runs the NPP schedule and plain next-token training on the same random codes. */
    public static ScheduleTimes schedules(Settings s) {
        int t = s.model().blockSize();
        SplittableRandom r = new SplittableRandom(2);
        long[][] grids = new long[s.images()][t];
        int[] labels = new int[s.images()];
        for (int i = 0; i < grids.length; i++) {
            labels[i] = r.nextInt(s.model().numClasses());
            for (int j = 0; j < t; j++) {
                grids[i][j] = r.nextInt(s.model().vocabSize());
            }
        }
        InMemoryCodeSet data = InMemoryCodeSet.of(grids, labels);
        TrainConfig.Builder base = TrainConfig.builder().gptConfig(s.model())
                .imageSize(s.model().gridSide() * 16).epochs(s.epochs()).epochRate(s.epochRate()).scheduler(true)
                .lr(1e-4).globalBatchSize(s.batch()).seed(0).device(s.device()).ckptEvery(0);
        // Alternate the order (next-token first on even repeats) so that drifting machine load and
        // warm-up hit both runs alike; report medians.
        int reps = Math.max(1, s.repeats());
        double[] nppWall = new double[reps];
        double[] ntpWall = new double[reps];
        double[] nppSteps = new double[reps];
        double[] ntpSteps = new double[reps];
        for (int rep = 0; rep < reps; rep++) {
            for (int k = 0; k < 2; k++) {
                boolean ntpTurn = (k == 0) == (rep % 2 == 0);
                String name = (ntpTurn ? "ntp-" : "npp-") + rep;
                TrainingResult res = NppTrainingLoop.train(base.patchLevel(ntpTurn ? 1 : s.patchLevel())
                        .resultsDir(s.workDir().resolve(name)).build(), data, null);
                (ntpTurn ? ntpWall : nppWall)[rep] = res.seconds();
                (ntpTurn ? ntpSteps : nppSteps)[rep] = sumSteps(res);
            }
        }
        double predicted = StageSchedule.of(s.epochs(), s.patchLevel(), s.epochRate()).relativeCost(s.model().gridSide());
        return new ScheduleTimes(median(nppWall), median(ntpWall), median(nppSteps), median(ntpSteps), predicted);
    }

    private static double median(double[] v) {
        double[] c = v.clone();
        java.util.Arrays.sort(c);
        return c.length % 2 == 1 ? c[c.length / 2] : (c[c.length / 2 - 1] + c[c.length / 2]) / 2;
    }

    private static double sumSteps(TrainingResult r) {
        return r.steps().stream().mapToDouble(TrainingListener.StepMetrics::seconds).sum();
    }

    /** The results as a markdown report. */
    public static String markdown(Settings s, StepTimes st, ScheduleTimes sc) {
        GptConfig m = s.model();
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "Model: d %d, %d layers, %d heads, vocab %d, %dx%d token grid (%d tokens), %,d parameters; batch %d; device %s; %d rounds x %d steps per side.%n%n",
                m.dim(), m.nLayer(), m.nHead(), m.vocabSize(), m.gridSide(), m.gridSide(), m.blockSize(), m.parameterCount(),
                s.batch(), s.device(), s.rounds(), s.stepsPerRound()));
        sb.append("| patch side p | sequence length | time per optimizer step (median) | relative to p = 1 | sequence-length ratio |\n");
        sb.append("|---|---|---|---|---|\n");
        double base = Double.NaN;
        for (int k = 0; k < st.sides().length; k++) {
            if (st.sides()[k] == 1) {
                base = st.seconds()[k];
            }
        }
        for (int k = 0; k < st.sides().length; k++) {
            int p = st.sides()[k];
            int gp = m.gridSide() / p;
            sb.append(String.format(Locale.ROOT, "| %d | %d | %.1f ms | %.3f | %.4f |%n", p, gp * gp,
                    st.seconds()[k] * 1e3, st.seconds()[k] / base, (double) gp * gp / m.blockSize()));
        }
        if (sc != null) {
            sb.append(String.format(Locale.ROOT, "%nSchedule, %d epochs of %d images (%d steps per run): NPP level %d rate %s vs plain next-token training; median of %d alternating runs each.%n%n",
                    s.epochs(), s.images(), s.epochs() * (s.images() / s.batch()), s.patchLevel(), s.epochRate(), Math.max(1, s.repeats())));
            sb.append("| run | wall time | sum of step times |\n|---|---|---|\n");
            sb.append(String.format(Locale.ROOT, "| next-token (p = 1 throughout) | %.1f s | %.1f s |%n", sc.ntpSeconds(), sc.ntpStepSeconds()));
            sb.append(String.format(Locale.ROOT, "| NPP | %.1f s | %.1f s |%n", sc.nppSeconds(), sc.nppStepSeconds()));
            sb.append(String.format(Locale.ROOT, "| ratio NPP / next-token | %.3f | %.3f |%n", sc.nppSeconds() / sc.ntpSeconds(),
                    sc.nppStepSeconds() / sc.ntpStepSeconds()));
            sb.append(String.format(Locale.ROOT, "%nSequence-length cost model (spec section 5): %.3f.%n", sc.predicted()));
        }
        return sb.toString();
    }

    /** A small config for the benchmark: {@code GptConfig} with the given sizes and upstream defaults. */
    public static GptConfig smallConfig(int dim, int layers, int heads, int vocab, int classes, int gridSide) {
        return new GptConfig(dim, layers, heads, vocab, classes, gridSide * gridSide, 1, 256, null, 1e-5, 10000,
                0.1, 0.0, 0.1, 0.1, 0.1);
    }
}
