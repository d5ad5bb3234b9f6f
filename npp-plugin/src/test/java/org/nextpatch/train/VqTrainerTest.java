package org.nextpatch.train;

import ai.djl.Device;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.cli.NppCommand;
import org.nextpatch.config.VqConfig;
import org.nextpatch.data.CodeExtractor;
import org.nextpatch.io.Images;
import org.nextpatch.io.Images.Rgb;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.model.VqModel;
import org.nextpatch.tensor.Tensor;

import java.io.DataOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** train-vq: a few steps on tiny data lower the reconstruction loss; checkpoints load and resume. */
class VqTrainerTest {

    static final VqConfig TINY = new VqConfig(16, 4, 32, List.of(1, 2), 32, 1, true, 0.0);

    /** Eight 8x8 images: smooth colour gradients, easy to reconstruct. */
    static CodeExtractor.Source tinySource() {
        return new CodeExtractor.Source() {
            @Override
            public int size() {
                return 8;
            }

            @Override
            public String describe(int i) {
                return "tiny[" + i + "]";
            }

            @Override
            public Rgb read(int i) {
                int[] px = new int[64];
                for (int p = 0; p < 64; p++) {
                    int x = p % 8;
                    int y = p / 8;
                    px[p] = ((x * 30 + i * 10) & 0xFF) << 16 | ((y * 30) & 0xFF) << 8 | ((i * 30) & 0xFF);
                }
                return new Rgb(8, 8, px);
            }

            @Override
            public long label(int i) {
                return i % 2;
            }

            @Override
            public List<String> classNames() {
                return List.of();
            }
        };
    }

    @Test
    void fewStepsLowerTheReconstructionLoss(@TempDir Path dir) {
        Path ckpt = dir.resolve("vq.pt");
        try (VqModel m = VqModel.initialise(TINY, 1, Device.cpu())) {
            VqTrainer.Settings s = new VqTrainer.Settings(24, 4, 3e-3, 0.25, 8, 5, 0);
            VqTrainer.Result r = VqTrainer.train(m, tinySource(), s, ckpt, null);
            // windows of 6 steps: the mean MSE of the last window must be clearly below the first's (seen
            // over five seeds of initialisation and batches: 0.48 to 0.80 of it; 0.75 for these)
            assertTrue(r.lastReconstruction() < 0.85 * r.firstReconstruction(),
                    "reconstruction MSE " + r.firstReconstruction() + " -> " + r.lastReconstruction());
            // the checkpoint is in the upstream layout and carries its configuration
            Object root = TorchCheckpoint.load(ckpt);
            assertTrue(root instanceof Map<?, ?> map && map.get("model") instanceof Map<?, ?> && Long.valueOf(24).equals(map.get("steps")));
            assertEquals(TINY, VqModel.recordedConfig(root));
            try (VqModel back = VqModel.load(ckpt, null, Device.cpu())) {
                Tensor x = Tensor.ofFloats(new long[]{1, 3, 8, 8}, new float[192]);
                assertArrayEquals(m.encode(x).toLongArray(), back.encode(x).toLongArray());
                assertEquals(VqModel.CODEBOOK_USED_LENGTH, back.stateDict().get(VqModel.CODEBOOK_USED).numel());
            }
        }
    }

    @Test
    void commandLineTrainsFromIdxAndResumes(@TempDir Path dir) throws Exception {
        Path images = dir.resolve("tiny-images-idx3-ubyte");
        try (DataOutputStream o = new DataOutputStream(Files.newOutputStream(images))) {
            o.writeInt(0x00000803);
            o.writeInt(4);
            o.writeInt(8);
            o.writeInt(8);
            for (int i = 0; i < 4 * 64; i++) {
                o.writeByte((i * 5) & 0xFF);
            }
        }
        Path cfg = dir.resolve("tiny.json");
        TINY.writeJson(cfg);
        Path out = dir.resolve("run");
        String[] args = {"train-vq", "--data-path", images.toString(), "--vq-config", cfg.toString(), "--out", out.toString(),
            "--image-size", "8", "--steps", "3", "--batch-size", "2", "--device", "cpu", "--save-every", "2"};
        assertEquals(0, NppCommand.execute(args));
        assertTrue(Files.exists(out.resolve("reconstructions.png")));
        assertEquals(TINY, VqConfig.fromJson(out.resolve("vq-config.json")));
        String[] more = args.clone();
        more[10] = "5";
        String[] resumed = java.util.Arrays.copyOf(more, more.length + 1);
        resumed[more.length] = "--resume";
        assertEquals(0, NppCommand.execute(resumed));
        Map<?, ?> root = (Map<?, ?>) TorchCheckpoint.load(out.resolve("vq.pt"));
        assertEquals(5L, root.get("steps"));
        // the optimizer state came along: torch's step counter equals the total steps
        assertTrue(root.get("optimizer") instanceof Map<?, ?>);
        Images.readRgb(out.resolve("reconstructions.png"));
    }
}
