package org.nextpatch.demo;

import com.oracle.labs.mlrg.olcut.provenance.ListProvenance;
import com.oracle.labs.mlrg.olcut.provenance.MapProvenance;
import com.oracle.labs.mlrg.olcut.provenance.ObjectProvenance;
import com.oracle.labs.mlrg.olcut.provenance.PrimitiveProvenance;
import com.oracle.labs.mlrg.olcut.provenance.Provenance;
import com.oracle.labs.mlrg.olcut.util.Pair;
import org.nextpatch.config.GptConfig;
import org.nextpatch.config.VqConfig;
import org.nextpatch.train.VqTrainer;
import org.nextpatch.npp.StageSchedule;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.tribuo.NppModel;
import org.nextpatch.tribuo.NppTrainer;
import org.nextpatch.util.AtomicFiles;
import org.tribuo.provenance.ModelProvenance;

import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Collects what the demo did and renders {@code report.md}. */
final class DemoReport {
    private final DemoPipeline.Settings s;
    private final StringBuilder data = new StringBuilder();
    private final StringBuilder vq = new StringBuilder();
    private final StringBuilder gpt = new StringBuilder();
    private final StringBuilder onnx = new StringBuilder();
    private final StringBuilder sampling = new StringBuilder();
    private final StringBuilder metrics = new StringBuilder();
    private final StringBuilder provenance = new StringBuilder();
    private final StringBuilder timings = new StringBuilder();
    private final String started = OffsetDateTime.now(ZoneOffset.UTC).format(DateTimeFormatter.ISO_OFFSET_DATE_TIME);

    DemoReport(DemoPipeline.Settings s) {
        this.s = s;
    }

    private Path rel(Path p) {
        Path base = s.resultsDir().toAbsolutePath().normalize();
        Path a = p.toAbsolutePath().normalize();
        return a.startsWith(base) ? base.relativize(a) : a;
    }

    void data(FashionMnistFiles files, int nTrain, Path trainImages) {
        data.append("- Source: ").append(files.source()).append('\n');
        data.append(f("- Training images (tokenizer and GPT): the first %,d of `%s`%n", nTrain, trainImages));
        data.append("- Evaluation: real images of `").append(files.testImages()).append("`")
                .append(files.hasTrain() ? " (test split, never trained on)\n"
                        : " (the only split available, so the generator has seen these images: the FID is in-sample)\n");
    }

    void vq(VqConfig c, VqTrainer.Result r, long params) {
        vq.append(f("- Architecture: LlamaGen VQ, codebook %d x %d, ch %d, ch_mult %s, z %d, %d res block(s): %d parameters, "
                        + "%dx%d images -> %dx%d codes%n", c.codebookSize(), c.codebookEmbedDim(), c.ch(), c.chMult(), c.zChannels(),
                c.numResBlocks(), params, DemoPipeline.IMAGE_SIZE, DemoPipeline.IMAGE_SIZE,
                c.gridSide(DemoPipeline.IMAGE_SIZE), c.gridSide(DemoPipeline.IMAGE_SIZE)));
        vq.append(f("- Training: %d steps, batch %d, lr %.0e, commitment beta 0.25%n", r.steps(), s.vqBatch(), s.vqLr()));
        vq.append(f("- Reconstruction MSE (pixels in [-1, 1]) %.4f -> %.4f (PSNR %.1f dB); codebook usage in the last window %.0f%%%n",
                r.firstReconstruction(), r.lastReconstruction(), 10 * Math.log10(4.0 / r.lastReconstruction()),
                100 * r.codebookUsage()));
        vq.append("- Checkpoint `vq/vq.pt` (upstream layout), `vq/vq-config.json`, reconstructions `vq/reconstructions.png`"
                + " (top: input, bottom: round trip)\n");
    }

