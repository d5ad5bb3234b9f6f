package org.nextpatch.cli;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.config.GptConfig;
import org.nextpatch.onnx.OnnxExport;
import org.nextpatch.onnx.OnnxSampler;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.util.NppException;
import org.nextpatch.util.Progress;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code npp sample --engine onnx}: the same tokens as the DJL engine for the same seed, from the
 * ONNX {@code Loop} graph. Uses the graphs in {@code --onnx-dir} when it holds an export of the same
 * configuration and weights (by the digest in its manifest) and refuses one of another model; exports
 * into it when it is new or empty, and rewrites it only with {@code --overwrite}; a folder holding
 * files but no manifest is refused. Without {@code --onnx-dir} it exports to a temporary directory
 * (deleted afterwards).
 */
final class OnnxSampleEngine {
    private static final Logger LOG = LogManager.getLogger(OnnxSampleEngine.class);

    private OnnxSampleEngine() {}

    static long[] sample(GptOptions gpt, Path onnxDir, boolean overwrite, int threads, long[] labels, SamplingSettings settings,
                         long seed, int batchSize, PrintWriter out) {
        GptConfig cfg = gpt.config();
        Path dir = onnxDir;
        boolean temporary = false;
        if (dir == null) {
            try {
                dir = Files.createTempDirectory("npp-onnx");
            } catch (IOException e) {
                throw new NppException("cannot create a temporary directory for the ONNX export: " + e.getMessage(), e);
            }
            temporary = true;
        }
        try {
            if (!overwrite && Files.isRegularFile(dir.resolve(OnnxExport.MANIFEST))) {
                checkSameModel(cfg, OnnxExport.readGptConfig(dir), dir);
                OnnxExport.checkSource(dir, gpt.source().weights(), gpt.source().flag() + (gpt.useEma ? " (ema)" : ""));
                LOG.info("using the ONNX export in {}", dir);
            } else {
                OnnxExport.checkTarget(dir, overwrite || temporary, "--onnx-dir");
                export(gpt, cfg, dir);
            }
            int t = cfg.blockSize();
            long[] tokens = new long[labels.length * t];
            try (OnnxSampler sampler = new OnnxSampler(dir, cfg, new OnnxSampler.Options(onnxDevice(gpt.device), threads, 0, null));
                 Progress progress = Progress.start("sample", labels.length, "img")) {
                long t0 = System.nanoTime();
                for (int start = 0; start < labels.length; start += batchSize) {
                    int b = Math.min(batchSize, labels.length - start);
                    long[][] got = sampler.generate(java.util.Arrays.copyOfRange(labels, start, start + b), settings, seed, start, b);
                    for (int i = 0; i < b; i++) {
                        System.arraycopy(got[i], 0, tokens, (start + i) * t, t);
                    }
                    progress.step(b);
                }
                double secs = (System.nanoTime() - t0) / 1e9;
                out.printf(Locale.ROOT, "sampled %d images in %.2f s: %.2f images/s (onnx, %s)%n",
                        labels.length, secs, labels.length / secs, sampler.provider());
            }
            return tokens;
        } finally {
            if (temporary) {
                deleteQuietly(dir);
            }
        }
    }

    private static void export(GptOptions gpt, GptConfig cfg, Path dir) {
        Map<String, String> prov = new java.util.LinkedHashMap<>(gpt.source().provenance());
        prov.put("purpose", "npp sample --engine onnx");
        OnnxExport.export(cfg, gpt.source().weights(), null, null, dir, false, null, prov);
    }

    /** The export must be of a model with the same shape as the one the flags describe. */
    static void checkSameModel(GptConfig want, GptConfig have, Path dir) {
        boolean same = want.dim() == have.dim() && want.nLayer() == have.nLayer() && want.nHead() == have.nHead()
                && want.vocabSize() == have.vocabSize() && want.numClasses() == have.numClasses()
                && want.blockSize() == have.blockSize() && want.ffnHidden() == have.ffnHidden();
        if (!same) {
            throw new NppException("--onnx-dir " + dir + " holds an export of another model (" + have.toJson()
                    + "); the GPT flags describe " + want.toJson());
        }
    }

    /** The DJL-style --device value as an ONNX Runtime device. */
    static String onnxDevice(String device) {
        String v = device == null ? "auto" : device.trim().toLowerCase(Locale.ROOT);
        if (v.equals("gpu")) {
            return "cuda";
        }
        if (v.startsWith("gpu:")) {
            return "cuda:" + v.substring(4);
        }
        return v;
    }

    private static void deleteQuietly(Path dir) {
        try (var s = Files.walk(dir)) {
            List<Path> all = new ArrayList<>(s.toList());
            Collections.reverse(all);
            for (Path p : all) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            LOG.debug("could not delete {}: {}", dir, e.getMessage());
        }
    }
}
