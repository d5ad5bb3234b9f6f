package org.nextpatch.cli;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.config.GptConfig;
import org.nextpatch.onnx.OnnxExport;
import org.nextpatch.onnx.OnnxSampler;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.util.NppException;

import java.io.IOException;
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

    /** An open ONNX Runtime sampler over an export (a temporary one when no --onnx-dir), batch by batch. */
    static final class Session implements AutoCloseable {
        private final OnnxSampler sampler;
        private final Path dir;
        private final boolean temporary;

        private Session(OnnxSampler sampler, Path dir, boolean temporary) {
            this.sampler = sampler;
            this.dir = dir;
            this.temporary = temporary;
        }

        /** Tokens {@code [b * T]} of images {@code first .. first + b - 1} of the run. */
        long[] generate(long[] labels, SamplingSettings settings, long seed, long first) {
            long[][] got = sampler.generate(labels, settings, seed, first, labels.length);
            int t = got.length == 0 ? 0 : got[0].length;
            long[] tokens = new long[labels.length * t];
            for (int i = 0; i < labels.length; i++) {
                System.arraycopy(got[i], 0, tokens, i * t, t);
            }
            return tokens;
        }

        /** The execution provider, for the report. */
        String provider() {
            return sampler.provider();
        }

        @Override
        public void close() {
            try {
                sampler.close();
            } finally {
                if (temporary) {
                    deleteQuietly(dir);
                }
            }
        }
    }

    /** Exports (or checks the export in --onnx-dir) and opens the sampler. */
    static Session open(GptOptions gpt, Path onnxDir, boolean overwrite, int threads) {
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
                OnnxExport.checkSameModel(cfg, OnnxExport.readGptConfig(dir), dir);
                OnnxExport.checkSource(dir, gpt.source().weights(), gpt.source().flag() + (gpt.useEma ? " (ema)" : ""));
                LOG.info("using the ONNX export in {}", dir);
            } else {
                OnnxExport.checkTarget(dir, overwrite || temporary, "--onnx-dir");
                export(gpt, cfg, dir);
            }
            return new Session(new OnnxSampler(dir, cfg, new OnnxSampler.Options(onnxDevice(gpt.device), threads, 0, null)),
                    dir, temporary);
        } catch (RuntimeException e) {
            if (temporary) {
                deleteQuietly(dir);
            }
            throw e;
        }
    }

    private static void export(GptOptions gpt, GptConfig cfg, Path dir) {
        Map<String, String> prov = new java.util.LinkedHashMap<>(gpt.source().provenance());
        prov.put("purpose", "npp sample --engine onnx");
        OnnxExport.export(cfg, gpt.source().weights(), null, null, dir, false, null, prov);
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