    void gpt(NppTrainer trainer, NppModel model, int examples, Path gptDir, Path modelFile) {
        GptConfig c = model.getGptConfig();
        StageSchedule st = StageSchedule.of(s.gptEpochs(), 2, 0.5);
        Map<String, ?> inst = model.getProvenance().getInstanceProvenance().getMap();
        gpt.append(f("- Model: LlamaGen GPT, dim %d, %d layers, %d heads, FFN %d, vocabulary %d, %d classes (+ null class), "
                        + "%d tokens: %,d parameters%n", c.dim(), c.nLayer(), c.nHead(), c.ffnHidden(), c.vocabSize(),
                c.numClasses(), c.blockSize(), c.parameterCount()));
        gpt.append(f("- NPP: --patch-level 2 --epoch-rate 0.5 --scheduler, %d epochs: tokens per patch %s, stages end at epochs %s%n",
                s.gptEpochs(), Arrays.toString(st.tokensPerPatch()), Arrays.toString(st.stageEndEpochs())));
        gpt.append(f("- AdamW lr %.0e (per-stage warm-up 1 epoch, decay over the last 20%%), batch %d, %d examples; "
                + "upstream dropouts (0.1)%n", s.gptLr(), s.gptBatch(), examples));
        gpt.append("- Trained through the Tribuo trainer: `").append(trainer).append("`\n");
        gpt.append("- Optimizer steps: ").append(inst.get("optimizer-steps")).append(", final training loss: ")
                .append(inst.get("final-train-loss")).append('\n');
        List<Path> ckpts = DemoPipeline.listFiles(gptDir.resolve("checkpoints"));
        gpt.append("- Checkpoint(s): ");
        for (Path p : ckpts) {
            gpt.append('`').append(rel(p)).append("` ");
        }
        gpt.append("(upstream layout: model, optimizer, steps, args; `torch.load`-able)\n");
        gpt.append("- Metrics per step: `").append(rel(gptDir.resolve("metrics.csv"))).append("`; curve `loss.png`\n");
        gpt.append("- Tribuo model file: `").append(rel(modelFile))
                .append("` (`Model.deserializeFromFile`; `./npp provenance ").append(modelFile).append("` prints its provenance)\n");
    }

    void onnx(List<Path> graphs) {
        for (Path g : graphs) {
            onnx.append("- `").append(rel(g)).append("`\n");
        }
    }

    void sampling(SamplingSettings st, int n) {
        sampling.append(f("- %d images (%d per class) from the ONNX `Loop` graph (OnnxSampler), guidance scale %.2f, "
                        + "temperature %.2f, top-k %d, top-p %.2f, seed %d%n", n, n / DemoPipeline.CLASSES.size(), st.cfgScale(),
                st.temperature(), st.topK(), st.topP(), s.seed()));
        sampling.append("- Decoded with the tokenizer's decoder; all images in `samples.npz` (`arr_0` uint8 [N, 32, 32, 3])\n");
    }

    void metrics(DemoPipeline.Metrics m, Path featureOnnx, boolean reused, int featTrain, int featTest, int nRef) {
        metrics.append("| metric | value |\n|---|---|\n");
        metrics.append(f("| FID, %d generated images vs %d real test images | %.2f |%n", s.fidSamples(), nRef, m.fid()));
        metrics.append(f("| FID, %d other real images vs the same reference (floor at this sample size) | %.2f |%n",
                s.fidSamples(), m.fidRealBaseline()));
        metrics.append(f("| FID, tokenizer reconstructions of those real images (the tokenizer's ceiling) | %.2f |%n",
                m.fidVqReconstruction()));
        metrics.append(f("| samples classified as their requested class by the feature network | %.1f %% |%n",
                100 * m.classAgreement()));
        metrics.append(f("| feature network accuracy on %d held-out real images | %.1f %% |%n", featTest, 100 * m.featureAccuracy()));
        metrics.append('\n');
        metrics.append("Feature network: `").append(rel(featureOnnx)).append("` ")
                .append(reused ? "(reused, given with --feature-model)" : f("(trained here on %d real images, %d epoch(s))",
                        featTrain, s.featureEpochs()))
                .append("; FID is the ADM evaluator's Frechet distance on its 128-d penultimate layer, not Inception: "
                        + "the numbers compare runs of this demo, not published ImageNet figures.\n");
    }

