package org.nextpatch.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A quick end-to-end run of {@code npp train-feature-net} on part of the shipped test split. */
class TrainFeatureNetCommandTest {

    @Test
    void quickRunWritesAModelThatEvaluateUses(@TempDir Path dir) throws Exception {
        // a data directory with only the test split: the command must say it trains on part of it
        for (String f : new String[]{"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}) {
            try (InputStream in = getClass().getResourceAsStream("/org/nextpatch/data/fashion-mnist/" + f)) {
                Files.copy(in, dir.resolve(f));
            }
        }
        Path model = dir.resolve("fn.onnx");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream old = System.out;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        int rc;
        try {
            rc = NppCommand.execute("train-feature-net", "--data", dir.toString(), "--out", model.toString(),
                    "--epochs", "2", "--train-limit", "2000", "--check-images", "600", "--min-accuracy", "0");
        } finally {
            System.setOut(old);
        }
        String text = out.toString(StandardCharsets.UTF_8);
        assertEquals(0, rc, text);
        assertTrue(text.contains("trained on the first 8000 images of the test split"), text);
        assertTrue(text.contains("test accuracy: "), text);
        double acc = Double.parseDouble(text.replaceAll("(?s).*test accuracy: ([0-9.]+).*", "$1"));
        assertTrue(acc > 0.5, "2,000 images, two epochs already learn much of the task (chance: 0.1): " + acc);
        double halves = Double.parseDouble(text.replaceAll("(?s).*FID test half 1 vs test half 2: ([0-9.e+-]+).*", "$1"));
        double noise = Double.parseDouble(text.replaceAll("(?s).*FID test half 1 vs uniform noise: ([0-9.e+-]+).*", "$1"));
        assertTrue(halves * 5 < noise, "real halves are much closer than real vs noise: " + halves + " vs " + noise);
        assertTrue(Files.isRegularFile(dir.resolve("fn.json")));
        assertTrue(text.contains("export check"), text);
    }
}
