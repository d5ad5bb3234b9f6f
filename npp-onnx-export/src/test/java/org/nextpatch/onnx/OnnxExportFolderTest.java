package org.nextpatch.onnx;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.config.GptConfig;
import org.nextpatch.config.VqConfig;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;
import org.nextpatch.util.Sha256;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Export folders are all-or-nothing: a re-export that fails part-way leaves the earlier export whole,
 * and a folder whose files do not match its manifest's digests (an interrupted in-place overwrite, a
 * replaced graph) is refused when it is opened.
 */
class OnnxExportFolderTest {
    private static final GptConfig CFG = GptOnnxExporterTest.CFG;

    @TempDir
    Path tmp;

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aReexportThatFailsPartWayLeavesTheEarlierExportWhole() throws IOException {
        Path dir = tmp.resolve("onnx");
        Map<String, Tensor> a = RefGpt.randomWeights(CFG, 1);
        Map<String, Tensor> b = RefGpt.randomWeights(CFG, 2);
        OnnxExport.export(CFG, a, null, null, dir, false, null, Map.of());
        Files.writeString(dir.resolve("notes.txt"), "mine");
        List<String> before = names(dir);
        // B's GPT graphs are all written, then its decoder fails (no weights): as a kill or a full disk would
        assertThrows(NppException.class, () -> OnnxExport.export(CFG, b, VqConfig.vq16(), Map.of(), dir, false, null, Map.of()));
        assertEquals(before, names(dir));
        assertEquals(List.of("onnx"), names(tmp), "no temporary folder left beside it");
        OnnxExport.checkSource(dir, a, "A"); // still A's export, every file as its manifest says
        assertThrows(NppException.class, () -> OnnxExport.checkSource(dir, b, "B"));

        List<Path> written = OnnxExport.export(CFG, b, null, null, dir, false, null, Map.of());
        OnnxExport.checkSource(dir, b, "B");
        assertEquals("mine", Files.readString(dir.resolve("notes.txt")), "a user's file in the folder is kept");
        assertTrue(written.stream().allMatch(f -> f.getParent().equals(dir.toAbsolutePath())), written.toString());
        assertEquals(List.of("onnx"), names(tmp));
    }

    @Test
    void aFolderWhoseFilesDoNotMatchTheManifestIsRefusedWhenOpened() throws IOException {
        Path dirA = tmp.resolve("a");
        Path dirB = tmp.resolve("b");
        Map<String, Tensor> a = RefGpt.randomWeights(CFG, 1);
        OnnxExport.export(CFG, a, null, null, dirA, false, null, Map.of());
        OnnxExport.export(CFG, RefGpt.randomWeights(CFG, 2), null, null, dirB, false, null, Map.of());
        var m = OnnxExport.open(dirA);
        assertEquals(Sha256.ofFile(dirA.resolve(OnnxSampler.GENERATE)),
                m.path(OnnxExport.FILES).path(OnnxSampler.GENERATE).path("sha256").asText());
        // what an in-place overwrite by B, killed after its first graph, left: B's graph beside A's manifest
        Files.copy(dirB.resolve(OnnxSampler.GENERATE), dirA.resolve(OnnxSampler.GENERATE), StandardCopyOption.REPLACE_EXISTING);
        for (Runnable open : List.<Runnable>of(() -> OnnxExport.open(dirA), () -> OnnxExport.checkSource(dirA, a, "A"),
                () -> OnnxSampler.open(dirA, OnnxSampler.Options.cpu()).close())) {
            NppException e = assertThrows(NppException.class, open::run);
            assertTrue(e.getMessage().contains(OnnxSampler.GENERATE) && e.getMessage().contains("SHA-256"), e.getMessage());
        }
        byte[] step = Files.readAllBytes(dirB.resolve(OnnxSampler.STEP));
        Files.write(dirB.resolve(OnnxSampler.STEP), java.util.Arrays.copyOf(step, step.length / 2));
        NppException cut = assertThrows(NppException.class, () -> OnnxExport.open(dirB));
        assertTrue(cut.getMessage().contains(OnnxSampler.STEP + " has " + step.length / 2 + " bytes"), cut.getMessage());

        Path dirC = tmp.resolve("c");
        OnnxExport.export(CFG, a, null, null, dirC, false, null, Map.of());
        ObjectMapper json = new ObjectMapper();
        ObjectNode old = (ObjectNode) json.readTree(dirC.resolve(OnnxExport.MANIFEST).toFile());
        old.remove(OnnxExport.FILES);
        Files.writeString(dirC.resolve(OnnxExport.MANIFEST), old.toString());
        NppException none = assertThrows(NppException.class, () -> OnnxSampler.open(dirC, OnnxSampler.Options.cpu()));
        assertTrue(none.getMessage().contains("lists no files"), none.getMessage());
    }

    @Test
    void whereTheFolderCannotBeSwappedItsFilesAreReplacedManifestLast() throws IOException {
        Path dir = tmp.resolve("onnx");
        Map<String, Tensor> b = RefGpt.randomWeights(CFG, 2);
        OnnxExport.export(CFG, RefGpt.randomWeights(CFG, 1), null, null, dir, false, true, Map.of()); // with gpt-weights.onnx.data
        Files.writeString(dir.resolve("notes.txt"), "mine");
        Path b0 = tmp.resolve("b");
        OnnxExport.export(CFG, b, null, null, b0, false, false, Map.of()); // no external data
        Path inside = Files.createDirectory(dir.resolve(".npp-tmp-onnx.1"));
        for (String n : names(b0)) {
            Files.copy(b0.resolve(n), inside.resolve(n));
        }
        OnnxExport.moveFilesIn(inside, dir);
        Files.delete(inside);
        OnnxExport.checkSource(dir, b, "B");
        List<String> want = new java.util.ArrayList<>(names(b0));
        want.add("notes.txt");
        assertEquals(want.stream().sorted().toList(), names(dir), "A's external weights removed, the notes kept");
    }
}
