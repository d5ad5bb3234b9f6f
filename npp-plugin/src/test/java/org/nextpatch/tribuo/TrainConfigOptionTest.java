package org.nextpatch.tribuo;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.cli.NppCommandTest;
import org.tribuo.Model;

import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code npp train --config trainer.xml}: the command line trains through NppTrainer and saves a Tribuo model. */
class TrainConfigOptionTest {

    static final Path XML = Path.of("src/test/resources/org/nextpatch/tribuo/npp-trainer.xml");

    @Test
    void trainsThroughTheTribuoTrainer(@TempDir Path dir) throws Exception {
        Path codes = CodeDirectorySourceTest.codeDir(dir.resolve("codes"), 8);
        Path out = dir.resolve("out");
        StringWriter err = new StringWriter();
        int rc = NppCommandTest.run(new StringWriter(), err, "train", "--config", XML.toString(),
                "--code-path", codes.toString(), "--image-size", "64", "--results-dir", out.toString());
        assertEquals(0, rc, err.toString());
        Path file = out.resolve("model.tribuo");
        assertTrue(Files.isRegularFile(file));
        assertTrue(Files.isRegularFile(out.resolve("metrics.csv")));
        try (NppModel m = (NppModel) Model.deserializeFromFile(file)) {
            assertEquals(NppTrainer.class.getName(), m.getProvenance().getTrainerProvenance().getClassName());
            assertEquals(CodeDirectorySource.class.getName(),
                    m.getProvenance().getDatasetProvenance().getSourceProvenance().getClassName());
            assertEquals(32, m.getGptConfig().dim());
        }
    }

    @Test
    void trainingFlagsCannotBeMixedWithConfig(@TempDir Path dir) {
        StringWriter err = new StringWriter();
        int rc = NppCommandTest.run(new StringWriter(), err, "train", "--config", XML.toString(), "--epochs", "3",
                "--code-path", dir.toString(), "--image-size", "64", "--results-dir", dir.resolve("o").toString());
        assertEquals(2, rc, err.toString());
        assertTrue(err.toString().contains("--epochs cannot be combined with --config"), err.toString());
        err = new StringWriter();
        rc = NppCommandTest.run(new StringWriter(), err, "train", "--config", dir.resolve("none.xml").toString(),
                "--code-path", dir.toString(), "--image-size", "64", "--results-dir", dir.resolve("o").toString());
        assertEquals(1, rc, err.toString());
        assertTrue(err.toString().contains("file not found"), err.toString());
    }
}
