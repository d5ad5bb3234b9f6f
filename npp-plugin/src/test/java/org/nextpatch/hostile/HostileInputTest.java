package org.nextpatch.hostile;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The hostile corpus ({@link HostileCorpus}) against the loaders, in a child JVM with a 256 MB heap:
 * each case must end within its time limit (generous: a hang, not speed, is what it catches) with
 * the expected exit status and one line naming the file and the problem.
 */
class HostileInputTest {
    private static final int PER_CASE_LIMIT_S = 60;

    @TempDir
    Path dir;

    @Test
    void everyCaseGetsOneLineAndTheRightStatusInA256MbHeap() throws IOException, InterruptedException {
        List<HostileCorpus.Case> cases = HostileCorpus.write(dir.resolve("corpus"));
        Path list = dir.resolve("cases.tsv");
        Files.writeString(list, cases.stream().map(c -> c.name() + "\t" + c.kind() + "\t" + c.file())
                .collect(Collectors.joining("\n")) + "\n");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Path log = dir.resolve("out.txt");
        Process p = new ProcessBuilder(java, "-Xmx256m", "-Xss1m", "-cp", System.getProperty("java.class.path"),
                HostileCorpusRunner.class.getName(), list.toString(), String.valueOf(PER_CASE_LIMIT_S))
                .redirectErrorStream(false).redirectOutput(log.toFile()).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        boolean done = p.waitFor((long) PER_CASE_LIMIT_S * cases.size(), TimeUnit.SECONDS);
        if (!done) {
            p.destroyForcibly();
        }
        String output = Files.readString(log, StandardCharsets.UTF_8);
        Map<String, String[]> results = new HashMap<>();
        for (String line : output.split("\n")) {
            String[] f = line.split("\t", 4);
            if (f.length >= 3) {
                results.put(f[0], f);
            }
        }
        assertTrue(done && p.exitValue() == 0, "the runner ended badly:\n" + output);
        List<String> failures = new ArrayList<>();
        for (HostileCorpus.Case c : cases) {
            String[] r = results.get(c.name());
            if (r == null) {
                failures.add(c.name() + ": no result");
            } else if (!r[1].equals(String.valueOf(c.exit()))) {
                failures.add(c.name() + ": exit " + r[1] + ", expected " + c.exit() + ": " + r[2]);
            } else if (!r[2].contains(c.fragment())) {
                failures.add(c.name() + ": expected '" + c.fragment() + "' in: " + r[2]);
            } else if (c.exit() != 0 && !r[2].contains(c.file().toString())) {
                failures.add(c.name() + ": the message names no file: " + r[2]);
            } else if (c.exit() != 0 && r[2].contains(" | ")) {
                failures.add(c.name() + ": more than one line: " + r[2]);
            }
        }
        System.out.println(output);
        assertEquals(List.of(), failures, "of " + cases.size() + " cases");
    }
}
