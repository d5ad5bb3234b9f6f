package org.nextpatch.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A sample run's folder never holds files of two runs, and cleaning up removes only this project's temporary names. */
class OutputsTest {
    @TempDir
    Path out;

    private List<String> names() throws IOException {
        try (Stream<Path> s = Files.list(out)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private void earlierRun() throws IOException {
        for (String f : List.of("tokens.npy", "labels.npy", "samples.npz", "grid.png", "sample_000000.png",
                "sample_000001.png", "sample_000002.png")) {
            Files.writeString(out.resolve(f), "earlier");
        }
        Files.writeString(out.resolve("notes.txt"), "mine");
        Files.writeString(out.resolve(".notes.tmp"), "mine too");
    }

    @Test
    void aKilledRunLeavesTheEarlierResultsWholeAndItsFolderIsRemovedNextTime() throws IOException {
        earlierRun();
        List<String> before = names();
        Path run = Outputs.runFolder(out, "--out");
        Files.writeString(run.resolve("sample_000000.png"), "new"); // killed after its first image
        Files.writeString(run.resolve("tokens.npy"), "new");
        StringWriter report = new StringWriter();
        Outputs.removeLeftovers(out, "--out", new PrintWriter(report, true));
        assertEquals(before, names());
        assertEquals("earlier", Files.readString(out.resolve("sample_000000.png")));
        assertTrue(report.toString().contains(run.getFileName() + ", left by an interrupted run"), report.toString());
    }

    @Test
    void aCompleteRunReplacesEveryFileOfTheEarlierOneAndNothingElse() throws IOException {
        earlierRun();
        Path run = Outputs.runFolder(out, "--out");
        for (String f : List.of("tokens.npy", "labels.npy", "samples.npz", "grid.png", "sample_000000.png")) {
            Files.writeString(run.resolve(f), "new");
        }
        assertEquals(7, Outputs.replaceRun(out, run, "--out"));
        Outputs.removeQuietly(run);
        assertEquals(List.of(".notes.tmp", "grid.png", "labels.npy", "notes.txt", "sample_000000.png", "samples.npz",
                "tokens.npy"), names());
        for (String f : List.of("tokens.npy", "labels.npy", "samples.npz", "grid.png", "sample_000000.png")) {
            assertEquals("new", Files.readString(out.resolve(f)), f);
        }
    }
}
