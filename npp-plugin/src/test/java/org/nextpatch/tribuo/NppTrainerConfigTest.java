package org.nextpatch.tribuo;

import com.oracle.labs.mlrg.olcut.config.ConfigurationManager;
import com.oracle.labs.mlrg.olcut.config.PropertyException;
import com.oracle.labs.mlrg.olcut.config.json.JsonConfigFactory;
import com.oracle.labs.mlrg.olcut.provenance.primitives.IntProvenance;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.train.TrainConfig;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** NppTrainer from OLCUT XML and JSON configuration files, and the TrainConfig it builds. */
class NppTrainerConfigTest {

    static final String XML = "/org/nextpatch/tribuo/npp-trainer.xml";
    static final String JSON = "/org/nextpatch/tribuo/npp-trainer.json";

    @BeforeAll
    static void json() {
        ConfigurationManager.addFileFormatFactory(new JsonConfigFactory());
    }

    static NppTrainer load(String resource) {
        ConfigurationManager cm = new ConfigurationManager(resource);
        return (NppTrainer) cm.lookup("npp-trainer");
    }

    @Test
    void xmlAndJsonGiveTheSameTrainer() {
        NppTrainer x = load(XML);
        NppTrainer j = load(JSON);
        assertEquals(x.getProvenance(), j.getProvenance());
        assertEquals(4, ((IntProvenance) x.getProvenance().getConfiguredParameters().get("epochs")).getValue());
    }

    @Test
    void settingsReachTheTrainConfig() {
        NppTrainer t = load(XML);
        TrainConfig c = t.toTrainConfig(4, 10, 2, 99L, Path.of("out"));
        assertEquals(4, c.epochs());
        assertEquals(2, c.patchLevel());
        assertEquals(0.5, c.epochRate());
        assertTrue(c.scheduler());
        assertEquals(0.001, c.lr());
        assertEquals(0.0001, c.endLr());
        assertEquals(4, c.globalBatchSize());
        assertEquals(0.0, c.tokenDropoutP());
        assertEquals(0.0, c.model().classDropoutProb());
        assertEquals(99L, c.seed());
        assertEquals(32, c.model().dim());
        assertEquals(16, c.model().vocabSize(), "configured vocabulary wins over the data's");
        assertEquals(3, c.model().numClasses());
        assertEquals(16, c.model().blockSize(), "grid side 4 from the data");
        t.setVocabSize(-1).setNumClasses(-1);
        assertEquals(10, t.toTrainConfig(4, 10, 2, 1, Path.of("o")).model().vocabSize(), "vocabulary from the data");
    }

    @Test
    void aTrainerNeedsExactlyOneModelSource() {
        NppTrainer t = new NppTrainer();
        PropertyException e = assertThrows(PropertyException.class, t::postConfig);
        assertTrue(e.getMessage().contains("needs a model"), e.getMessage());
    }

    /** The test XML with some properties replaced (name, value pairs; a value of null removes one). */
    static Path xmlWith(Path dir, String... nameValue) throws Exception {
        String xml;
        try (var in = NppTrainerConfigTest.class.getResourceAsStream(XML)) {
            xml = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        }
        for (int i = 0; i < nameValue.length; i += 2) {
            String prop = "<property name=\"" + nameValue[i] + "\" value=\"";
            String line = nameValue[i + 1] == null ? "" : prop + nameValue[i + 1] + "\"/>";
            xml = xml.contains(prop) ? xml.replaceAll("<property name=\"" + nameValue[i] + "\" value=\"[^\"]*\"/>", line)
                    : xml.replace("  </component>", "    " + line + "\n  </component>");
        }
        Path f = Files.createTempFile(dir, "trainer", ".xml");
        Files.writeString(f, xml);
        return f;
    }

    /** Bad settings fail at lookup, with a message naming the Tribuo field (not a command-line flag). */
    @Test
    void badSettingsFailWhenConfiguredNamingTheField(@TempDir Path dir) throws Exception {
        String[][] cases = {
                {"gptModel", "dim", null, "gptModel", "GPT-Q"},
                {"nHead", "nHead", "3"},
                {"epochRate", "epochRate", "-1"},
                {"lr", "lr", "-0.5"},
                {"lr", "lr", "NaN"},
                {"globalBatchSize", "gradientAccumulationSteps", "3"},
                {"tokenDropoutP", "tokenDropoutP", "1.5"},
                {"device", "device", "tpu"},
                {"epochs", "epochs", "0"},
                {"emaDecay", "emaDecay", "1"},
                {"vocabSize", "vocabSize", "0"},
        };
        for (String[] c : cases) {
            String field = c[0];
            String[] props = java.util.Arrays.copyOfRange(c, 1, c.length);
            ConfigurationManager cm = new ConfigurationManager(xmlWith(dir, props).toString());
            PropertyException e = assertThrows(PropertyException.class, () -> cm.lookup("npp-trainer"),
                    java.util.Arrays.toString(props));
            assertEquals(field, e.getProperty(), e.getMessage());
            assertTrue(e.getMessage().contains("NppTrainer." + field) && !e.getMessage().contains("--"), e.getMessage());
        }
        // the fluent setters check the same ranges and leave the trainer as it was
        NppTrainer t = NppTrainer.customSize(32, 1, 2);
        PropertyException e = assertThrows(PropertyException.class, () -> t.setLr(-0.5));
        assertTrue(e.getMessage().contains("NppTrainer.lr must be positive, got -0.5"), e.getMessage());
        assertThrows(PropertyException.class, () -> t.setEpochRate(-1));
        assertThrows(PropertyException.class, () -> t.setDevice("tpu"));
        assertThrows(PropertyException.class, () -> NppTrainer.customSize(32, 1, 3));
        assertTrue(t.toString().contains("lr=1.0E-4") && t.toString().contains("epochRate=0.5"), t.toString());
    }

    @Test
    void dataBeyondTheConfiguredModelIsRejected() {
        NppTrainer t = load(XML);
        var e = assertThrows(RuntimeException.class, () -> t.toTrainConfig(4, 10, 5, 1, Path.of("o")));
        assertTrue(e.getMessage().contains("unknown class 4"), e.getMessage());
    }
}
