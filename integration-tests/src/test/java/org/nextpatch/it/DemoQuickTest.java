package org.nextpatch.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.cli.NppCommand;
import org.nextpatch.demo.FashionMnistFiles;
import org.nextpatch.tribuo.NppModel;
import org.tribuo.Model;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code npp demo --quick} end to end through the command line's own entry point, on the test split
 * shipped with the project (copied out, so the run is the same on every machine): every stage runs
 * (tokenizer, codes, NPP training through Tribuo, ONNX export, ONNX Runtime sampling, decoding,
 * feature network, FID) and leaves sane outputs. About a minute on two cores.
 */
class DemoQuickTest {

    @Test
    void quickDemoRunsEndToEndAndLeavesSaneOutputs(@TempDir Path tmp) throws Exception {
        Path data = tmp.resolve("data");
        FashionMnistFiles.copyShipped(data);
        Path out = tmp.resolve("demo");
        int rc = NppCommand.execute("demo", "--quick", "--data", data.toString(), "--results-dir", out.toString());
        assertEquals(0, rc, "exit status of npp demo --quick");

        // pictures: readable PNGs of plausible size; the grid has one row per class (10 rows of >= 64 px)
        BufferedImage samples = ImageIO.read(out.resolve("samples.png").toFile());
        assertTrue(samples != null && samples.getHeight() >= 10 * 64 && samples.getWidth() >= 64,
                "samples.png: 10 labelled rows of enlarged 32 px images");
        BufferedImage loss = ImageIO.read(out.resolve("loss.png").toFile());
        assertTrue(loss != null && loss.getWidth() > 100, "loss.png readable");

        // the report names every stage and has finite metrics
        String report = Files.readString(out.resolve("report.md"));
        for (String stage : new String[]{"train VQ tokenizer", "extract codes", "train GPT", "export ONNX", "sample (ONNX Runtime",
                "decode", "train feature network", "evaluate"}) {
            assertTrue(report.contains(stage), "report.md times stage '" + stage + "'");
        }
        double fid = number(report, "\\| FID, \\d+ generated images vs \\d+ real test images \\| ([^|]+) \\|");
        assertTrue(Double.isFinite(fid) && fid >= 0, "FID finite and non-negative, got " + fid);
        double floor = number(report, "\\(floor at this sample size\\) \\| ([^|]+) \\|");
        assertTrue(Double.isFinite(floor) && floor >= 0, "real-vs-real FID finite, got " + floor);
        double acc = number(report, "feature network accuracy on \\d+ held-out real images \\| ([^|%]+) %");
        // one epoch on 3,000 images: far above chance (10 %) though below the full demo's network
        assertTrue(acc > 40 && acc <= 100, "feature network accuracy above chance, got " + acc);
        assertTrue(report.contains("images-hash"), "provenance summary has the data hashes");

        // artefacts: checkpoints, ONNX graphs, the Tribuo model file (loadable, with provenance)
        assertTrue(Files.size(out.resolve("vq/vq.pt")) > 0);
        try (var s = Files.list(out.resolve("gpt/checkpoints"))) {
            assertTrue(s.anyMatch(p -> p.toString().endsWith(".pt")), "a GPT checkpoint");
        }
        for (String g : new String[]{"gpt-prefill.onnx", "gpt-step.onnx", "gpt-generate.onnx", "vq-decoder.onnx"}) {
            assertTrue(Files.size(out.resolve("onnx").resolve(g)) > 0, g);
        }
        // the manifest names the classes, so npp serve needs no --class-names
        com.fasterxml.jackson.databind.JsonNode manifest = org.nextpatch.onnx.OnnxExport.readManifest(out.resolve("onnx"));
        assertEquals(10, manifest.path("class_names").size(), "class_names in the ONNX manifest");
        assertEquals("Ankle boot", manifest.path("class_names").get(9).asText());
        Model<?> m = Model.deserializeFromFile(out.resolve("npp-model.tribuo"));
        assertTrue(m instanceof NppModel, "npp-model.tribuo is an NppModel");
        assertEquals("org.nextpatch.tribuo.IdxCodeSource",
                m.getProvenance().getDatasetProvenance().getSourceProvenance().getClassName());
        ((NppModel) m).close();
        assertTrue(Files.size(out.resolve("samples.npz")) > 100 * 32 * 32 * 3, "samples.npz holds the images");
    }

    private static double number(String text, String regex) {
        Matcher m = Pattern.compile(regex).matcher(text);
        assertTrue(m.find(), "report.md has a line matching " + regex);
        return Double.parseDouble(m.group(1).trim());
    }
}
