package org.nextpatch.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nextpatch.cli.NppCommandTest;
import org.nextpatch.config.GptConfig;
import org.nextpatch.config.VqConfig;
import org.nextpatch.io.StateDicts;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.onnx.GptOnnxExporter;
import org.nextpatch.onnx.OnnxSampler;
import org.nextpatch.onnx.OnnxVqDecoder;
import org.nextpatch.onnx.VqDecoderOnnxExporter;
import org.nextpatch.sample.DjlSampler;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Tensor;

import java.io.IOException;
import java.io.StringWriter;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Settings the shared fixture does not cover, against outputs of the upstream LlamaGen modules run under
 * PyTorch 1.13 (test resources {@code upstream/}, written by its {@code generate.py}): 8x8 and 6x6 token
 * grids (patch sides 1, 2, 4, 8 and 1, 2, 3, 6), head dim 64, {@code ffn_dim_multiplier}, {@code rope_base},
 * {@code norm_eps}; greedy generation with guidance 1, 2, 3 with {@code cfg_interval} 5, and 0.5 (no
 * guidance, as upstream); tokenizers with three levels, one residual block, channel changes and a codebook
 * that is not L2-normalised; and {@code extract_codes_c2i}'s image pipeline (ImageFolder order, RGB
 * conversion of greyscale, RGBA, palette and JPEG files, ADM crop, TenCrop or flip). Tolerances are the fixture README's: 1e-4 of the largest magnitude for
 * logits and pixels, 1e-5 relative for losses, exact for tokens and codes (the generator prints the
 * smallest top-1/top-2 logit margin, 6.7e-4, and nearest-code margin, 3.7e-4).
 */
class UpstreamCrossCheckTest {
    @TempDir
    Path tmp;

