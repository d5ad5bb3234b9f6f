package org.nextpatch.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.Fixtures;
import org.nextpatch.sample.Uniforms;
import org.nextpatch.tensor.Npy;

import java.io.StringWriter;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** {@code npp sample} streams its results batch by batch; the batch size changes nothing in them. */
class SampleStreamingTest {

    private static long[][] sample(Path out, int batch) {
        StringWriter o = new StringWriter();
        StringWriter e = new StringWriter();
        int rc = NppCommandTest.run(o, e, "sample", "--gpt-ckpt", Fixtures.file("gpt.pt").toString(), "--gpt-config",
                Fixtures.file("gpt-config.json").toString(), "--device", "cpu", "--num-samples", "23", "--seed", "5",
                "--cfg-scale", "2", "--top-k", "20", "--batch-size", String.valueOf(batch), "--out", out.toString());
        assertEquals(0, rc, e.toString());
        return new long[][]{Npy.read(out.resolve("tokens.npy")).toLongArray(), Npy.read(out.resolve("labels.npy")).toLongArray()};
    }

    @Test
    void batchesGiveTheSameSamplesAsOneRun(@TempDir Path dir) {
        long[][] one = sample(dir.resolve("one"), 23);
        long[][] small = sample(dir.resolve("small"), 4);
        assertArrayEquals(one[0], small[0]);
        assertArrayEquals(one[1], small[1]);
        assertArrayEquals(Uniforms.labels(5, 23, 10), one[1]);
        assertEquals(23 * 16, one[0].length);
    }

    @Test
    void theLabelStreamDrawsWhatTheWholeDrawDoes() {
        Uniforms.LabelStream s = new Uniforms.LabelStream(11, 1000);
        long[] a = s.next(7);
        long[] b = s.next(13);
        long[] all = Uniforms.labels(11, 20, 1000);
        long[] joined = new long[20];
        System.arraycopy(a, 0, joined, 0, 7);
        System.arraycopy(b, 0, joined, 7, 13);
        assertArrayEquals(all, joined);
    }
}
