package org.nextpatch.train;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.config.GptConfig;
import org.nextpatch.data.CodeSampler;
import org.nextpatch.data.CodeSet;
import org.nextpatch.io.PickleObject;
import org.nextpatch.io.StateDicts;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.model.Autograd;
import org.nextpatch.model.EngineSelfTest;
import org.nextpatch.model.EngineThreads;
import org.nextpatch.model.Gpt;
import org.nextpatch.npp.LrSchedule;
import org.nextpatch.npp.StageSchedule;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;
import org.nextpatch.util.Progress;
import org.nextpatch.util.RandomStreams;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * The NPP training loop (spec sections 5 and 9): epochs over a {@link CodeSet} at the stage's patch
 * size, the per-stage learning-rate cycle, AdamW with decay on 2-D+ parameters, global-norm clipping,
 * gradient accumulation, optional EMA, class/token/residual/FFN dropout, an optional held-out split
 * scored with the next-token loss after every epoch, checkpoints in the upstream container layout
 * ({@code model}, {@code optimizer}, {@code steps}, {@code args}, and {@code ema}) every N steps and
 * at the end, and exact resume.
 * <p>
 * Reproducibility: data order and augmentation are pure functions of (seed, epoch, position) (see
 * {@link CodeSampler}), and torch's generator (dropouts, class dropout) is re-seeded from (seed,
 * step) before every optimizer step, so on CPU a run resumed from a checkpoint computes the same
 * losses as the uninterrupted run (at the same thread count: checkpoints record it, and a resume at
 * another count warns).
 * <p>
 * Several loops may run at once in one JVM, on any threads: they take turns for each step's seeding,
 * forward and backward passes ({@link Autograd#recording()}; DJL allows one gradient collector per
 * process and the generator is the process's) and run the rest in parallel, and each ends with the
 * weights it gives alone.
 * <p>
 * Several GPUs ({@code --device gpu:0,1}): the model is replicated, every micro-batch is split across
 * the replicas, gradients are summed onto the first device, the optimizer updates the first copy and
 * the weights are copied back to the others. No NCCL: this helps when compute dominates.
 * <pre>{@code
 * TrainingResult r = NppTrainingLoop.train(config, codeSet, listener);
 * }</pre>
 */
public final class NppTrainingLoop {
    static {
        org.nextpatch.model.EngineThreads.apply(); // before this class can start the DJL engine
    }

    private static final Logger LOG = LogManager.getLogger(NppTrainingLoop.class);
    /** The checkpoint {@code args} entry recording libtorch's intra-op thread count. */
    static final String THREADS_ARG = "intra_op_threads";

    private final TrainConfig cfg;
    private final CodeSet data;
    private final TrainingListener listener;
    private int numClasses;

    private NppTrainingLoop(TrainConfig cfg, CodeSet data, TrainingListener listener) {
        this.cfg = Objects.requireNonNull(cfg);
        this.data = Objects.requireNonNull(data);
        this.listener = listener == null ? new TrainingListener() {} : listener;
    }

    /**
     * Trains a model as configured and returns its final weights.
     *
     * @param cfg      the run's settings ({@code resume} set: continue that checkpoint)
     * @param data     the training codes (the held-out split is taken from them)
     * @param listener optional callbacks (may be null)
     */
    public static TrainingResult train(TrainConfig cfg, CodeSet data, TrainingListener listener) {
        // Grad mode off on this thread for the run (optimizer, EMA, held-out loss); only the
        // forward and backward passes record, under Autograd's process-wide lock.
        try (Autograd.Scope noGrad = Autograd.noGrad()) {
            return new NppTrainingLoop(cfg, data, listener).run();
        }
    }

    /** The devices of a {@code --device} setting, checked against what the engine sees. */
    public static List<Device> devices(TrainConfig.DeviceSpec spec) {
        if (!spec.gpu()) {
            List<Device> cpus = new ArrayList<>();
            for (int i = 0; i < Math.max(1, spec.indices().size()); i++) {
                cpus.add(Device.cpu());
            }
            return cpus;
        }
        int count = Engine.getInstance().getGpuCount();
        List<Device> out = new ArrayList<>();
        for (int i : spec.indices()) {
            if (i >= count) {
                throw new NppException("--device gpu:" + i + ": only " + count + " GPU(s) visible to the PyTorch engine"
                        + (count == 0 ? " (is this the CPU build? use the cuda profile)" : ""));
            }
            out.add(Device.gpu(i));
        }
        return out;
    }

    private TrainingResult run() {
        long t0 = System.nanoTime();
        GptConfig model = cfg.model();
        numClasses = model.numClasses();
        if (data.tokens() != model.blockSize()) {
            throw new NppException("codes have " + data.tokens() + " tokens per image but the model expects block_size "
                    + model.blockSize() + " (--image-size " + cfg.imageSize() + ")");
        }
        StageSchedule stages = cfg.stages();
        CodeSampler sampler = new CodeSampler(data, cfg.seed(), cfg.heldOutFraction());
        int batch = cfg.globalBatchSize();
        int stepsPerEpoch = sampler.trainSize() / batch; // drop_last, as upstream's DataLoader
        if (stepsPerEpoch == 0) {
            throw new NppException("--global-batch-size " + batch + " is larger than the " + sampler.trainSize()
                    + " training images: an epoch would have no step");
        }
        LrSchedule lrs = cfg.lrSchedule(stepsPerEpoch);
        long total = lrs.totalSteps();
        long limit = cfg.maxSteps() > 0 ? Math.min(total, cfg.maxSteps()) : total;
        List<Device> devices = devices(cfg.deviceSpec());
        LOG.info("training {} ({} parameters) on {}: {} epochs x {} steps, batch {}, stages {} ending at epochs {}, data {}",
                cfg.gptModel() != null ? cfg.gptModel() : "custom GPT", model.parameterCount(), devices, cfg.epochs(),
                stepsPerEpoch, batch, java.util.Arrays.toString(stages.tokensPerPatch()),
                java.util.Arrays.toString(stages.stageEndEpochs()), data.describe());

        EngineSelfTest.requireCorrectGradients("train");
        Object resumed = cfg.resume() == null ? null : TorchCheckpoint.load(cfg.resume());
        Map<String, Tensor> initial = resumed != null ? StateDicts.select(resumed, false)
                : org.nextpatch.model.GptWeights.init(model, cfg.seed());
        String source = cfg.resume() != null ? cfg.resume().toString() : "initialisation";
        TrainingReport report = new TrainingReport(cfg.resultsDir());
        List<Gpt> replicas = new ArrayList<>();
        try {
            for (Device d : devices) {
                replicas.add(new Gpt(model, initial, d, source));
            }
            Gpt main = replicas.get(0);
            Map<String, NDArray> params = main.parameters();
            try (AdamW opt = new AdamW(params, cfg.beta1(), cfg.beta2(), cfg.eps(), cfg.weightDecay());
                 Ema ema = cfg.ema() ? new Ema(params, cfg.emaDecay()) : null) {
                long start = 0;
                if (resumed != null) {
                    start = restore((Map<?, ?>) resumed, opt, ema, total);
                    report.loadEarlier(start);
                    LOG.info("resumed from {} at step {}", cfg.resume(), start);
                }
                report.writeCsv(); // a fresh file, or the earlier rows without any after the resume point
                Path last = null;
                List<TrainingListener.EpochMetrics> epochs = new ArrayList<>();
                int tokensPerImage = data.tokens();
                double epochLossSum = 0;
                int epochLossCount = 0;
                long epochStartNanos = System.nanoTime();
                double rateEma = 0;
                // Progress counts sequence positions, not steps: a p = 1 step costs about (G/p)^2 times a
                // coarse one, so a step count would give an ETA far too short during the coarse stages.
                long totalPositions = 0;
                for (long st = start; st < limit; st++) {
                    totalPositions += (long) batch * positions(stages, (int) (st / stepsPerEpoch), model.gridSide());
                }
                try (Progress progress = Progress.start("train", totalPositions, "pos");
                     BatchLoader loader = new BatchLoader(sampler, stepsPerEpoch, batch, tokensPerImage)) {
                    // The next step's batch is read on a background thread while this one computes;
                    // a batch is a pure function of (seed, step), so prefetching changes nothing.
                    java.util.concurrent.Future<BatchLoader.Batch> next = loader.submit(start);
                    DivergenceGuard guard = new DivergenceGuard("train", start);
                    for (long step = start; step < limit; step++) {
                        long ts = System.nanoTime();
                        int epoch = (int) (step / stepsPerEpoch);
                        int inEpoch = (int) (step % stepsPerEpoch);
                        BatchLoader.Batch b = BatchLoader.await(next);
                        if (step + 1 < limit) {
                            next = loader.submit(step + 1);
                        }
                        int side = stages.patchSideAt(epoch);
                        double lr = lrs.lr(step);
                        double loss;
                        // One training at a time records (DJL allows one gradient collector per process,
                        // and torch's generator is the process's); the rest of the step runs in parallel.
                        try (Autograd.Scope recording = Autograd.recording()) {
                            // Dropout masks depend only on (seed, step): resumed runs replay them exactly.
                            Engine.getInstance().setRandomSeed((int) RandomStreams.streamSeed(cfg.seed(), RandomStreams.Purpose.ENGINE_STEP, step));
                            loss = forwardBackward(replicas, b, side);
                        }
                        if (replicas.size() > 1) {
                            sumGradientsOntoFirst(replicas);
                        }
                        double norm = Gradients.clipGlobalNorm(params.values(), cfg.maxGradNorm());
                        guard.check(step, loss, norm, params);
                        opt.step(lr);
                        main.zeroGradients();
                        if (ema != null) {
                            ema.update();
                        }
                        if (replicas.size() > 1) {
                            copyWeightsToReplicas(replicas);
                        }
                        double secs = (System.nanoTime() - ts) / 1e9;
                        double rate = (double) batch * tokensPerImage / Math.max(secs, 1e-9);
                        rateEma = rateEma == 0 ? rate : 0.9 * rateEma + 0.1 * rate;
                        TrainingListener.StepMetrics sm = new TrainingListener.StepMetrics(step, epoch, side, loss, lr,
                                norm, secs, rate);
                        report.add(sm);
                        listener.onStep(sm);
                        epochLossSum += loss;
                        epochLossCount++;
                        progress.status(String.format(Locale.ROOT, "step %d/%d ep %d p=%d loss %.4f lr %.2e %.0f tok/s",
                                step + 1, limit, epoch, side, loss, lr, rateEma));
                        progress.step((long) batch * positions(stages, epoch, model.gridSide()));
                        boolean epochEnd = inEpoch == stepsPerEpoch - 1;
                        if (epochEnd) {
                            double held = heldOutLoss(main, sampler);
                            report.addHeldOut(step, held);
                            TrainingListener.EpochMetrics em = new TrainingListener.EpochMetrics(epoch, step, side,
                                    epochLossSum / epochLossCount, held, (System.nanoTime() - epochStartNanos) / 1e9);
                            epochs.add(em);
                            listener.onEpoch(em);
                            LOG.info(String.format(Locale.ROOT, "epoch %d (p=%d): train loss %.4f%s, %.1f s", epoch, side,
                                    em.trainLoss(), Double.isNaN(held) ? "" : String.format(Locale.ROOT, ", held-out loss %.4f", held),
                                    em.seconds()));
                            epochLossSum = 0;
                            epochLossCount = 0;
                            epochStartNanos = System.nanoTime();
                            report.appendCsv();
                        }
                        long done = step + 1;
                        if (cfg.ckptEvery() > 0 && done % cfg.ckptEvery() == 0 && done < limit) {
                            report.appendCsv(); // a run resumed from this checkpoint finds every earlier row
                            last = checkpoint(main, opt, ema, done, lrs.lr(Math.min(done, total - 1)));
                        }
                    }
                }
                long done = Math.max(limit, start);
                last = checkpoint(main, opt, ema, done, lrs.lr(Math.min(done, total - 1)));
                report.appendCsv();
                report.writePng(title(stages), stageStarts(stages, stepsPerEpoch, limit));
                double seconds = (System.nanoTime() - t0) / 1e9;
                LOG.info(String.format(Locale.ROOT, "trained %d steps in %.1f s; checkpoint %s; metrics %s", done - start,
                        seconds, last, report.csvFile()));
                return new TrainingResult(model, main.stateDict(), ema != null ? ema.stateDict() : null, report.steps(),
                        List.copyOf(epochs), last, done, seconds);
            }
        } finally {
            for (Gpt g : replicas) {
                g.close();
            }
        }
    }

    /** One optimizer step's forward and backward passes over its micro-batches; returns the mean loss. */
    private double forwardBackward(List<Gpt> replicas, BatchLoader.Batch b, int side) {
        int accum = cfg.gradientAccumulationSteps();
        int mb = cfg.microBatchSize();
        int t = data.tokens();
        NDArray lossSum = null;
        Gpt main = replicas.get(0);
        for (int j = 0; j < b.labels().length; j++) {
            checkLabel(b.images()[j], (int) b.labels()[j]);
        }
        try (NDManager sm = main.manager().newSubManager()) {
            for (int a = 0; a < accum; a++) {
                int base = a * mb; // first row of this micro-batch in the global batch
                int n = replicas.size();
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    for (int r = 0; r < n; r++) {
                        // rows [lo, hi) of the micro-batch go to replica r
                        int lo = (int) ((long) mb * r / n);
                        int hi = (int) ((long) mb * (r + 1) / n);
                        if (hi == lo) {
                            continue;
                        }
                        Gpt g = replicas.get(r);
                        NDManager m = r == 0 ? sm : g.manager().newSubManager();
                        try {
                            NDArray tok = m.create(java.util.Arrays.copyOfRange(b.tokens(), (base + lo) * t, (base + hi) * t),
                                    new Shape(hi - lo, t));
                            NDArray lab = m.create(java.util.Arrays.copyOfRange(b.labels(), base + lo, base + hi), new Shape(hi - lo));
                            NDArray loss = g.loss(tok, lab, side, true);
                            // Each replica's mean covers (hi-lo)/mb of the micro-batch; each micro-batch 1/accum of the step.
                            float weight = (float) ((double) (hi - lo) / mb / accum);
                            // The factor is an NDArray of m, alive until after backward: DJL's mul(Number)
                            // frees its scalar at once, while autograd still reads it (CPU use-after-free).
                            gc.backward(weight == 1f ? loss : loss.mul(m.create(weight)));
                            NDArray contrib = loss.stopGradient().mul(weight);
                            if (r != 0) {
                                contrib = contrib.toDevice(main.device(), true);
                                contrib.attach(sm);
                            }
                            lossSum = lossSum == null ? contrib : lossSum.add(contrib);
                        } finally {
                            if (r != 0) {
                                m.close();
                            }
                        }
                    }
                }
            }
            return lossSum.getFloat();
        }
    }

    /** Labels are checked as they are read (a code directory's labels are files read on access). */
    private void checkLabel(int image, int label) {
        int classes = numClasses;
        if (label < 0 || label >= classes) {
            throw new NppException("image " + image + " of " + data.describe() + " has label " + label + " outside 0.."
                    + (classes - 1) + " (--num-classes / num_classes)");
        }
    }

    /** Adds every replica's gradients onto the first replica's (DJL's multi-device pattern, no NCCL). */
    private static void sumGradientsOntoFirst(List<Gpt> replicas) {
        Map<String, NDArray> first = replicas.get(0).parameters();
        Device d0 = replicas.get(0).device();
        for (int r = 1; r < replicas.size(); r++) {
            for (Map.Entry<String, NDArray> e : replicas.get(r).parameters().entrySet()) {
                try (NDArray g = e.getValue().getGradient(); NDArray moved = g.toDevice(d0, true);
                     NDArray g0 = first.get(e.getKey()).getGradient()) {
                    g0.addi(moved);
                }
            }
        }
    }

    /** Sequence positions of one image in epoch {@code epoch}: {@code (G/p)^2} (the class position is offset by the dropped last patch). */
    private static long positions(StageSchedule stages, int epoch, int gridSide) {
        long gp = gridSide / stages.patchSideAt(epoch);
        return gp * gp;
    }

    /** Copies the first replica's updated weights into the others, device to device, and zeroes their gradients. */
    private static void copyWeightsToReplicas(List<Gpt> replicas) {
        Map<String, NDArray> first = replicas.get(0).parameters();
        ai.djl.ndarray.index.NDIndex all = new ai.djl.ndarray.index.NDIndex("...");
        for (int r = 1; r < replicas.size(); r++) {
            Gpt g = replicas.get(r);
            g.zeroGradients();
            for (Map.Entry<String, NDArray> e : g.parameters().entrySet()) {
                try (NDArray src = first.get(e.getKey()).toDevice(g.device(), true)) {
                    e.getValue().set(all, src);
                }
            }
        }
    }

    /** Next-token (p = 1) loss without dropout over every augmentation of the held-out images; NaN without a split. */
    private double heldOutLoss(Gpt model, CodeSampler sampler) {
        int[] images = sampler.heldOutImages();
        if (images.length == 0) {
            return Double.NaN;
        }
        int t = data.tokens();
        List<int[]> rows = new ArrayList<>();
        for (int img : images) {
            for (int a = 0; a < data.augmentations(img); a++) {
                rows.add(new int[]{img, a});
            }
        }
        int mb = Math.max(1, cfg.microBatchSize());
        double sum = 0;
        for (int s = 0; s < rows.size(); s += mb) {
            int n = Math.min(mb, rows.size() - s);
            long[] tok = new long[n * t];
            long[] lab = new long[n];
            for (int j = 0; j < n; j++) {
                int[] r = rows.get(s + j);
                data.read(r[0], r[1], false, tok, j * t);
                lab[j] = data.label(r[0]);
                checkLabel(r[0], (int) lab[j]);
            }
            try (NDManager m = model.manager().newSubManager()) {
                NDArray per = model.perExampleLoss(m.create(tok, new Shape(n, t)), m.create(lab, new Shape(n)), 1);
                sum += per.sum().getFloat();
            }
        }
        return sum / rows.size();
    }

    /** Restores weights (already loaded), optimizer state and EMA; checks the settings match; returns the step. */
    private long restore(Map<?, ?> root, AdamW opt, Ema ema, long total) {
        String src = cfg.resume().toString();
        Object steps = root.get("steps");
        if (!(steps instanceof Number n)) {
            throw new NppException(src + ": checkpoint has no 'steps' entry; it cannot be resumed");
        }
        long start = n.longValue();
        if (start > total) {
            throw new NppException(src + ": checkpoint is at step " + start + " but the run has only " + total + " steps");
        }
        Object args = root.get("args");
        if (args instanceof Map<?, ?> saved) {
            Map<String, Object> now = cfg.toArgs();
            for (String k : TrainConfig.resumeInvariantArgs()) {
                if (saved.containsKey(k) && !Objects.equals(saved.get(k), now.get(k))) {
                    throw new NppException(src + ": was trained with " + k + " = " + saved.get(k) + ", this run has "
                            + now.get(k) + "; resume with the same settings");
                }
            }
            if (saved.get(THREADS_ARG) instanceof Number t) {
                EngineThreads.mismatch(t.longValue(), src + " was written");
            }
        } else if (args instanceof PickleObject) {
            LOG.warn("{}: upstream argparse args; the schedule settings of this run are used as given", src);
        }
        Object o = root.get("optimizer");
        if (o instanceof Map<?, ?> om) {
            opt.loadStateDict(om, src);
        } else {
            LOG.warn("{}: no optimizer state; AdamW moments restart from zero", src);
        }
        if (ema != null) {
            if (root.get("ema") instanceof Map<?, ?>) {
                ema.load(StateDicts.select(root, true), src);
            } else {
                LOG.warn("{}: no EMA weights; the average restarts from the current weights", src);
            }
        }
        return start;
    }

    private Path checkpoint(Gpt model, AdamW opt, Ema ema, long steps, double lr) {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("model", model.stateDict());
        if (ema != null) {
            root.put("ema", ema.stateDict());
        }
        root.put("optimizer", opt.stateDict(lr));
        root.put("steps", steps);
        Map<String, Object> args = new LinkedHashMap<>(cfg.toArgs());
        args.put(THREADS_ARG, (long) EngineThreads.current()); // a resume at another count says so
        root.put("args", args);
        Path file = cfg.resultsDir().resolve("checkpoints").resolve(String.format(Locale.ROOT, "%07d.pt", steps));
        TorchCheckpoint.save(file, root);
        LOG.info("saved checkpoint {}", file);
        listener.onCheckpoint(file, steps);
        return file;
    }

    private String title(StageSchedule s) {
        return String.format(Locale.ROOT, "NPP training: patch level %d, epoch rate %s, %d epochs", s.patchLevel(),
                s.epochRate(), s.epochs());
    }

    private static List<Long> stageStarts(StageSchedule s, int stepsPerEpoch, long limit) {
        List<Long> out = new ArrayList<>();
        int prevSide = -1;
        for (int e = 0; e < s.epochs(); e++) {
            int side = s.patchSideAt(e);
            long st = (long) e * stepsPerEpoch;
            if (prevSide != -1 && side != prevSide && st < limit) {
                out.add(st);
            }
            prevSide = side;
        }
        return out;
    }
}