    static Path dir(String name) {
        try {
            return Paths.get(UpstreamCrossCheckTest.class.getResource("/upstream/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt-8x8", "gpt-6x6"})
    void gptLogitsLossesAndGreedyTokens(String name) throws IOException {
        Path d = dir(name);
        GptConfig cfg = GptConfig.fromJson(d.resolve("gpt-config.json"));
        long[] classes = Npy.read(d.resolve("classes.npy")).toLongArray();
        int t = cfg.blockSize();
        try (Gpt gpt = Gpt.fromCheckpoint(d.resolve("gpt.pt"), cfg, false, Device.cpu());
             NDManager m = gpt.manager().newSubManager()) {
            NDArray tokens = NdTensors.toNd(m, Npy.read(d.resolve("tokens.npy")));
            NDArray labels = NdTensors.toNd(m, Npy.read(d.resolve("labels.npy")));
            VqModelTest.assertClose(Npy.read(d.resolve("logits.npy")).toFloatArray(),
                    gpt.logits(tokens, labels, 1, false).toFloatArray(), name + " logits");

            JsonNode losses = new ObjectMapper().readTree(d.resolve("losses.json").toFile());
            assertTrue(losses.size() >= 4, "a loss for every divisor of the grid side");
            for (Iterator<Map.Entry<String, JsonNode>> it = losses.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                int p = Integer.parseInt(e.getKey().substring("loss_patch_side_".length()));
                double want = e.getValue().asDouble();
                assertEquals(want, gpt.loss(tokens, labels, p, false).getFloat(), 1e-5 * want, name + " " + e.getKey());
            }

            GptOnnxExporter exporter = new GptOnnxExporter(cfg.withoutDropout(), gpt.stateDict(), false);
            exporter.exportAll(tmp, false);
            try (OnnxSampler onnx = new OnnxSampler(tmp, cfg.withoutDropout(), OnnxSampler.Options.cpu())) {
                for (SamplingSettings st : new SamplingSettings[]{SamplingSettings.greedy(1.0), SamplingSettings.greedy(2.0),
                        new SamplingSettings(3.0, 5, 1.0, 0, 1.0, true), SamplingSettings.greedy(0.5)}) {
                    String file = st.cfgInterval() >= 0 ? "greedy-cfg3-int5.npy"
                            : "greedy-cfg" + (st.cfgScale() == 0.5 ? "0.5" : String.valueOf((int) st.cfgScale())) + ".npy";
                    long[] want = Npy.read(d.resolve(file)).toLongArray();
                    String what = name + " " + file;
                    assertArrayEquals(want, new DjlSampler(gpt, st).sample(classes, 0, classes.length), what + " (DJL)");
                    long[][] loop = onnx.generate(classes, st, 0, 0, classes.length);
                    long[][] steps = onnx.generateStepwise(classes, st, 0, 0, classes.length);
                    for (int b = 0; b < classes.length; b++) {
                        long[] row = Arrays.copyOfRange(want, b * t, (b + 1) * t);
                        assertArrayEquals(row, loop[b], what + " (ONNX Loop graph), image " + b);
                        assertArrayEquals(row, steps[b], what + " (ONNX step graph), image " + b);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"vq-3-levels", "vq-no-l2"})
    void vqCodesAndDecodedPixels(String name) {
        Path d = dir(name);
        VqConfig cfg = VqConfig.fromJson(d.resolve("vq-config.json"));
        Tensor want = Npy.read(d.resolve("codes.npy"));
        try (VqModel m = VqModel.load(d.resolve("vq.pt"), cfg, Device.cpu())) {
            Tensor codes = m.encode(Npy.read(d.resolve("images.npy")));
            assertArrayEquals(want.shape(), codes.shape(), name + " code shape");
            assertArrayEquals(want.toLongArray(), codes.toLongArray(), name + " codes");
            VqModelTest.assertClose(Npy.read(d.resolve("decoded.npy")).toFloatArray(), m.decode(want).toFloatArray(), name + " decoded (DJL)");
        }
        Map<String, Tensor> w = StateDicts.select(TorchCheckpoint.load(d.resolve("vq.pt")), false);
        new VqDecoderOnnxExporter(cfg, w).export(tmp);
        long[] flat = want.toLongArray();
        int n = (int) want.shape()[0], hw = (int) want.shape()[1];
        long[][] rows = new long[n][];
        for (int b = 0; b < n; b++) {
            rows[b] = Arrays.copyOfRange(flat, b * hw, (b + 1) * hw);
        }
        Tensor decoded = Npy.read(d.resolve("decoded.npy"));  // [N, 3, H, W]
        float[] x = decoded.toFloatArray();
        int hh = (int) decoded.shape()[2], ww = (int) decoded.shape()[3];
        try (OnnxVqDecoder onnx = new OnnxVqDecoder(tmp)) {
            Tensor px = onnx.decode(rows, n);  // uint8 [N, H, W, 3]
            assertArrayEquals(new long[]{n, hh, ww, 3}, px.shape());
            byte[] got = px.toByteArray();
            int worst = 0;
            for (int b = 0; b < n; b++) {
                for (int c = 0; c < 3; c++) {
                    for (int i = 0; i < hh * ww; i++) {
                        // the upstream conversion uint8(clamp(127.5 x + 128)); float noise may cross one integer
                        int ref = (int) Math.max(0, Math.min(255, 127.5 * x[(b * 3 + c) * hh * ww + i] + 128));
                        worst = Math.max(worst, Math.abs(ref - (got[(b * hh * ww + i) * 3 + c] & 0xff)));
                    }
                }
            }
            assertTrue(worst <= 1, name + " ONNX pixels differ from the upstream conversion by " + worst);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"ten-crop", "flip"})
    void extractCodesLikeUpstream(String kind) throws IOException {
        Path d = dir("extract");
        Path vq = dir("vq-3-levels");
        List<String> args = new ArrayList<>(List.of("extract-codes", "--vq-ckpt", vq.resolve("vq.pt").toString(),
                "--vq-config", vq.resolve("vq-config.json").toString(), "--data-path", d.resolve("images").toString(),
                "--code-path", tmp.toString(), "--image-size", "24"));
        if (kind.equals("ten-crop")) {
            args.addAll(List.of("--ten-crop", "--crop-range", "1.1"));
        }
        StringWriter err = new StringWriter();
        assertEquals(0, NppCommandTest.run(new StringWriter(), err, args.toArray(String[]::new)), err.toString());
        int files = 0;
        for (String sub : new String[]{"imagenet24_codes", "imagenet24_labels"}) {
            try (Stream<Path> want = Files.list(d.resolve(kind).resolve(sub))) {
                for (Path f : want.sorted().toList()) {
                    Tensor w = Npy.read(f);
                    Tensor g = Npy.read(tmp.resolve(sub).resolve(f.getFileName()));
                    assertArrayEquals(w.shape(), g.shape(), kind + " " + sub + "/" + f.getFileName());
                    assertArrayEquals(w.toLongArray(), g.toLongArray(), kind + " " + sub + "/" + f.getFileName());
                    files++;
                }
            }
        }
        assertEquals(10, files, "five images, codes and labels");
    }
}
