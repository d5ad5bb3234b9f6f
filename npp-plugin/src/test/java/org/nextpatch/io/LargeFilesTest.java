package org.nextpatch.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Npz;
import org.nextpatch.tensor.Tensor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Files over 4 GB (ZIP64) through the real code paths: a 4.5 GB checkpoint saved and loaded
 * (memory-mapped: the load takes well under a second and almost no heap) and a 4.3 GB sample batch
 * written row by row and read back by row range. Needs about 9 GB of disk and a minute or two, so it
 * only runs when asked: {@code -Dnpp.largeFiles=DIR} (a scratch directory; the files are deleted).
 */
@EnabledIfSystemProperty(named = "npp.largeFiles", matches = ".+")
class LargeFilesTest {

    @Test
    void checkpointAndNpzOver4GB() throws IOException {
        Path dir = Files.createTempDirectory(Files.createDirectories(Path.of(System.getProperty("npp.largeFiles"))), "npp-large");
        try {
            long bytes = 1_500_000_000L; // per tensor; three of them make a 4.5 GB checkpoint
            Map<String, Object> model = new LinkedHashMap<>();
            for (int i = 0; i < 3; i++) {
                // sources are sparse files (zeros) with a marker in the last float: no 4.5 GB in memory
                Path src = dir.resolve("src" + i);
                try (FileChannel ch = FileChannel.open(src, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                    ch.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(i + 0.5f).flip(), bytes - 4);
                    model.put("w" + i, new Tensor(DType.FLOAT32, new long[]{bytes / 4000, 1000},
                            ch.map(FileChannel.MapMode.READ_ONLY, 0, bytes)));
                }
            }
            Map<String, Object> root = new LinkedHashMap<>();
            root.put("model", model);
            root.put("steps", 1L);
            Path ck = dir.resolve("big.pt");
            long t0 = System.nanoTime();
            TorchCheckpoint.save(ck, root);
            long t1 = System.nanoTime();
            Runtime rt = Runtime.getRuntime();
            long heapBefore = rt.totalMemory() - rt.freeMemory();
            Map<String, Tensor> sd = StateDicts.select(TorchCheckpoint.load(ck), false);
            long t2 = System.nanoTime();
            long heapAfter = rt.totalMemory() - rt.freeMemory();
            for (int i = 0; i < 3; i++) {
                ByteBuffer d = sd.get("w" + i).data();
                assertEquals(i + 0.5f, d.getFloat(d.limit() - 4), 0f);
                assertEquals(0f, d.getFloat(0), 0f);
            }
            System.out.printf(Locale.ROOT, "checkpoint %.2f GB: save %.1f s, load %.3f s, heap growth %d MB%n",
                    Files.size(ck) / 1e9, (t1 - t0) / 1e9, (t2 - t1) / 1e9, Math.max(0, heapAfter - heapBefore) >> 20);
            Files.delete(ck);

            Path npz = dir.resolve("samples.npz");
            int n = 22000;
            long t3 = System.nanoTime();
            try (Npz.Writer w = new Npz.Writer(npz)) {
                w.begin(Npz.SAMPLES, DType.UINT8, n, 256, 256, 3);
                byte[] rows = new byte[100 * 256 * 256 * 3];
                for (int r = 0; r < n; r += 100) {
                    Arrays.fill(rows, (byte) (r / 100));
                    w.appendRows(Tensor.ofBytes(DType.UINT8, new long[]{100, 256, 256, 3}, rows));
                }
                w.commit();
            }
            long t4 = System.nanoTime();
            try (Npz.Reader r = Npz.open(npz)) {
                assertEquals(n, r.header(Npz.SAMPLES).rows());
                Tensor last = r.readRows(Npz.SAMPLES, n - 1, 1);
                assertEquals((n - 1) / 100, last.data().get(0) & 0xff);
            }
            System.out.printf(Locale.ROOT, "npz %.2f GB (22,000 x 256 x 256 x 3 uint8): streamed write %.1f s%n",
                    Files.size(npz) / 1e9, (t4 - t3) / 1e9);
            assertTrue(Files.size(npz) > 4L << 30);
        } finally {
            try (var files = Files.list(dir)) {
                for (Path p : files.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(dir);
        }
    }
}
