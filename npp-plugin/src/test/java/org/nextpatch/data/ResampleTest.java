package org.nextpatch.data;

import org.junit.jupiter.api.Test;
import org.nextpatch.io.Images;
import org.nextpatch.io.Images.Rgb;

import java.nio.file.Path;
import java.nio.file.Paths;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Spec section 8: the ADM centre crop, PIL's BOX/BICUBIC resampling and TenCrop. Reference images in
 * src/test/resources/pil were written by PIL 9.4 (generate.py there); the resampling must match them
 * exactly (0 levels of difference). Further checks are independent computations on simple images.
 */
class ResampleTest {

    static Rgb pil(String name) throws Exception {
        Path p = Paths.get(ResampleTest.class.getResource("/pil/" + name).toURI());
        return Images.readRgb(p);
    }

    @Test
    void admCenterCropMatchesPilExactly() throws Exception {
        int[][] cases = {{67, 45, 16}, {28, 28, 32}, {50, 50, 24}, {20, 31, 16}, {131, 70, 33}};
        for (int[] c : cases) {
            Rgb in = pil("in_" + c[0] + "x" + c[1] + ".png");
            Rgb want = pil("adm_" + c[0] + "x" + c[1] + "_to_" + c[2] + ".png");
            Rgb got = Resample.admCenterCrop(in, c[2]);
            assertEquals(c[2], got.width());
            assertArrayEquals(want.pixels(), got.pixels(), c[0] + "x" + c[1] + " -> " + c[2]);
        }
    }

    @Test
    void plainResizesMatchPilExactly() throws Exception {
        Rgb in = pil("in_67x45.png");
        assertArrayEquals(pil("bicubic_67x45_to_23x50.png").pixels(),
                Resample.resize(in, 23, 50, Resample.Filter.BICUBIC).pixels());
        assertArrayEquals(pil("box_67x45_to_33x22.png").pixels(),
                Resample.resize(in, 33, 22, Resample.Filter.BOX).pixels());
    }

    @Test
    void boxHalvingAveragesTwoByTwoBlocks() {
        // Independent check: box-halving an even image averages each 2x2 block (rounded half up).
        int w = 6, h = 4;
        int[] px = new int[w * h];
        for (int i = 0; i < px.length; i++) {
            int v = (i * 37) % 256;
            px[i] = v << 16 | (255 - v) << 8 | (i * 5);
        }
        Rgb in = new Rgb(w, h, px);
        Rgb out = Resample.resize(in, 3, 2, Resample.Filter.BOX);
        for (int y = 0; y < 2; y++) {
            for (int x = 0; x < 3; x++) {
                for (int c = 0; c < 3; c++) {
                    int sum = in.get(2 * x, 2 * y, c) + in.get(2 * x + 1, 2 * y, c) + in.get(2 * x, 2 * y + 1, c)
                            + in.get(2 * x + 1, 2 * y + 1, c);
                    assertEquals((int) Math.floor(sum / 4.0 + 0.5), out.get(x, y, c), 1, "(" + x + "," + y + ")");
                }
            }
        }
    }

    @Test
    void bicubicKeepsConstantsAndUpsamplesRampsLinearly() {
        int[] px = new int[10 * 10];
        java.util.Arrays.fill(px, 0x7F10E0);
        Rgb flat = Resample.resize(new Rgb(10, 10, px), 17, 6, Resample.Filter.BICUBIC);
        for (int p : flat.pixels()) {
            assertEquals(0x7F10E0, p);
        }
        // Keys' cubic reproduces linear functions exactly away from the borders: upsample a ramp x*20 by 2
        // and compare with the ramp at the output pixel centres, (xx + 0.5) / 2 - 0.5 in input coordinates.
        int[] ramp = new int[10];
        for (int x = 0; x < 10; x++) {
            ramp[x] = (x * 20) << 16;
        }
        Rgb up = Resample.resize(new Rgb(10, 1, ramp), 20, 1, Resample.Filter.BICUBIC);
        for (int xx = 4; xx < 16; xx++) {
            double want = 20 * ((xx + 0.5) / 2 - 0.5);
            assertEquals(want, up.get(xx, 0, 0), 0.5 + 1e-9, "x " + xx);
        }
    }

    @Test
    void tenCropTakesCornersCentreAndFlips() {
        // Each pixel encodes its coordinates, so every crop identifies its own offset.
        int w = 7, h = 6, s = 4;
        int[] px = new int[w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                px[y * w + x] = x << 16 | y << 8;
            }
        }
        Rgb[] crops = Resample.tenCrop(new Rgb(w, h, px), s);
        int[][] origins = {{0, 0}, {3, 0}, {0, 2}, {3, 2}, {2, 1}}; // centre: round(3/2)=2 (half to even), round(2/2)=1
        for (int i = 0; i < 5; i++) {
            assertEquals(origins[i][0], crops[i].get(0, 0, 0), "crop " + i + " x");
            assertEquals(origins[i][1], crops[i].get(0, 0, 1), "crop " + i + " y");
            // crops 5..9 are the same five taken from the mirrored image: their left column is
            // original column w-1-x0 of the mirrored image's origin
            assertEquals(w - 1 - origins[i][0], crops[5 + i].get(0, 0, 0), "flipped crop " + i + " x");
            assertEquals(origins[i][1], crops[5 + i].get(0, 0, 1), "flipped crop " + i + " y");
        }
    }
}
