package org.nextpatch.io;

import org.junit.jupiter.api.Test;
import org.nextpatch.Fixtures;
import org.nextpatch.config.GptConfig;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Loads the checkpoints written by real PyTorch 1.13 (the llamagen-tiny fixture, see Fixtures). */
class TorchCheckpointFixtureTest {

    @Test
    void gptCheckpointKeysShapesAndArgs() {
        Object root = TorchCheckpoint.load(Fixtures.file("gpt.pt"));
        Map<?, ?> top = assertInstanceOf(Map.class, root);
        assertEquals(java.util.List.of("model", "steps", "args"), java.util.List.copyOf(top.keySet()));
        assertEquals(7L, top.get("steps"));

        // args is an argparse.Namespace: an inert record whose state holds the fields
        PickleObject args = assertInstanceOf(PickleObject.class, top.get("args"));
        assertEquals("argparse", args.module());
        assertEquals("Namespace", args.name());
        assertEquals("custom", args.get("gpt_model"));
        assertEquals("c2i", args.get("gpt_type"));
        assertEquals(256L, args.get("vocab_size"));
        assertEquals(300L, args.get("epochs"));

        // shapes follow from gpt-config.json: d 64, 2 layers, vocab 256, 10 classes + null, FFN 256
        LinkedHashMap<String, Tensor> sd = StateDicts.select(root, false);
        assertEquals(18, sd.size());
        assertArrayEquals(new long[]{11, 64}, sd.get("cls_embedding.embedding_table.weight").shape());
        assertArrayEquals(new long[]{256, 64}, sd.get("tok_embeddings.weight").shape());
        assertArrayEquals(new long[]{192, 64}, sd.get("layers.1.attention.wqkv.weight").shape());
        assertArrayEquals(new long[]{64, 256}, sd.get("layers.0.feed_forward.w2.weight").shape());
        assertArrayEquals(new long[]{64}, sd.get("norm.weight").shape());
        assertArrayEquals(new long[]{256, 64}, sd.get("output.weight").shape());
        long total = 0;
        for (Tensor t : sd.values()) {
            assertEquals(DType.FLOAT32, t.dtype());
            total += t.numel();
        }
        int d = 64, ffn = 256, vocab = 256, layers = 2;
        long expected = 11L * d + (long) vocab * d + layers * (3L * d * d + d * d + 3L * ffn * d + 2L * d) + d + (long) vocab * d;
        assertEquals(expected, total);

        // values: first and last elements of tok_embeddings.weight, read from the raw storage bytes with Python's struct
        float[] tok = sd.get("tok_embeddings.weight").toFloatArray();
        assertEquals(0.009297882206737995f, tok[0], 0f);
        assertEquals(0.013042882084846497f, tok[1], 0f);
        assertEquals(-0.002896720077842474f, tok[tok.length - 1], 0f);
    }

    @Test
    void gptCheckpointMatchesConfigFile() {
        GptConfig cfg = GptConfig.fromJson(Fixtures.file("gpt-config.json"));
        LinkedHashMap<String, Tensor> sd = StateDicts.select(TorchCheckpoint.load(Fixtures.file("gpt.pt")), false);
        assertArrayEquals(new long[]{cfg.vocabSize(), cfg.dim()}, sd.get("tok_embeddings.weight").shape());
        assertArrayEquals(new long[]{cfg.ffnHidden(), cfg.dim()}, sd.get("layers.0.feed_forward.w1.weight").shape());
    }

    @Test
    void vqCheckpoint() {
        Object root = TorchCheckpoint.load(Fixtures.file("vq.pt"));
        LinkedHashMap<String, Tensor> sd = StateDicts.select(root, false);
        assertEquals(208, sd.size());
        assertArrayEquals(new long[]{32, 3, 3, 3}, sd.get("encoder.conv_in.weight").shape());
        assertArrayEquals(new long[]{64, 8}, sd.get("quantize.embedding.weight").shape());
        assertArrayEquals(new long[]{65536}, sd.get("quantize.codebook_used").shape());
        assertArrayEquals(new long[]{8, 64, 1, 1}, sd.get("quant_conv.weight").shape());
        long total = sd.values().stream().mapToLong(Tensor::numel).sum();
        // element count computed independently with a Python pickle walk over vq.pt
        assertEquals(1061611L, total);
        // the codebook is L2-normalised (vq-config.json): every row has unit norm (float32 rounding 1e-5)
        float[] cb = sd.get("quantize.embedding.weight").toFloatArray();
        for (int r = 0; r < 64; r++) {
            double s = 0;
            for (int c = 0; c < 8; c++) {
                s += cb[r * 8 + c] * cb[r * 8 + c];
            }
            assertEquals(1.0, Math.sqrt(s), 1e-5, "row " + r);
        }
    }

    @Test
    void trainedCheckpointDiffersSlightlyFromStart() {
        Map<?, ?> top = assertInstanceOf(Map.class, TorchCheckpoint.load(Fixtures.file("train/after-3-steps.pt")));
        assertEquals(3L, top.get("steps"));
        LinkedHashMap<String, Tensor> after = StateDicts.select(top, false);
        LinkedHashMap<String, Tensor> before = StateDicts.select(TorchCheckpoint.load(Fixtures.file("gpt.pt")), false);
        assertEquals(before.keySet(), after.keySet());
        for (String k : before.keySet()) {
            assertArrayEquals(before.get(k).shape(), after.get(k).shape(), k);
        }
        // value read from the raw storage bytes with Python's struct
        assertEquals(0.009296488016843796f, after.get("tok_embeddings.weight").toFloatArray()[0], 0f);
        assertTrue(after.get("tok_embeddings.weight").data().isReadOnly());
    }
}
