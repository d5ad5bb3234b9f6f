package org.nextpatch.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import ai.djl.Device;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.Fixtures;
import org.nextpatch.config.GptConfig;
import org.nextpatch.config.VqConfig;
import org.nextpatch.io.Images;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.model.GptWeights;
import org.nextpatch.model.VqModel;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Npz;
import org.nextpatch.tensor.Tensor;

import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code npp forward}, {@code score} and {@code sample} against the upstream fixture, and their errors. */
class GptCommandsTest {

    private static String[] gptArgs() {
        return new String[]{"--gpt-ckpt", Fixtures.file("gpt.pt").toString(),
                "--gpt-config", Fixtures.file("gpt-config.json").toString(), "--device", "cpu"};
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void forwardWritesTheFixtureLogits(@TempDir Path tmp) {
        Path out = tmp.resolve("logits.npy");
        StringWriter o = new StringWriter(), e = new StringWriter();
        int rc = NppCommandTest.run(o, e, concat(concat(new String[]{"forward"}, gptArgs()),
                "--tokens", Fixtures.file("tokens.npy").toString(), "--labels", Fixtures.file("labels.npy").toString(),
                "--out", out.toString(), "--batch-size", "3"));
        assertEquals(0, rc, e.toString());
        Tensor got = Npy.read(out);
        assertArrayEquals(new long[]{4, 16, 256}, got.shape());
        float[] ref = Npy.read(Fixtures.file("logits.npy")).toFloatArray();
        float[] g = got.toFloatArray();
        float max = 0, err = 0;
        for (int i = 0; i < ref.length; i++) {
            max = Math.max(max, Math.abs(ref[i]));
            err = Math.max(err, Math.abs(ref[i] - g[i]));
        }
        assertTrue(err <= 1e-4 * max, "max abs error " + err); // fixture tolerance
    }

    @Test
    void scorePrintsTheFixtureLossLast() throws Exception {
        JsonNode ref = new ObjectMapper().readTree(Fixtures.file("codes/scores.json").toFile());
        StringWriter o = new StringWriter(), e = new StringWriter();
        int rc = NppCommandTest.run(o, e, concat(concat(new String[]{"score"}, gptArgs()),
                "--code-path", Fixtures.file("codes").toString(), "--image-size", "64", "--patch-side", "2"));
        assertEquals(0, rc, e.toString());
        List<String> lines = o.toString().strip().lines().toList();
        String last = lines.get(lines.size() - 1);
        assertTrue(last.matches("loss: [0-9.eE+-]+"), last);
        double loss = Double.parseDouble(last.substring("loss: ".length()));
        double expected = ref.get("score_patch_side_2").asDouble();
        assertEquals(expected, loss, 1e-5 * expected);
    }

    @Test
    void sampleGreedyWithGuidanceGivesTheFixtureTokens(@TempDir Path tmp) {
        StringWriter o = new StringWriter(), e = new StringWriter();
        int rc = NppCommandTest.run(o, e, concat(concat(new String[]{"sample"}, gptArgs()),
                "--classes", "3,0,9", "--cfg-scale", "2", "--greedy", "--seed", "1", "--engine", "djl",
                "--out", tmp.toString()));
        assertEquals(0, rc, e.toString());
        assertArrayEquals(Npy.read(Fixtures.file("greedy-cfg2.npy")).toLongArray(), Npy.read(tmp.resolve("tokens.npy")).toLongArray());
        assertArrayEquals(new long[]{3, 0, 9}, Npy.read(tmp.resolve("labels.npy")).toLongArray());
        assertTrue(o.toString().contains("images/s"), o.toString());
    }

    /**
     * With a tokenizer: PNGs, grid.png and samples.npz whose arr_0 is the upstream uint8 conversion of
     * the decoded tokens. A random GPT whose vocabulary and grid fit the fixture tokenizer (64 codes,
     * 8x8 grid for 16 px at downsampling 2) is written as an upstream checkpoint first.
     */
    @Test
    void sampleWithTokenizerWritesImages(@TempDir Path tmp) throws Exception {
        GptConfig c = new GptConfig(32, 1, 2, 64, 3, 64, 1, 64, null, 1e-5, 10000, 0, 0, 0, 0, 0);
        Path cfg = tmp.resolve("gpt.json");
        Files.writeString(cfg, c.toJson().toString());
        LinkedHashMap<String, Tensor> sd = GptWeights.init(c, 4);
        float[] head = new float[64 * 32];
        java.util.SplittableRandom r = new java.util.SplittableRandom(2);
        for (int i = 0; i < head.length; i++) head[i] = (float) r.nextGaussian();
        sd.put("output.weight", Tensor.ofFloats(new long[]{64, 32}, head));
        Path ckpt = tmp.resolve("gpt.pt");
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("model", sd);
        TorchCheckpoint.save(ckpt, root);
        Path out = tmp.resolve("samples");
        StringWriter o = new StringWriter(), e = new StringWriter();
        int rc = NppCommandTest.run(o, e, "sample", "--gpt-ckpt", ckpt.toString(), "--gpt-config", cfg.toString(),
                "--downsample-size", "2", "--device", "cpu", "--num-samples", "3", "--cfg-scale", "1.5", "--top-k", "10",
                "--seed", "3", "--batch-size", "2", "--vq-ckpt", Fixtures.file("vq.pt").toString(), "--vq-config", Fixtures.file("vq-config.json").toString(),
                "--out", out.toString());
        assertEquals(0, rc, e.toString());
        long[] tokens = Npy.read(out.resolve("tokens.npy")).toLongArray();
        Tensor arr = Npz.read(out.resolve("samples.npz")).get("arr_0");
        assertArrayEquals(new long[]{3, 16, 16, 3}, arr.shape());
        try (VqModel vq = VqModel.load(Fixtures.file("vq.pt"), VqConfig.fromJson(Fixtures.file("vq-config.json")), Device.cpu())) {
            Tensor expected = Images.toUint8Nhwc(vq.decode(Tensor.ofLongs(new long[]{3, 64}, tokens)));
            assertTrue(expected.contentEquals(arr));
        }
        for (int i = 0; i < 3; i++) {
            assertTrue(Files.isRegularFile(out.resolve(String.format("sample_%06d.png", i))));
        }
        assertTrue(Files.isRegularFile(out.resolve("grid.png")));
        long[] labels = Npy.read(out.resolve("labels.npy")).toLongArray();
        for (long l : labels) assertTrue(l >= 0 && l < 3);
    }

    /** --use-ema reads the 'ema' container; prefixes 'module.' are stripped (upstream DDP checkpoints). */
    @Test
    void useEmaSelectsTheEmaWeights(@TempDir Path tmp) {
        LinkedHashMap<String, Tensor> fixture = org.nextpatch.io.StateDicts.select(TorchCheckpoint.load(Fixtures.file("gpt.pt")), false);
        GptConfig c = GptConfig.fromJson(Fixtures.file("gpt-config.json"));
        LinkedHashMap<String, Tensor> ema = new LinkedHashMap<>();
        fixture.forEach((k, v) -> ema.put("module." + k, v));
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("model", GptWeights.init(c, 5)); // zero head: every logit 0
        root.put("ema", ema);
        Path ckpt = tmp.resolve("ema.pt");
        TorchCheckpoint.save(ckpt, root);
        for (boolean useEma : new boolean[]{true, false}) {
            Path out = tmp.resolve("logits-" + useEma + ".npy");
            String[] args = {"forward", "--gpt-ckpt", ckpt.toString(), "--gpt-config", Fixtures.file("gpt-config.json").toString(),
                    "--device", "cpu", "--tokens", Fixtures.file("tokens.npy").toString(),
                    "--labels", Fixtures.file("labels.npy").toString(), "--out", out.toString()};
            StringWriter o = new StringWriter(), e = new StringWriter();
            assertEquals(0, NppCommandTest.run(o, e, useEma ? concat(args, "--use-ema") : args), e.toString());
            float[] got = Npy.read(out).toFloatArray();
            float[] ref = Npy.read(Fixtures.file("logits.npy")).toFloatArray();
            float maxDiff = 0;
            for (int i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i] - got[i]));
            if (useEma) {
                assertTrue(maxDiff <= 1e-3, "ema weights give the fixture logits, diff " + maxDiff);
            } else {
                for (float g : got) assertEquals(0f, g); // the 'model' weights: zero output head
            }
        }
    }

    private static String oneLineError(int expectedRc, String... args) {
        StringWriter o = new StringWriter(), e = new StringWriter();
        int rc = NppCommandTest.run(o, e, args);
        String err = e.toString().strip();
        assertEquals(expectedRc, rc, err);
        assertEquals(1, err.lines().count(), err);
        return err;
    }

    @Test
    void errorsAreOneClearLine(@TempDir Path tmp) throws Exception {
        String unknown = oneLineError(2, "forward", "--gpt-ckpt", Fixtures.file("gpt.pt").toString(), "--gpt-model", "GPT-Q",
                "--tokens", Fixtures.file("tokens.npy").toString(), "--labels", Fixtures.file("labels.npy").toString(),
                "--out", tmp.resolve("x.npy").toString());
        assertTrue(unknown.contains("unknown GPT model 'GPT-Q'"), unknown);
        String cls = oneLineError(2, concat(concat(new String[]{"sample"}, gptArgs()), "--classes", "3,10", "--out", tmp.toString()));
        assertTrue(cls.contains("class 10 is out of range 0..9"), cls);
        Path bad = tmp.resolve("bad.npy");
        Npy.write(bad, Tensor.ofLongs(new long[]{2, 15}, new long[30]));
        String shape = oneLineError(1, concat(concat(new String[]{"forward"}, gptArgs()), "--tokens", bad.toString(),
                "--labels", Fixtures.file("labels.npy").toString(), "--out", tmp.resolve("y.npy").toString()));
        assertTrue(shape.contains("expected integer [B, 16], got INT64 [2, 15]"), shape);
        String size = oneLineError(2, concat(concat(new String[]{"score"}, gptArgs()), "--code-path", Fixtures.file("codes").toString(),
                "--image-size", "256"));
        assertTrue(size.contains("--image-size 256") && size.contains("generates 4x4"), size);
        String both = oneLineError(2, "score", "--gpt-ckpt", Fixtures.file("gpt.pt").toString(), "--code-path", "c");
        assertTrue(both.contains("--gpt-model") && both.contains("--gpt-config"), both);
        String wrongModel = oneLineError(1, "score", "--gpt-ckpt", Fixtures.file("gpt.pt").toString(), "--gpt-model", "GPT-B",
                "--image-size", "64", "--device", "cpu", "--code-path", Fixtures.file("codes").toString());
        assertTrue(wrongModel.contains("mis-shaped"), wrongModel);
    }
}
