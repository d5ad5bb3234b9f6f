package org.nextpatch.tribuo;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.oracle.labs.mlrg.olcut.provenance.ProvenanceUtil;
import com.oracle.labs.mlrg.olcut.provenance.io.ObjectMarshalledProvenance;
import com.oracle.labs.mlrg.olcut.provenance.io.FlatMarshalledProvenance;
import com.oracle.labs.mlrg.olcut.config.json.JsonProvenanceSerialization;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.onnx.OnnxExport;
import org.nextpatch.serve.ServedModel;
import org.nextpatch.util.NppException;
import org.tribuo.Model;
import org.tribuo.MutableDataset;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Class names from a code directory's classes.txt travel with the model: source provenance, the
 * trained model, its file, its ONNX export's manifest and {@code npp serve}. And
 * {@link NppModel#exportOnnxGraphs} does not write over another model's export unless told to.
 */
class ClassNamesTest {

    private static final List<String> NAMES = List.of("T-shirt/top", "Trouser", "Pull over");

    private static NppTrainer trainer() {
        return NppTrainer.customSize(32, 1, 2).setMultipleOf(32).setEpochs(1).setGlobalBatchSize(6).setAllDropouts(0.0);
    }

    @Test
    void namesGoFromClassesTxtToTheModelItsFileItsExportAndServe(@TempDir Path dir) throws Exception {
        Path root = CodeDirectorySourceTest.codeDir(dir.resolve("codes"), 6); // classes 0..2
        Files.writeString(root.resolve("classes.txt"), String.join("\n", NAMES) + "\n");
        CodeDirectorySource src = new CodeDirectorySource(root, 64);
        var p = (CodeDirectorySource.CodeDirectorySourceProvenance) src.getProvenance();
        assertEquals(NAMES, p.getClassNames());
        assertEquals(3, p.getNumClasses());
        // marshalled and through JSON, as Tribuo stores and prints provenance
        assertEquals(p, ProvenanceUtil.unmarshalProvenance(ProvenanceUtil.marshalProvenance(p)));
        JsonProvenanceSerialization json = new JsonProvenanceSerialization(true);
        String text = json.serializeToString(ProvenanceUtil.marshalProvenance(p));
        var back = (CodeDirectorySource.CodeDirectorySourceProvenance) ProvenanceUtil.unmarshalProvenance(json.deserializeFromString(text));
        assertEquals(NAMES, back.getClassNames());

        try (NppModel m = trainer().train(new MutableDataset<>(src))) {
            assertEquals(NAMES, m.getClassNames());
            assertEquals(NAMES, NppTraining.recordedClassNames(new MutableDataset<>(src)));
            assertTrue(m.getProvenance().getDatasetProvenance().getSourceProvenance().toString().contains("Pull over"));

            Path file = dir.resolve("m.tribuo");
            m.serializeToFile(file);
            try (NppModel loaded = (NppModel) Model.deserializeFromFile(file)) {
                assertEquals(NAMES, loaded.getClassNames());
                assertEquals(m.getProvenance(), loaded.getProvenance());
            }
            try (NppModel copy = (NppModel) m.copy()) {
                assertEquals(NAMES, copy.getClassNames());
            }

            Path onnx = dir.resolve("onnx");
            m.exportOnnxGraphs(onnx, false);
            // the manifest is not among the files it checks: recording the names keeps the folder valid
            assertEquals(NAMES, new ObjectMapper().convertValue(OnnxExport.open(onnx).get("class_names"), List.class));
            assertEquals(NAMES, ServedModel.open(onnx, null).classNames());
        }
    }

    @Test
    void aModelWithoutNamesAndOldProvenanceStayReadable(@TempDir Path dir) throws Exception {
        Path root = CodeDirectorySourceTest.codeDir(dir.resolve("codes"), 6);
        CodeDirectorySource src = new CodeDirectorySource(root, 64);
        var p = (CodeDirectorySource.CodeDirectorySourceProvenance) src.getProvenance();
        assertEquals(List.of(), p.getClassNames());
        // provenance written before names were recorded has no class-names entry
        List<ObjectMarshalledProvenance> marshalled = new ArrayList<>();
        for (ObjectMarshalledProvenance o : ProvenanceUtil.marshalProvenance(p)) {
            java.util.Map<String, FlatMarshalledProvenance> map = new java.util.HashMap<>(o.getMap());
            assertTrue(map.remove(CodeDirectorySource.CLASS_NAMES) != null);
            marshalled.add(new ObjectMarshalledProvenance(o.getName(), map, o.getObjectClassName(),
                    o.getProvenanceClassName()));
        }
        var old = (CodeDirectorySource.CodeDirectorySourceProvenance) ProvenanceUtil.unmarshalProvenance(marshalled);
        assertEquals(List.of(), old.getClassNames());
        assertEquals(p, old);

        try (NppModel m = trainer().train(new MutableDataset<>(src))) {
            assertEquals(List.of(), m.getClassNames());
            Path file = dir.resolve("m.tribuo");
            m.serializeToFile(file);
            try (NppModel loaded = NppModel.load(file)) {
                assertEquals(List.of(), loaded.getClassNames());
            }
            Path onnx = dir.resolve("onnx");
            m.exportOnnxGraphs(onnx, false);
            assertTrue(OnnxExport.open(onnx).path("class_names").isMissingNode());
            assertEquals(null, ServedModel.open(onnx, null).classNames());
        }
    }

    @Test
    void aWrongCountOrABlankNameIsRefusedNamingTheField() {
        try (NppModel m = NppModelTest.model(NppModelTest.data(3, 1))) { // 3 classes
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.setClassNames(List.of("a", "b")));
            assertTrue(e.getMessage().startsWith("classNames: 2 names for a model of num_classes = 3"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> m.setClassNames(List.of("a", " ", "c")));
            assertTrue(e.getMessage().contains("class 1 is blank"), e.getMessage());
            assertEquals(List.of(), m.getClassNames());
            m.setClassNames(NAMES);
            assertEquals(NAMES, m.getClassNames());
            m.setClassNames(List.of());
            assertEquals(List.of(), m.getClassNames());
        }
    }

    /** A count that differs from the model's (numClasses set on the trainer) leaves the model without names. */
    @Test
    void namesOfAnotherCountAreNotGivenToTheModel(@TempDir Path dir) throws Exception {
        Path root = CodeDirectorySourceTest.codeDir(dir.resolve("codes"), 6);
        Files.writeString(root.resolve("classes.txt"), String.join("\n", NAMES) + "\n");
        try (NppModel m = trainer().setNumClasses(5).train(new MutableDataset<>(new CodeDirectorySource(root, 64)))) {
            assertEquals(5, m.getGptConfig().numClasses());
            assertEquals(List.of(), m.getClassNames());
        }
    }

    @Test
    void exportRefusesAFolderHoldingSomethingElseUnlessToldToReplaceIt(@TempDir Path dir) throws Exception {
        try (NppModel a = NppModelTest.model(NppModelTest.data(3, 1));
             NppModel b = new NppModel("other", a.getProvenance(), a.getFeatureIDMap(), a.getOutputIDInfo(),
                     NppModelTest.TINY, NppModelTest.weights(8), "class", 42, NppModel.defaultSampling(),
                     NppModel.DEFAULT_SEED_KEY, "cpu", 4)) {
            Path out = dir.resolve("onnx");
            a.exportOnnxGraphs(out, false);
            a.exportOnnxGraphs(out, false); // its own earlier export: replaced
            String digestA = OnnxExport.open(out).path("source").path(OnnxExport.GPT_WEIGHTS_SHA256).asText();

            NppException e = assertThrows(NppException.class, () -> b.exportOnnxGraphs(out, false));
            assertTrue(e.getMessage().contains("holds the ONNX export of another model") && e.getMessage().contains("withOverwrite(true)"),
                    e.getMessage());
            assertEquals(digestA, OnnxExport.open(out).path("source").path(OnnxExport.GPT_WEIGHTS_SHA256).asText(),
                    "the other export is left as it was");

            b.exportOnnxGraphs(out, OnnxGraphOptions.defaults().withOverwrite(true));
            assertEquals(OnnxExport.weightsDigest(b.getWeights()),
                    OnnxExport.open(out).path("source").path(OnnxExport.GPT_WEIGHTS_SHA256).asText());

            Path notes = Files.createDirectories(dir.resolve("notes"));
            Files.writeString(notes.resolve("readme.txt"), "mine");
            e = assertThrows(NppException.class, () -> a.exportOnnxGraphs(notes, false));
            assertTrue(e.getMessage().contains("holds no ONNX export"), e.getMessage());
            assertEquals(List.of(notes.resolve("readme.txt")), Files.list(notes).toList());
        }
    }
}
