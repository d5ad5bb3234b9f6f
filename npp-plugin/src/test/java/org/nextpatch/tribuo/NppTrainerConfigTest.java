package org.nextpatch.tribuo;

import com.oracle.labs.mlrg.olcut.config.ConfigurationManager;
import com.oracle.labs.mlrg.olcut.config.PropertyException;
import com.oracle.labs.mlrg.olcut.config.json.JsonConfigFactory;
import com.oracle.labs.mlrg.olcut.provenance.primitives.IntProvenance;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nextpatch.train.TrainConfig;

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

    @Test
    void dataBeyondTheConfiguredModelIsRejected() {
        NppTrainer t = load(XML);
        var e = assertThrows(RuntimeException.class, () -> t.toTrainConfig(4, 10, 5, 1, Path.of("o")));
        assertTrue(e.getMessage().contains("unknown class 4"), e.getMessage());
    }
}
