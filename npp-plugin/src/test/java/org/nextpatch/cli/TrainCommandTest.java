package org.nextpatch.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.Fixtures;
import org.nextpatch.io.TorchCheckpoint;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code npp train} on the fixture's code directory (6 images x 10 augmentations, 4x4 grids). */
class TrainCommandTest {

    private static String[] args(Path out, String... extra) {
        String[] base = {"train", "--code-path", Fixtures.file("codes").toString(), "--image-size", "64",
                "--gpt-config", Fixtures.file("gpt-config.json").toString(), "--epochs", "2", "--patch-level", "2",
                "--epoch-rate", "0.5", "--scheduler", "--global-batch-size", "2", "--lr", "1e-3",
                "--results-dir", out.toString(), "--ckpt-every", "0", "--seed", "3"};
        String[] all = new String[base.length + extra.length];
        System.arraycopy(base, 0, all, 0, base.length);
        System.arraycopy(extra, 0, all, base.length, extra.length);
        return all;
    }

    @Test
    void trainsAndResumes(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        assertEquals(0, NppCommand.execute(args(out, "--max-steps", "2")));
        Path ck = out.resolve("checkpoints/0000002.pt");
        assertTrue(Files.isRegularFile(ck));
        assertEquals(0, NppCommand.execute(args(out, "--resume", ck.toString())));
        Map<?, ?> root = (Map<?, ?>) TorchCheckpoint.load(out.resolve("checkpoints/0000006.pt"));
        assertEquals(6L, root.get("steps")); // 6 images / batch 2 = 3 steps per epoch, 2 epochs
        assertEquals(7, Files.readAllLines(out.resolve("metrics.csv")).size());
        assertTrue(Files.size(out.resolve("loss.png")) > 1000);
    }

    @Test
    void usageAndSettingErrors(@TempDir Path dir) {
        // both model sources: picocli usage error
        assertEquals(2, NppCommand.execute(args(dir, "--gpt-model", "GPT-B")));
        // a missing code directory
        assertEquals(1, NppCommand.execute("train", "--code-path", dir.resolve("missing").toString(), "--image-size", "64",
                "--gpt-config", Fixtures.file("gpt-config.json").toString(), "--results-dir", dir.toString()));
        // patch level 4 needs p = 8, which does not divide the 4x4 grid
        assertEquals(1, NppCommand.execute("train", "--code-path", Fixtures.file("codes").toString(), "--image-size", "64",
                "--gpt-config", Fixtures.file("gpt-config.json").toString(), "--results-dir", dir.toString(),
                "--patch-level", "4"));
    }
}
