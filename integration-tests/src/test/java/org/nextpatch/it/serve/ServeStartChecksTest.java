package org.nextpatch.it.serve;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.onnx.OnnxSampler;
import org.nextpatch.serve.OnnxEngine;
import org.nextpatch.serve.ServedModel;
import org.nextpatch.util.NppException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code npp serve} refuses to start on a broken export, in one line naming the graph and the entry
 * that disagrees, instead of answering every request 500: a truncated {@code gpt-generate.onnx}, and
 * a manifest whose {@code block_size}, {@code num_classes} or image size (the tokenizer's
 * {@code ch_mult}) is not the graphs'.
 */
class ServeStartChecksTest {
    @TempDir
    static Path tmp;
    static ServeFixture fx;

    @BeforeAll
    static void model() throws IOException {
        fx = new ServeFixture(tmp.resolve("model"));
    }

    @Test
    void truncatedGenerateGraphIsRefused() throws IOException {
        Path dir = copy("truncated");
        Path g = dir.resolve(OnnxSampler.GENERATE);
        byte[] b = Files.readAllBytes(g);
        Files.write(g, java.util.Arrays.copyOf(b, b.length / 2));
        refused(dir, "gpt-generate.onnx");
    }

    @Test
    void manifestBlockSizeNotTheGraphsIsRefused() throws IOException {
        refused(edited("block", m -> ((ObjectNode) m.get("gpt_config")).put("block_size", 64)), "block_size 64");
    }

    @Test
    void manifestClassCountNotTheGraphsIsRefused() throws IOException {
        refused(edited("classes", m -> ((ObjectNode) m.get("gpt_config")).put("num_classes", 20)), "num_classes 20");
    }

    @Test
    void manifestImageSizeNotTheDecodersIsRefused() throws IOException {
        Path dir = edited("image", m -> {
            ArrayNode mult = ((ObjectNode) m.get("vq_config")).putArray("ch_mult");
            mult.add(1).add(2).add(2).add(2);   // downsample 8 instead of 4: 32 px images instead of 16
        });
        refused(dir, "16x16");
    }

    /** A quantized export (MatMulNBits output head, no {@code output.weight_t}) starts, and its checks still bite. */
    @Test
    void quantizedExportStartsAndItsMismatchesAreRefused() throws IOException {
        Path dir = tmp.resolve("int4");
        org.nextpatch.onnx.OnnxExport.export(fx.gpt, org.nextpatch.cli.BenchWeights.random(fx.gpt, 13), null, null, dir,
                false, org.nextpatch.onnx.WeightQuantization.INT4, null, java.util.Map.of("purpose", "serve tests"),
                java.util.Map.of());
        ServedModel m = ServedModel.open(dir, null);
        new OnnxEngine(m, new OnnxSampler.Options("cpu", 1, 0, null)).close();

        Path edited = tmp.resolve("int4-classes");
        Files.createDirectories(edited);
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.copy(f, edited.resolve(f.getFileName()));
            }
        }
        Path manifest = edited.resolve("manifest.json");
        ObjectNode json = (ObjectNode) ServeFixture.JSON.readTree(manifest.toFile());
        ((ObjectNode) json.get("gpt_config")).put("num_classes", 20);
        Files.writeString(manifest, json.toString());
        refused(edited, "num_classes 20");
    }

    private static void refused(Path dir, String names) {
        NppException e = assertThrows(NppException.class, () -> {
            ServedModel m = ServedModel.open(dir, null);
            new OnnxEngine(m, new OnnxSampler.Options("cpu", 1, 0, null)).close();
        });
        String msg = e.getMessage();
        System.out.println("refused: " + msg);
        assertTrue(msg.contains(names), msg);
        assertFalse(msg.contains("\n"), "one line: " + msg);
    }

    private static Path copy(String name) throws IOException {
        Path dir = tmp.resolve(name);
        Files.createDirectories(dir);
        try (var files = Files.list(fx.onnx)) {
            for (Path f : files.toList()) {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
        return dir;
    }

    private static Path edited(String name, Consumer<ObjectNode> edit) throws IOException {
        Path dir = copy(name);
        Path manifest = dir.resolve("manifest.json");
        ObjectNode m = (ObjectNode) ServeFixture.JSON.readTree(manifest.toFile());
        edit.accept(m);
        Files.writeString(manifest, m.toString());
        return dir;
    }
}
