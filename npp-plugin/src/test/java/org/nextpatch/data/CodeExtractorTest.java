package org.nextpatch.data;

import ai.djl.Device;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.Fixtures;
import org.nextpatch.cli.NppCommand;
import org.nextpatch.config.VqConfig;
import org.nextpatch.io.Images;
import org.nextpatch.io.Images.Rgb;
import org.nextpatch.model.VqModel;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Tensor;

import java.io.DataOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Spec section 8: ImageFolder order, the upstream output layout, augmentations, unreadable files,
 * resuming, and IDX input. Uses the fixture tokenizer (downsampling 2: 16 px crops -> 64 codes).
 */
class CodeExtractorTest {
    static VqModel model;

    @BeforeAll
    static void load() {
        model = VqModel.load(Fixtures.file("vq.pt"), VqConfig.fromJson(Fixtures.file("vq-config.json")), Device.cpu());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static Rgb pattern(int w, int h, int seed) {
        int[] px = new int[w * h];
        for (int i = 0; i < px.length; i++) {
            int x = i % w;
            int y = i / w;
            px[i] = ((x * 9 + seed * 50) & 0xFF) << 16 | ((y * 13 + seed * 20) & 0xFF) << 8 | ((x * y + seed) & 0xFF);
        }
        return new Rgb(w, h, px);
    }

    /** Folder: classes "Z", "a_cls", "b_cls" (code-point order), nested folder, a broken JPEG, a text file. */
    static Path makeFolder(Path root) throws Exception {
        Images.writePng(root.resolve("b_cls/img2.png"), pattern(20, 18, 1));
        Images.writePng(root.resolve("b_cls/img10.png"), pattern(33, 17, 2)); // "img10" < "img2" as strings
        Images.writePng(root.resolve("a_cls/x.png"), pattern(16, 16, 3));
        Images.writePng(root.resolve("a_cls/sub/y.PNG"), pattern(40, 25, 4)); // nested, upper-case extension
        Files.write(root.resolve("a_cls/broken.jpg"), new byte[]{(byte) 0xFF, (byte) 0xD8, 0, 1, 2});
        Files.writeString(root.resolve("a_cls/readme.txt"), "not an image");
        Images.writePng(root.resolve("Z/z.png"), pattern(17, 30, 5));
        return root;
    }

    @Test
    void folderOrderIsImageFolders(@TempDir Path dir) throws Exception {
        ImageFolder f = ImageFolder.scan(makeFolder(dir.resolve("data")));
        assertEquals(List.of("Z", "a_cls", "b_cls"), f.classes());
        List<String> names = f.entries().stream().map(e -> f.root().relativize(e.file()).toString() + ":" + e.label()).toList();
        assertEquals(List.of("Z/z.png:0", "a_cls/broken.jpg:1", "a_cls/x.png:1", "a_cls/sub/y.PNG:1",
                "b_cls/img10.png:2", "b_cls/img2.png:2"), names);
    }

    @Test
    void layoutCodesLabelsUnreadableAndResume(@TempDir Path dir) throws Exception {
        Path data = makeFolder(dir.resolve("data"));
        Path out = dir.resolve("codes");
        CodeExtractor.Settings s = new CodeExtractor.Settings(16, false, 1.1, out, 4);
        ImageFolder folder = ImageFolder.scan(data);
        CodeExtractor.Result r = CodeExtractor.run(model, CodeExtractor.of(folder), s);
        assertEquals(5, r.written());
        assertEquals(List.of(data.resolve("a_cls/broken.jpg").toString()), r.unreadable());
        long[] labels = {0, -1, 1, 1, 2, 2};
        for (int i = 0; i < 6; i++) {
            Path c = out.resolve("imagenet16_codes/" + i + ".npy");
            if (i == 1) {
                assertFalse(Files.exists(c), "unreadable image leaves its index unused");
                continue;
            }
            Tensor codes = Npy.read(c);
            assertArrayEquals(new long[]{1, 2, 64}, codes.shape());
            Tensor label = Npy.read(out.resolve("imagenet16_labels/" + i + ".npy"));
            assertArrayEquals(new long[]{1}, label.shape());
            assertEquals(labels[i], label.toLongArray()[0]);
            // augmentation 0 = ADM crop, 1 = its mirror image; encoded independently here
            Rgb adm = Resample.admCenterCrop(Images.readRgb(folder.entries().get(i).file()), 16);
            float[] x = new float[2 * 3 * 256];
            CodeExtractor.toChw(adm, x, 0);
            CodeExtractor.toChw(Resample.flipHorizontal(adm), x, 768);
            assertArrayEquals(model.encode(Tensor.ofFloats(new long[]{2, 3, 16, 16}, x)).toLongArray(), codes.toLongArray());
        }
        assertEquals(List.of("Z", "a_cls", "b_cls"), Files.readAllLines(out.resolve("classes.txt")));
        // resume: a deleted file is redone, the others are left alone
        Files.delete(out.resolve("imagenet16_codes/4.npy"));
        Path kept = out.resolve("imagenet16_codes/0.npy");
        Files.setLastModifiedTime(kept, FileTime.fromMillis(1000));
        CodeExtractor.Result again = CodeExtractor.run(model, CodeExtractor.of(folder), s);
        assertEquals(1, again.written());
        assertEquals(4, again.alreadyThere());
        assertEquals(1000, Files.getLastModifiedTime(kept).toMillis());
        assertTrue(Files.exists(out.resolve("imagenet16_codes/4.npy")));
    }

    @Test
    void pixelsAreNormalisedToMinusOneOne() {
        float[] x = new float[3];
        CodeExtractor.toChw(new Rgb(1, 1, new int[]{0x00FF80}), x, 0);
        assertEquals(-1f, x[0]);
        assertEquals(1f, x[1]);
        assertEquals(128 / 127.5f - 1, x[2], 1e-6f);
    }

    @Test
    void tenCropFromIdxThroughTheCommandLine(@TempDir Path dir) throws Exception {
        // a 3-image IDX set, 12x12 greyscale, labels 4, 0, 9
        Path images = dir.resolve("tiny-images-idx3-ubyte");
        Path labels = dir.resolve("tiny-labels-idx1-ubyte");
        try (DataOutputStream o = new DataOutputStream(Files.newOutputStream(images))) {
            o.writeInt(0x00000803);
            o.writeInt(3);
            o.writeInt(12);
            o.writeInt(12);
            for (int i = 0; i < 3 * 144; i++) {
                o.writeByte((i * 7) & 0xFF);
            }
        }
        try (DataOutputStream o = new DataOutputStream(Files.newOutputStream(labels))) {
            o.writeInt(0x00000801);
            o.writeInt(3);
            o.write(new byte[]{4, 0, 9});
        }
        Path out = dir.resolve("out");
        int rc = NppCommand.execute("extract-codes", "--vq-ckpt", Fixtures.file("vq.pt").toString(),
                "--vq-config", Fixtures.file("vq-config.json").toString(), "--device", "cpu",
                "--data-path", images.toString(), "--labels-path", labels.toString(),
                "--code-path", out.toString(), "--image-size", "16", "--ten-crop", "--crop-range", "1.1");
        assertEquals(0, rc);
        long[] want = {4, 0, 9};
        IdxImages src = IdxImages.read(images, labels);
        for (int i = 0; i < 3; i++) {
            Tensor codes = Npy.read(out.resolve("imagenet16_codes/" + i + ".npy"));
            assertArrayEquals(new long[]{1, 10, 64}, codes.shape());
            assertEquals(want[i], Npy.read(out.resolve("imagenet16_labels/" + i + ".npy")).toLongArray()[0]);
            // greyscale replicated to three equal channels
            Rgb g = src.read(i);
            assertEquals(g.get(3, 5, 0), g.get(3, 5, 2));
        }
        // the ADM crop for ten crops is int(16 * 1.1) = 17 px
        assertEquals(17, new CodeExtractor.Settings(16, true, 1.1, out, 1).admSize());
        assertEquals(268, new CodeExtractor.Settings(256, true, 1.05, out, 1).admSize());
        // usage error: labels for a folder
        assertEquals(2, NppCommand.execute("extract-codes", "--vq-ckpt", Fixtures.file("vq.pt").toString(),
                "--data-path", dir.toString(), "--labels-path", labels.toString(), "--code-path", out.toString(),
                "--image-size", "16"));
    }
}
