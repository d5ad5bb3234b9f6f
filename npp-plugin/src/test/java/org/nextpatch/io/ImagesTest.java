package org.nextpatch.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.io.Images.Rgb;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Spec 6.5 (upstream pixel conversion), PNG/grid writing, and the odd-image conversions of spec 8. */
class ImagesTest {

    static Path res(String name) throws Exception {
        return Paths.get(ImagesTest.class.getResource("/pil/" + name).toURI());
    }

    @Test
    void upstreamConversionTruncatesAfterPlus128() {
        // x -> 127.5x + 128, clamped, truncated: -1 -> 0.5 -> 0; 0 -> 128; 1 -> 255.5 -> 255;
        // 0.5 -> 191.75 -> 191; -0.9 -> 13.25 -> 13; 2 -> 255; -3 -> 0; 0.999 -> 255.3725 -> 255
        float[] v = {-1f, 0f, 1f, 0.5f, -0.9f, 2f, -3f, 0.999f};
        int[] want = {0, 128, 255, 191, 13, 255, 0, 255};
        // one image 1x8 per channel, three channels with the same values shifted by position
        float[] nchw = new float[3 * 8];
        for (int c = 0; c < 3; c++) {
            System.arraycopy(v, 0, nchw, c * 8, 8);
        }
        Tensor u8 = Images.toUint8Nhwc(Tensor.ofFloats(new long[]{1, 3, 1, 8}, nchw));
        assertEquals(DType.UINT8, u8.dtype());
        assertArrayEquals(new long[]{1, 1, 8, 3}, u8.shape());
        byte[] b = u8.toByteArray();
        for (int p = 0; p < 8; p++) {
            for (int c = 0; c < 3; c++) {
                assertEquals(want[p], b[p * 3 + c] & 0xFF, "value " + v[p]);
            }
        }
    }

    @Test
    void pngRoundTripAndGrid(@TempDir Path dir) throws Exception {
        byte[] px = new byte[3 * 4 * 5 * 3];
        for (int i = 0; i < px.length; i++) {
            px[i] = (byte) (i * 7);
        }
        Tensor nhwc = Tensor.ofBytes(DType.UINT8, new long[]{3, 4, 5, 3}, px);
        Images.writePngs(dir, "img", nhwc);
        Rgb back = Images.readRgb(dir.resolve("img000002.png"));
        assertArrayEquals(Images.fromNhwc(nhwc, 2).pixels(), back.pixels());
        Path grid = dir.resolve("grid.png");
        Images.writeGrid(grid, nhwc, new long[]{7, 2, 7}, List.of("a", "b", "shirt", "d", "e", "f", "g", "bag"));
        BufferedImage g = ImageIO.read(grid.toFile());
        // two rows (classes 2 and 7), cells enlarged to 64 px high (scale 16): rows of 64 + padding
        assertEquals(2 * (64 + 2) + 2, g.getHeight());
        assertTrue(g.getWidth() >= 2 * (80 + 2) + 2);
        // the only image of class 2 (index 1) is in the first row, first cell, right after the label
        int labelW = g.getWidth() - 2 - 2 * (80 + 2);
        int x0 = labelW + 2;
        assertEquals(Images.fromNhwc(nhwc, 1).pixels()[0], g.getRGB(x0, 2) & 0xFFFFFF);
        assertEquals(Images.fromNhwc(nhwc, 2).pixels()[0], g.getRGB(x0 + 82, 2 + 66) & 0xFFFFFF);
        assertEquals(1, Files.list(dir).filter(p -> p.getFileName().toString().startsWith("grid")).count());
    }

    @Test
    void oddImagesAreConvertedLikePil() throws Exception {
        Rgb grey = Images.readRgb(res("odd_grey.png"));
        for (int i = 0; i < 63; i++) {
            int v = (i * 37) % 256;
            assertEquals(v << 16 | v << 8 | v, grey.pixels()[i]);
        }
        assertArrayEquals(Images.readRgb(res("odd_palette_rgb.png")).pixels(), Images.readRgb(res("odd_palette.png")).pixels());
        assertArrayEquals(Images.readRgb(res("odd_rgba_rgb.png")).pixels(), Images.readRgb(res("odd_rgba.png")).pixels());
        // 16-bit greyscale: scaled to 8 bits (i * 1000 / 65535 * 255, rounded)
        Rgb g16 = Images.readRgb(res("odd_grey16.png"));
        for (int i = 0; i < 63; i++) {
            int v = (int) Math.round(i * 1000 * 255.0 / 65535);
            assertEquals(v, g16.get(i % 9, i / 9, 0), 1, "pixel " + i);
        }
        // CMYK JPEG (Adobe inverted inks, written by PIL): matches PIL's decode (0 levels here; 1 allowed for
        // IDCT rounding differences between JDK versions)
        Rgb cmyk = Images.readRgb(res("odd_cmyk.jpg"));
        Rgb want = Images.readRgb(res("odd_cmyk_rgb.png"));
        for (int y = 0; y < 16; y++) {
            for (int x = 0; x < 16; x++) {
                for (int c = 0; c < 3; c++) {
                    assertEquals(want.get(x, y, c), cmyk.get(x, y, c), 1, "(" + x + "," + y + ") channel " + c);
                }
            }
        }
    }