    void provenance(NppModel model) {
        ModelProvenance p = model.getProvenance();
        provenance.append(f("- Model class %s, trained %s, Tribuo %s, Java %s, %s %s%n", p.getClassName(),
                p.getTrainingTime(), p.getTribuoVersion(), p.getJavaVersion(), p.getOS(), p.getArch()));
        for (var e : p.getInstanceProvenance().getMap().entrySet()) {
            provenance.append("- run: ").append(e.getKey()).append(" = ").append(e.getValue()).append('\n');
        }
        flatten("dataset", p.getDatasetProvenance(), 0);
        provenance.append("- trainer: ").append(p.getTrainerProvenance().getClassName()).append(", settings:");
        for (Pair<String, Provenance> e : p.getTrainerProvenance()) {
            if (e.getB() instanceof PrimitiveProvenance<?> pp && !e.getA().equals("class-name")) {
                provenance.append(' ').append(e.getA()).append('=').append(pp.getValue());
            }
        }
        provenance.append('\n');
        Path json = s.resultsDir().resolve("provenance.json");
        AtomicFiles.writeString(json, org.nextpatch.tribuo.ModelFiles.provenanceJson(model, false));
        provenance.append("- Full provenance: `provenance.json` (the same as `./npp provenance npp-model.tribuo`)\n");
    }

    /** Primitive values of a provenance tree (hashes, counts, paths), one line each. */
    private void flatten(String path, Provenance p, int depth) {
        if (p instanceof PrimitiveProvenance<?> pp) {
            String v = String.valueOf(pp.getValue());
            if (!v.isEmpty() && v.length() < 200) {
                provenance.append("- ").append(path).append(" = ").append(v).append('\n');
            }
        } else if (p instanceof ObjectProvenance op && depth < 3) {
            for (Pair<String, Provenance> e : op) {
                flatten(path + "." + e.getA(), e.getB(), depth + 1);
            }
        } else if (p instanceof MapProvenance<?> mp && depth < 3) {
            for (var e : mp.getMap().entrySet()) {
                flatten(path + "." + e.getKey(), e.getValue(), depth + 1);
            }
        } else if (p instanceof ListProvenance<?> lp && depth < 3 && lp.getList().size() <= 4) {
            int i = 0;
            for (Provenance x : lp.getList()) {
                flatten(path + "[" + i++ + "]", x, depth + 1);
            }
        }
    }

    void timings(StageClock clock) {
        timings.append("| stage | wall time (s) | CPU time (s) |\n|---|---:|---:|\n");
        for (StageClock.Stage st : clock.stages()) {
            timings.append(f("| %s | %.1f | %.1f |%n", st.name(), st.wallSeconds(), st.cpuSeconds()));
        }
        timings.append(f("| **total** | **%.1f** | **%.1f** |%n", clock.totalWall(), clock.totalCpu()));
        timings.append(f("%nMachine: %d CPU core(s) visible to the JVM, load average %.1f at the end, %d libtorch intra-op "
                        + "thread(s) (the same seed gives bit-identical results only at the same count; NPP_THREADS sets it). "
                        + "CPU time counts all threads "
                        + "of the process (native ones too); on a machine shared with other work the wall time is longer than "
                        + "on an idle one, where it is roughly CPU time / usable cores.%n",
                Runtime.getRuntime().availableProcessors(),
                java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage(),
                org.nextpatch.model.EngineThreads.current()));
    }

    String render() {
        StringBuilder md = new StringBuilder();
        md.append("# npp demo report\n\n");
        md.append(f("Run started %s (UTC); %s run, seed %d. Everything below was produced by this run.%n%n", started,
                s.quick() ? "**quick smoke-test** (`--quick`: tiny sizes, pictures not expected to be recognisable)" : "full demo",
                s.seed()));
        md.append("What ran: Fashion-MNIST -> VQ tokenizer -> codes -> GPT trained with Next Patch Prediction -> ONNX export -> "
                + "guided sampling of every class in ONNX Runtime -> VQ decoder -> feature network -> FID.\n\n");
        md.append("![samples](samples.png)\n\n");
        md.append("## Metrics\n\n").append(metrics).append('\n');
        md.append("## Timings\n\n").append(timings).append('\n');
        md.append("## Data\n\n").append(data).append('\n');
        md.append("## Tokenizer\n\n").append(vq).append('\n');
        md.append("## GPT with NPP\n\n").append(gpt).append("\n![loss](loss.png)\n\n");
        md.append("## ONNX graphs\n\n").append(onnx).append('\n');
        md.append("## Sampling\n\n").append(sampling).append('\n');
        md.append("## Provenance summary\n\n").append(provenance).append('\n');
        return md.toString();
    }

    private static String f(String fmt, Object... args) {
        return String.format(Locale.ROOT, fmt, args);
    }
}
