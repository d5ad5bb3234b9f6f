package org.nextpatch.model;

import ai.djl.Device;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.Fixtures;
import org.nextpatch.cli.NppCommand;
import org.nextpatch.config.VqConfig;
import org.nextpatch.io.StateDicts;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.nio.file.Path;
import java.util.LinkedHashMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Spec section 7 against the llamagen-tiny fixture (written by upstream PyTorch): vq.pt encodes
 * images.npy to codes.npy exactly, and decodes codes.npy to decoded.npy within 1e-4 of the largest
 * magnitude (the fixture README's tolerance).
 */
class VqModelTest {

    static VqConfig fixtureConfig() {
        return VqConfig.fromJson(Fixtures.file("vq-config.json"));
    }

    static void assertClose(Tensor want, Tensor got, String what) {
        assertArrayEquals(want.shape(), got.shape(), what + " shape");
        assertClose(want.toFloatArray(), got.toFloatArray(), what);
    }

    /** Max abs difference within 1e-4 of the largest reference magnitude (the fixture README's tolerance). */
    static void assertClose(float[] w, float[] g, String what) {
        assertEquals(w.length, g.length, what + " length");
        double mag = 0;
        double diff = 0;
        for (int i = 0; i < w.length; i++) {
            mag = Math.max(mag, Math.abs(w[i]));
            diff = Math.max(diff, Math.abs(w[i] - g[i]));
        }
        assertTrue(diff <= 1e-4 * mag, what + ": max difference " + diff + " > 1e-4 * " + mag);
    }

    @Test
    void fixtureCodesAndDecodedPixels() {
        try (VqModel m = VqModel.load(Fixtures.file("vq.pt"), fixtureConfig(), Device.cpu())) {
            Tensor codes = m.encode(Npy.read(Fixtures.file("images.npy")));
            Tensor want = Npy.read(Fixtures.file("codes.npy"));
            assertArrayEquals(want.shape(), codes.shape());
            assertArrayEquals(want.toLongArray(), codes.toLongArray());
            assertClose(Npy.read(Fixtures.file("decoded.npy")), m.decode(want), "decoded");
        }
    }

    @Test
    void nonSquareImagesRoundTripTheirGrid() {
        // two fixture images side by side (16 x 32): the code grid is 8 x 16, and each half of it equals
        // the codes of the single image only away from the seam (the receptive fields overlap there),
        // so only shapes and the decode contract are checked here.
        Tensor img = Npy.read(Fixtures.file("images.npy"));
        float[] a = img.toFloatArray();
        float[] wide = new float[3 * 16 * 32];
        for (int c = 0; c < 3; c++) {
            for (int y = 0; y < 16; y++) {
                System.arraycopy(a, (c * 16 + y) * 16, wide, (c * 16 + y) * 32, 16);
                System.arraycopy(a, ((3 + c) * 16 + y) * 16, wide, (c * 16 + y) * 32 + 16, 16);
            }
        }
        try (VqModel m = VqModel.load(Fixtures.file("vq.pt"), fixtureConfig(), Device.cpu())) {
            Tensor codes = m.encode(Tensor.ofFloats(new long[]{1, 3, 16, 32}, wide));
            assertArrayEquals(new long[]{1, 128}, codes.shape());
            assertArrayEquals(new long[]{1, 3, 16, 32}, m.decode(codes, 8, 16).shape());
            assertThrows(NppException.class, () -> m.decode(codes)); // 128 is not a square
        }
    }

    @Test
    void vq16LayoutMatchesSpecKeysAndSize() {
        // spec 7 names these keys; the total is the ~72M parameters of LlamaGen's VQ-16 tokenizer
        // (71,883,403 counted from the upstream module definitions, codebook included).
        java.util.Map<String, long[]> shapes = VqModel.parameterShapes(VqConfig.vq16());
        assertArrayEquals(new long[]{256, 128, 1, 1}, shapes.get("encoder.conv_blocks.2.res.0.nin_shortcut.weight"));
        assertArrayEquals(new long[]{512}, shapes.get("encoder.mid.1.proj_out.bias"));
        assertArrayEquals(new long[]{512, 512, 1, 1}, shapes.get("decoder.conv_blocks.0.attn.2.k.weight"));
        assertArrayEquals(new long[]{128, 128, 3, 3}, shapes.get("decoder.conv_blocks.3.upsample.conv.weight"));
        assertArrayEquals(new long[]{16384, 8}, shapes.get("quantize.embedding.weight"));
        assertArrayEquals(new long[]{8, 256, 1, 1}, shapes.get("quant_conv.weight"));
        assertEquals(false, shapes.containsKey("decoder.conv_blocks.4.upsample.conv.weight"));
        long n = 0;
        for (long[] s : shapes.values()) {
            n += Tensor.numel(s);
        }
        assertEquals(71_883_403L, n);
    }

    @Test
    void exportedStateDictIsTheLoadedOne() {
        LinkedHashMap<String, Tensor> sd = StateDicts.select(TorchCheckpoint.load(Fixtures.file("vq.pt")), false);
        try (VqModel m = VqModel.fromStateDict(fixtureConfig(), sd, Device.cpu(), "vq.pt")) {
            LinkedHashMap<String, Tensor> back = m.stateDict();
            assertEquals(sd.keySet().stream().toList(), back.keySet().stream().toList(), "upstream key order");
            for (String k : sd.keySet()) {
                if (!k.equals(VqModel.CODEBOOK_USED)) {
                    assertTrue(sd.get(k).contentEquals(back.get(k)), k);
                }
            }
        }
    }

    @Test
    void strictLoadingNamesMissingAndMisShapedKeys() {
        LinkedHashMap<String, Tensor> sd = StateDicts.select(TorchCheckpoint.load(Fixtures.file("vq.pt")), false);
        sd.remove("decoder.conv_out.bias");
        sd.put("quant_conv.weight", Tensor.ofFloats(new long[]{8, 32, 1, 1}, new float[256]));
        sd.put("encoder.extra.weight", Tensor.ofFloats(new long[]{1}, new float[1]));
        NppException e = assertThrows(NppException.class,
                () -> VqModel.fromStateDict(fixtureConfig(), sd, Device.cpu(), "vq.pt"));
        String msg = e.getMessage();
        assertTrue(msg.contains("decoder.conv_out.bias") && msg.contains("quant_conv.weight [8, 32, 1, 1]")
                && msg.contains("encoder.extra.weight") && msg.startsWith("vq.pt"), msg);
        // The default configuration (VQ-16) does not fit the tiny checkpoint: a clear error, not a crash.
        e = assertThrows(NppException.class, () -> VqModel.load(Fixtures.file("vq.pt"), null, Device.cpu()));
        assertTrue(e.getMessage().contains("missing") || e.getMessage().contains("wrong shape"), e.getMessage());
    }

    @Test
    void commandLineEncodeDecode(@TempDir Path dir) {
        Path codes = dir.resolve("codes.npy");
        Path decoded = dir.resolve("decoded.npy");
        String ckpt = Fixtures.file("vq.pt").toString();
        String cfg = Fixtures.file("vq-config.json").toString();
        assertEquals(0, NppCommand.execute("vq-encode", "--vq-ckpt", ckpt, "--vq-config", cfg,
                "--images", Fixtures.file("images.npy").toString(), "--out", codes.toString(), "--batch-size", "1", "--device", "cpu"));
        assertArrayEquals(Npy.read(Fixtures.file("codes.npy")).toLongArray(), Npy.read(codes).toLongArray());
        assertEquals(0, NppCommand.execute("vq-decode", "--vq-ckpt", ckpt, "--vq-config", cfg,
                "--codes", Fixtures.file("codes.npy").toString(), "--out", decoded.toString()));
        assertClose(Npy.read(Fixtures.file("decoded.npy")), Npy.read(decoded), "vq-decode");
        // a code outside the codebook is a one-line error (exit 1)
        Path bad = dir.resolve("bad.npy");
        Npy.write(bad, Tensor.ofLongs(new long[]{1, 4}, new long[]{0, 1, 64, 2}));
        assertEquals(1, NppCommand.execute("vq-decode", "--vq-ckpt", ckpt, "--vq-config", cfg,
                "--codes", bad.toString(), "--out", decoded.toString()));
    }
}
