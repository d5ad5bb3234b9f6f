package org.nextpatch.eval;

import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Npz;
import org.nextpatch.util.NppException;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * The images of an evaluation batch, uint8 {@code [N, H, W, C]}, read in row ranges so that 50,000
 * samples of 256x256 (9.8 GB) never sit in memory at once.
 */
public interface ImageBatch {

    /** Names the source in messages (a file name). */
    String name();

    long count();

    int height();

    int width();

    int channels();

    /** Images {@code [start, start + n)} as uint8 NHWC bytes. */
    byte[] read(long start, int n);

    /**
     * The {@code arr_0} array of an ADM-style {@code .npz} (a greyscale {@code [N, H, W]} array
     * counts as one channel). The reader stays owned by the caller.
     *
     * @throws NppException when {@code arr_0} is missing, not uint8 or not [N, H, W, C]
     */
    static ImageBatch ofNpz(Path file, Npz.Reader reader) {
        if (!reader.names().contains(Npz.SAMPLES)) {
            throw new NppException(file + ": no '" + Npz.SAMPLES + "' array of images (has " + reader.names() + ")");
        }
        Npy.Header h = reader.header(Npz.SAMPLES);
        if (h.dtype() != DType.UINT8) {
            throw new NppException(file + ": images '" + Npz.SAMPLES + "' must be uint8, got " + h.dtype());
        }
        long[] s = h.shape();
        if ((s.length != 4 && s.length != 3) || (s.length == 4 && (s[3] < 1 || s[3] > 4)) || s[0] == 0) {
            throw new NppException(file + ": images '" + Npz.SAMPLES
                    + "' must have shape [N, H, W, C] (NHWC, C = 1 or 3), got " + Arrays.toString(s));
        }
        int c = s.length == 4 ? Math.toIntExact(s[3]) : 1;
        return new ImageBatch() {
            public String name() { return file.toString(); }
            public long count() { return s[0]; }
            public int height() { return Math.toIntExact(s[1]); }
            public int width() { return Math.toIntExact(s[2]); }
            public int channels() { return c; }
            public byte[] read(long start, int n) { return reader.readRows(Npz.SAMPLES, start, n).toByteArray(); }
        };
    }

    /** Images held in memory, uint8 NHWC. */
    static ImageBatch of(String name, byte[] nhwc, int n, int height, int width, int channels) {
        int size = height * width * channels;
        if ((long) n * size != nhwc.length) {
            throw new IllegalArgumentException(name + ": " + n + " images of " + height + "x" + width + "x" + channels
                    + " need " + (long) n * size + " bytes, got " + nhwc.length);
        }
        return new ImageBatch() {
            public String name() { return name; }
            public long count() { return n; }
            public int height() { return height; }
            public int width() { return width; }
            public int channels() { return channels; }
            public byte[] read(long start, int k) {
                return Arrays.copyOfRange(nhwc, (int) start * size, ((int) start + k) * size);
            }
        };
    }
}