    @Test
    void jpegDecodingMatchesPil() throws Exception {
        // Java's JPEG reader and PIL's libjpeg (integer IDCT, fancy chroma upsampling) agree exactly
        // on these files, so extraction from JPEG datasets sees PIL's pixels.
        assertArrayEquals(Images.readRgb(res("jpeg_420_q75_pil.png")).pixels(), Images.readRgb(res("jpeg_420_q75.jpg")).pixels());
        assertArrayEquals(Images.readRgb(res("jpeg_grey_q80_pil.png")).pixels(), Images.readRgb(res("jpeg_grey_q80.jpg")).pixels());
    }

    @Test
    void unreadableFilesAreNamed(@TempDir Path dir) throws Exception {
        Path bad = dir.resolve("broken.jpg");
        Files.write(bad, new byte[]{(byte) 0xFF, (byte) 0xD8, 1, 2, 3});
        NppException e = assertThrows(NppException.class, () -> Images.readRgb(bad));
        assertTrue(e.getMessage().contains("broken.jpg"));
        Path txt = dir.resolve("notes.png");
        Files.writeString(txt, "hello");
        e = assertThrows(NppException.class, () -> Images.readRgb(txt));
        assertTrue(e.getMessage().contains("notes.png"));
    }

    /** A noisy 64x64 image in a format, whole. */
    static byte[] encoded(String format) throws Exception {
        BufferedImage img = new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB);
        java.util.Random r = new java.util.Random(1);
        for (int y = 0; y < 64; y++) {
            for (int x = 0; x < 64; x++) {
                img.setRGB(x, y, r.nextInt());
            }
        }
        java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
        assertTrue(ImageIO.write(img, format, b));
        return b.toByteArray();
    }

    @Test
    void truncatedImagesAreRefusedNotFilledWithGrey(@TempDir Path dir) throws Exception {
        for (String format : List.of("jpg", "png", "bmp")) {
            byte[] whole = encoded(format);
            Path ok = Files.write(dir.resolve("whole." + format), whole);
            assertEquals(64, Images.readRgb(ok).width());
            Path half = Files.write(dir.resolve("half." + format), java.util.Arrays.copyOf(whole, whole.length / 2));
            NppException e = assertThrows(NppException.class, () -> Images.readRgb(half), format);
            assertTrue(e.getMessage().startsWith(half.toString()), e.getMessage());
            if (format.equals("jpg")) {
                assertTrue(e.getMessage().contains("image file is truncated"), e.getMessage());
            }
        }
        // all image data there, only the end-of-image marker missing: PIL reads it too
        byte[] jpg = encoded("jpg");
        Path noEoi = Files.write(dir.resolve("no-eoi.jpg"), java.util.Arrays.copyOf(jpg, jpg.length - 2));
        assertEquals(64, Images.readRgb(noEoi).height());
    }

    @Test
    void thePixelLimitIsReadFromTheHeaderBeforeDecoding(@TempDir Path dir) throws Exception {
        // a PNG header declaring 9460 x 9460 (just over PIL's 89,478,485 pixels) and no image data:
        // refused for its size, not for its missing data, and without allocating anything
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8 + 25);
        b.put(new byte[]{(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10}).putInt(13).put("IHDR".getBytes(java.nio.charset.StandardCharsets.US_ASCII))
                .putInt(9460).putInt(9460).put((byte) 8).put((byte) 2).put((byte) 0).put((byte) 0).put((byte) 0);
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(b.array(), 12, 17);
        b.putInt((int) crc.getValue());
        Path big = Files.write(dir.resolve("big.png"), b.array());
        NppException e = assertThrows(NppException.class, () -> Images.readRgb(big));
        assertTrue(e.getMessage().contains("9460x9460") && e.getMessage().contains("89,478,485-pixel limit"), e.getMessage());
        assertEquals(89_478_485L, Images.MAX_PIXELS);
    }

    @Test
    @org.junit.jupiter.api.Timeout(value = 60, threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
    void aFifoNamedLikeAnImageIsRefusedWithoutOpeningIt(@TempDir Path dir) throws Exception {
        Path fifo = org.nextpatch.cli.ChecksBeforeWorkTest.mkfifo(dir.resolve("pipe.png"));
        NppException e = assertThrows(NppException.class, () -> Images.readRgb(fifo));
        assertEquals(fifo + " is not a regular file: a FIFO (named pipe)", e.getMessage());
    }
}
