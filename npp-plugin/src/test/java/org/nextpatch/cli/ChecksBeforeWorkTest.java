package org.nextpatch.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.Fixtures;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Tensor;

import java.io.IOException;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Careless input is refused before any work, with one line, the right exit status (2 for a bad flag
 * or value, 1 for a bad input) and nothing written: outputs that are inputs, folders that cannot be
 * written, out-of-vocabulary or float tokens, labels beyond the class count, non-finite weights.
 */
public class ChecksBeforeWorkTest {
    @TempDir
    Path dir;

    private record Result(int code, String out, String err) {}

    private static Result run(String... args) {
        StringWriter o = new StringWriter();
        StringWriter e = new StringWriter();
        int code = NppCommandTest.run(o, e, args);
        return new Result(code, o.toString(), e.toString().strip());
    }

    private static void assertRefused(Result r, int code, String... words) {
        assertEquals(code, r.code(), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
        for (String w : words) {
            assertTrue(r.err().contains(w), "expected '" + w + "' in: " + r.err());
        }
    }

    private static String[] gpt(Path ckpt) {
        return new String[]{"--gpt-ckpt", ckpt.toString(), "--gpt-config", Fixtures.file("gpt-config.json").toString(),
                "--device", "cpu"};
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private Path copy(String fixture) throws IOException {
        Path p = dir.resolve(fixture);
        Files.copy(Fixtures.file(fixture), p);
        return p;
    }

    private String[] forward(Path ckpt, Path tokens, Path out) {
        return concat(concat(new String[]{"forward"}, gpt(ckpt)), "--tokens", tokens.toString(),
                "--labels", Fixtures.file("labels.npy").toString(), "--out", out.toString());
    }

    @Test
    void anOutputThatIsAnInputIsRefusedAndTheInputKept() throws IOException {
        Path ckpt = copy("gpt.pt");
        Path tokens = copy("tokens.npy");
        byte[] before = Files.readAllBytes(ckpt);
        assertRefused(run(forward(ckpt, tokens, ckpt)), 2, "--out", "--gpt-ckpt", "refusing to write over an input");
        assertArrayEquals(before, Files.readAllBytes(ckpt));
        // the same file by another spelling
        Path other = dir.resolve("sub/../tokens.npy");
        Files.createDirectories(dir.resolve("sub"));
        assertRefused(run(forward(ckpt, tokens, other)), 2, "--tokens");
        Path images = copy("images.npy");
        assertRefused(run("vq-encode", "--vq-ckpt", Fixtures.file("vq.pt").toString(), "--vq-config",
                Fixtures.file("vq-config.json").toString(), "--images", images.toString(), "--out", images.toString()), 2, "--images");
    }

    @Test
    void unwritableOutputsAreRefusedWithTheReason() throws IOException {
        Path ckpt = Fixtures.file("gpt.pt");
        Path tokens = Fixtures.file("tokens.npy");
        Path aDir = Files.createDirectories(dir.resolve("a-dir"));
        assertRefused(run(forward(ckpt, tokens, aDir)), 1, "is a directory");
        Path aFile = Files.writeString(dir.resolve("a-file"), "x");
        assertRefused(run(forward(ckpt, tokens, aFile.resolve("logits.npy"))), 1, "not a directory");
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(2, s.count(), "nothing written");
        }
    }

    @Test
    void checkpointsThatAreNotFilesAreNamed() throws IOException {
        Path aDir = Files.createDirectories(dir.resolve("ckpt.pt"));
        Path out = dir.resolve("logits.npy");
        assertRefused(run(forward(aDir, Fixtures.file("tokens.npy"), out)), 1, "is a directory");
        assertFalse(Files.exists(out));
    }

    @Test
    void nonFiniteWeightsAreRefusedUnlessAllowed() {
        Map<String, Object> root = new LinkedHashMap<>();
        @SuppressWarnings("unchecked")
        Map<String, Object> model = new LinkedHashMap<>((Map<String, Object>) ((Map<String, Object>)
                TorchCheckpoint.load(Fixtures.file("gpt.pt"))).get("model"));
        Tensor norm = (Tensor) model.get("norm.weight");
        float[] w = norm.toFloatArray();
        w[3] = Float.NaN;
        model.put("norm.weight", Tensor.ofFloats(norm.shape(), w));
        root.put("model", model);
        Path bad = dir.resolve("nan.pt");
        TorchCheckpoint.save(bad, root);
        Path out = dir.resolve("logits.npy");
        try {
            assertRefused(run(forward(bad, Fixtures.file("tokens.npy"), out)), 1, bad.toString(), "norm.weight", "NaN",
                    "--allow-non-finite");
            assertFalse(Files.exists(out));
            Result ok = run(concat(new String[]{"--allow-non-finite"}, forward(bad, Fixtures.file("tokens.npy"), out)));
            assertEquals(0, ok.code(), ok.err());
            Result inspect = run("inspect-ckpt", bad.toString());
            assertEquals(0, inspect.code(), inspect.err());
            assertTrue(inspect.out().contains("non-finite: ") && inspect.out().contains("'model.norm.weight'"), inspect.out());
            // the same weights through a Tribuo model file
            Path m = dir.resolve("nan.tribuo");
            Result imported = run("--allow-non-finite", "import", "--gpt-ckpt", bad.toString(), "--gpt-config",
                    Fixtures.file("gpt-config.json").toString(), "--out", m.toString());
            assertEquals(0, imported.code(), imported.err());
            TorchCheckpoint.allowNonFiniteByDefault(false);
            assertRefused(run("forward", "--tribuo-model", m.toString(), "--device", "cpu", "--tokens",
                    Fixtures.file("tokens.npy").toString(), "--labels", Fixtures.file("labels.npy").toString(), "--out",
                    out.toString() + "2"), 1, m.toString(), "norm.weight", "NaN");
        } finally {
            TorchCheckpoint.allowNonFiniteByDefault(false);
        }
    }

    /** A copy of the fixture's code directory with one file replaced. */
    private Path codesWith(String sub, String name, Tensor content) throws IOException {
        Path codes = dir.resolve("codes");
        for (String s : new String[]{"imagenet64_codes", "imagenet64_labels"}) {
            Path to = Files.createDirectories(codes.resolve(s));
            try (Stream<Path> files = Files.list(Fixtures.file("codes").resolve(s))) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    Files.copy(f, to.resolve(f.getFileName()));
                }
            }
        }
        Npy.write(codes.resolve(sub).resolve(name), content);
        return codes;
    }

    private String[] train(Path codes, Path results) {
        return new String[]{"train", "--code-path", codes.toString(), "--image-size", "64",
                "--gpt-config", Fixtures.file("gpt-config.json").toString(), "--epochs", "1",
                "--global-batch-size", "4", "--results-dir", results.toString(), "--device", "cpu"};
    }

    @Test
    void codeDirectoriesAreCheckedAgainstTheModelBeforeTraining() throws IOException {
        Tensor good = Npy.read(Fixtures.file("codes").resolve("imagenet64_codes/2.npy"));
        long[] v = good.toLongArray();
        v[5] = 256; // vocabulary is 256
        Path codes = codesWith("imagenet64_codes", "2.npy", Tensor.ofLongs(good.shape(), v));
        Path results = dir.resolve("results");
        assertRefused(run(train(codes, results)), 1, "imagenet64_codes/2.npy", "token id 256");
        assertFalse(Files.exists(results), "nothing written");
        assertRefused(run(concat(concat(new String[]{"score"}, gpt(Fixtures.file("gpt.pt"))), "--code-path", codes.toString(),
                "--image-size", "64")), 1, "imagenet64_codes/2.npy", "token id 256");
    }

    @Test
    void floatTokensAndLabelsAtTheClassCountAreNamed() throws IOException {
        Tensor good = Npy.read(Fixtures.file("codes").resolve("imagenet64_codes/1.npy"));
        double[] d = Arrays.stream(good.toLongArray()).asDoubleStream().toArray();
        Path codes = codesWith("imagenet64_codes", "1.npy", Tensor.ofDoubles(good.shape(), d));
        assertRefused(run(train(codes, dir.resolve("r1"))), 1, "imagenet64_codes/1.npy", "must be integers");

        Path labelled = dir.resolve("labelled");
        Files.move(codes, labelled);
        Npy.write(labelled.resolve("imagenet64_codes/1.npy"), good);
        Npy.write(labelled.resolve("imagenet64_labels/3.npy"), Tensor.ofLongs(new long[]{1}, new long[]{10})); // 10 classes
        assertRefused(run(concat(concat(new String[]{"score"}, gpt(Fixtures.file("gpt.pt"))), "--code-path", labelled.toString(),
                "--image-size", "64")), 1, "imagenet64_labels/3.npy", "label 10");
    }

    @Test
    void badValuesAreUsageErrors() {
        String[] sample = concat(concat(new String[]{"sample"}, gpt(Fixtures.file("gpt.pt"))), "--num-samples", "2",
                "--out", dir.resolve("s").toString());
        assertRefused(run(concat(sample, "--top-p", "2")), 2, "--top-p");
        assertRefused(run(concat(sample, "--temperature", "-1")), 2, "--temperature");
        assertRefused(run(concat(sample, "--cfg-scale", "0")), 2, "--cfg-scale");
        assertRefused(run(concat(sample, "--codebook-size", "512")), 2, "--codebook-size", "--gpt-config");
        assertRefused(run("bench-train", "--rounds", "0"), 2, "--rounds");
        assertRefused(run("bench-sample", "--gpt-model", "GPT-B", "--batch-sizes", "0"), 2, "--batch-sizes");
        assertFalse(Files.exists(dir.resolve("s")), "nothing written");
    }

    @Test
    void aReusedSampleFolderLosesTheImagesOfTheEarlierRun() throws IOException {
        Path out = Files.createDirectories(dir.resolve("s"));
        for (int i = 0; i < 5; i++) {
            Files.writeString(out.resolve(String.format("sample_%06d.png", i)), "old");
        }
        Npy.write(out.resolve("tokens.npy"), Tensor.ofLongs(new long[]{1}, new long[]{0}));
        Result r = run(concat(concat(new String[]{"sample"}, gpt(Fixtures.file("gpt.pt"))), "--num-samples", "2",
                "--greedy", "--out", out.toString()));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("replacing the results of an earlier run") && r.out().contains("removed 6 files of an earlier run"), r.out());
        try (Stream<Path> s = Files.list(out)) {
            assertEquals(2, s.filter(f -> !f.getFileName().toString().startsWith(".")).count(), "tokens.npy and labels.npy only");
        }
        assertEquals(DType.INT64, Npy.read(out.resolve("tokens.npy")).dtype());
    }

    private Path imageFolder(String name, int images) throws IOException {
        Path root = dir.resolve(name);
        for (int i = 0; i < images; i++) {
            int[] px = new int[20 * 20];
            Arrays.fill(px, 0x102030 * (i + 1));
            org.nextpatch.io.Images.writePng(root.resolve("c" + (i % 2)).resolve(i + ".png"),
                    new org.nextpatch.io.Images.Rgb(20, 20, px));
        }
        return root;
    }

    private static String[] extract(Path data, Path codes, String... more) {
        return extractWith(Fixtures.file("vq.pt"), data, codes, more);
    }

    private static String[] extractWith(Path vq, Path data, Path codes, String... more) {
        return concat(new String[]{"extract-codes", "--vq-ckpt", vq.toString(), "--vq-config",
                Fixtures.file("vq-config.json").toString(), "--device", "cpu", "--data-path", data.toString(),
                "--code-path", codes.toString(), "--image-size", "16"}, more);
    }

    @Test
    void aCodeDirectoryKeepsItsExtractionSettings() throws IOException {
        Path data = imageFolder("data", 4);
        Path codes = dir.resolve("codes");
        Result first = run(extract(data, codes));
        assertEquals(0, first.code(), first.err());
        assertTrue(Files.isRegularFile(codes.resolve("imagenet16_extraction.json")));
        org.nextpatch.data.ExtractionRecord.Completion done = org.nextpatch.data.ExtractionRecord.completion(codes, 16);
        assertEquals(new org.nextpatch.data.ExtractionRecord.Completion(true, 4, 4, 0), done);
        // the record gives the data source the tokenizer's codebook (64 codes), whatever the codes hold
        var recorded = (org.nextpatch.tribuo.CodeDirectorySource.CodeDirectorySourceProvenance)
                new org.nextpatch.tribuo.CodeDirectorySource(codes, 16).getProvenance();
        assertEquals(64, recorded.getVocabSize());
        assertRefused(run(extract(data, codes, "--ten-crop")), 1, "--code-path", "other settings", "--ten-crop");
        // the Spark job checks the same record on the driver, before Spark starts
        assertRefused(run(extract(data, codes, "--ten-crop", "--spark-master", "local[1]")), 1, "other settings");
        // another tokenizer: same bytes under another name is the same tokenizer; other bytes are not
        Path sameVq = copy("vq.pt");
        Result same = run(extractWith(sameVq, data, codes));
        assertEquals(0, same.code(), same.err());
        byte[] b = Files.readAllBytes(sameVq);
        b[b.length - 30] ^= 1; // in the zip's directory tail: a different file, still the same weights
        Files.write(sameVq, b);
        assertRefused(run(extractWith(sameVq, data, codes)), 1, "tokenizer");
        org.nextpatch.tribuo.CodeDirectorySource src = new org.nextpatch.tribuo.CodeDirectorySource(codes, 16);
        var prov = (org.nextpatch.tribuo.CodeDirectorySource.CodeDirectorySourceProvenance) src.getProvenance();
        assertEquals(org.nextpatch.data.ExtractionRecord.sha256(Fixtures.file("vq.pt")), prov.getTokenizerHash());
    }

    @Test
    void extractionRefusesCodesInsideTheDataAndALockedFolderAndNoReadableImage() throws IOException {
        Path data = imageFolder("data", 2);
        assertRefused(run(extract(data, data.resolve("codes"))), 2, "inside --data-path");
        assertRefused(run(extract(data, data)), 2, "inside --data-path");
        Path codes = dir.resolve("codes");
        try (org.nextpatch.util.DirLock held = org.nextpatch.util.DirLock.acquire(codes, "test")) {
            assertRefused(run(extract(data, codes)), 1, "another npp run is writing there");
        }
        assertFalse(Files.exists(codes.resolve("imagenet16_codes")), "nothing extracted while locked");
        Path broken = dir.resolve("broken");
        Files.createDirectories(broken.resolve("c0"));
        Files.writeString(broken.resolve("c0/a.png"), "not a png");
        Files.writeString(broken.resolve("c0/b.png"), "not a png either");
        assertRefused(run(extract(broken, dir.resolve("codes2"))), 1, "none of the 2 images could be read");
    }

    @Test
    void resumingATrainingRemovesTheLeftoversOfAKilledRunAndNothingElse() throws IOException {
        Path results = dir.resolve("results");
        Path tmp = Files.createDirectories(results.resolve("checkpoints")).resolve(".npp-tmp-0000002.pt.123456.tmp");
        Files.writeString(tmp, "half a checkpoint");
        Path notes = results.resolve(".notes.tmp");
        Path old = results.resolve("checkpoints/.0000002.pt.123456.tmp");
        Files.writeString(notes, "the user's own file");
        Files.writeString(old, "not a name this project makes");
        Result r = run(concat(train(Fixtures.file("codes"), results), "--max-steps", "1"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("left by an interrupted run"), r.out());
        assertFalse(Files.exists(tmp));
        assertEquals("the user's own file", Files.readString(notes));
        assertTrue(Files.exists(old));
    }

    @Test
    @org.junit.jupiter.api.Timeout(value = 120, threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
    void truncatedAndNonRegularImagesAreSkippedAndCounted() throws Exception {
        Path data = imageFolder("data", 4);
        byte[] jpg = org.nextpatch.io.ImagesTestAccess.encoded("jpg");
        Files.write(data.resolve("c0/cut.jpg"), Arrays.copyOf(jpg, jpg.length / 2));
        Path fifo = mkfifo(data.resolve("c1/pipe.png"));
        Path codes = dir.resolve("codes");
        Result r = run(extract(data, codes));
        assertEquals(0, r.code(), r.err());
        assertEquals(new org.nextpatch.data.ExtractionRecord.Completion(true, 6, 4, 2),
                org.nextpatch.data.ExtractionRecord.completion(codes, 16));
        String record = Files.readString(codes.resolve("imagenet16_extraction.json"));
        assertTrue(record.contains("cut.jpg") && record.contains(fifo.getFileName().toString()), record);
    }

    @Test
    void anUnfinishedExtractionIsRefusedForTrainingUnlessAllowed() throws IOException {
        Path codes = codesWith("imagenet64_labels", "0.npy", Npy.read(Fixtures.file("codes").resolve("imagenet64_labels/0.npy")));
        org.nextpatch.data.ExtractionRecord record = org.nextpatch.data.ExtractionRecord.of(
                new org.nextpatch.data.CodeExtractor.Settings(64, false, 1.0, codes, 4), Fixtures.file("vq.pt"));
        record.claim(codes, 6000); // as a run killed after it started
        long have;
        try (Stream<Path> s = Files.list(codes.resolve("imagenet64_labels"))) {
            have = s.count();
        }
        Path results = dir.resolve("results");
        assertRefused(run(concat(train(codes, results), "--max-steps", "1")), 1, codes.toString(), "did not finish",
                have + " of 6000 images", "--allow-incomplete-codes");
        assertFalse(Files.exists(results.resolve("checkpoints")), "nothing trained");
        Exception e = org.junit.jupiter.api.Assertions.assertThrows(org.nextpatch.util.NppException.class,
                () -> new org.nextpatch.tribuo.CodeDirectorySource(codes, 64));
        assertTrue(e.getMessage().contains("CodeDirectorySource.allowIncompleteCodes"), e.getMessage());
        assertEquals((int) have, new org.nextpatch.tribuo.CodeDirectorySource(codes, 64, false, 0, true).size());
        Result allowed = run(concat(train(codes, results), "--max-steps", "1", "--allow-incomplete-codes"));
        assertEquals(0, allowed.code(), allowed.err());
        record.finish(codes, (int) have, (int) have, java.util.List.of());
        Result finished = run(concat(train(codes, dir.resolve("results2")), "--max-steps", "1"));
        assertEquals(0, finished.code(), finished.err());
    }

    @Test
    @org.junit.jupiter.api.Timeout(value = 120, threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
    void aFifoIsRefusedAsLabelsAndAsTheLockFileInsteadOfHanging() throws Exception {
        Path fifo = mkfifo(dir.resolve("labels-idx1-ubyte"));
        Path idx = dir.resolve("images-idx3-ubyte");
        Files.write(idx, new byte[]{0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 7});
        assertRefused(run(extract(idx, dir.resolve("codes"), "--labels-path", fifo.toString())), 1, fifo.toString(),
                "FIFO", "not a regular file");
        Path results = Files.createDirectories(dir.resolve("results"));
        Path lock = mkfifo(results.resolve(org.nextpatch.util.DirLock.FILE));
        assertRefused(run(concat(train(Fixtures.file("codes"), results), "--max-steps", "1")), 1, lock.toString(),
                "FIFO", "not a regular lock file");
    }

    /** A named pipe: opening it blocks until another process opens its other end. */
    public static Path mkfifo(Path p) throws IOException, InterruptedException {
        Process proc = new ProcessBuilder("mkfifo", p.toString()).inheritIO().start();
        assertEquals(0, proc.waitFor());
        return p;
    }

    @Test
    void nanImagesAndFeaturesAreRefusedNotTurnedIntoResults() {
        float[] px = new float[2 * 3 * 16 * 16];
        px[100] = Float.NaN;
        Path images = dir.resolve("images.npy");
        Npy.write(images, Tensor.ofFloats(new long[]{2, 3, 16, 16}, px));
        Path codes = dir.resolve("codes.npy");
        assertRefused(run("vq-encode", "--vq-ckpt", Fixtures.file("vq.pt").toString(), "--vq-config",
                Fixtures.file("vq-config.json").toString(), "--images", images.toString(), "--out", codes.toString()),
                1, images.toString(), "NaN");
        assertFalse(Files.exists(codes));
        float[] f = new float[40];
        for (int i = 0; i < f.length; i++) {
            f[i] = i % 7;
        }
        Path ref = dir.resolve("ref.npy");
        Npy.write(ref, Tensor.ofFloats(new long[]{10, 4}, f));
        f[13] = Float.POSITIVE_INFINITY;
        Path sam = dir.resolve("sam.npy");
        Npy.write(sam, Tensor.ofFloats(new long[]{10, 4}, f));
        assertRefused(run("evaluate", "--ref-features", ref.toString(), "--sample-features", sam.toString()), 1,
                sam.toString(), "NaN or infinite", "row 3");
    }
}
