package org.nextpatch.hostile;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Hostile and broken inputs, generated here rather than shipped: each is one class of attack on a
 * loader (shared or recursive structures, quadratic work, inflation bombs, lying sizes, overflowing
 * shapes, damaged data) with the exit status and the words its one-line answer must have.
 */
final class HostileCorpus {

    /**
     * One input.
     *
     * @param name     what it attacks
     * @param kind     {@code inspect} (the inspect-ckpt command), {@code load} (the weight loader,
     *                 as every command that loads weights uses it), {@code npy} (the .npy reader),
     *                 {@code tribuo} (a Tribuo model file, as {@code npp provenance} reads it),
     *                 {@code image} (the image reader of extract-codes), {@code idx} (the IDX reader),
     *                 {@code lock} (an output folder's lock file), {@code gpt-config} / {@code vq-config}
     *                 (a {@code --gpt-config} / {@code --vq-config} file) or {@code idx-limit-10} (an IDX
     *                 image file read with {@code --limit 10})
     * @param exit     the expected exit status (0: handled, 1: refused, 3: out of memory, an error)
     * @param file     the input
     * @param fragment words the answer must contain (stderr on refusal, stdout otherwise)
     */
    record Case(String name, String kind, Path file, int exit, String fragment) {}

    private HostileCorpus() {}

    static byte[] checkpoint(byte[] pickle, Object... storages) {
        RawZip z = new RawZip().stored("ck/data.pkl", pickle);
        for (int i = 0; i < storages.length; i += 2) {
            z.stored("ck/data/" + storages[i], (byte[]) storages[i + 1]);
        }
        return z.stored("ck/version", "3\n".getBytes(StandardCharsets.US_ASCII)).bytes();
    }

    static byte[] floats(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
            b.putFloat(f);
        }
        return b.array();
    }

    /** {"w": tensor} with one float storage "0". */
    static byte[] oneTensor(long numel, long offset, long[] size, long[] stride, byte[] storage) {
        Pickle p = new Pickle().proto().op('}').str("w").tensor("FloatStorage", "0", numel, offset, size, stride);
        return checkpoint(p.op('s', '.').bytes(), "0", storage);
    }

    static byte[] npy(String header) {
        byte[] dict = header.getBytes(StandardCharsets.ISO_8859_1);
        ByteBuffer b = ByteBuffer.allocate(10 + dict.length + 1).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[]{(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) (dict.length + 1)).put(dict).put((byte) '\n');
        return b.array();
    }

    static List<Case> write(Path dir) throws IOException {
        List<Case> cases = new ArrayList<>();
        Files.createDirectories(dir);

        // 1. a dict key that is a 64-level tuple sharing itself at every level (2^64 leaves when expanded)
        Pickle p = new Pickle().proto().op('}').op(')').put(0).op('0');
        for (int i = 1; i <= 64; i++) {
            p.get(i - 1).get(i - 1).op(0x86).put(i).op('0');
        }
        p.get(64).integer(1).op('s', '.');
        cases.add(write(dir, "key-tuple-dag", "inspect", checkpoint(p.bytes()), 1, "dict key"));

        // 2. 64 nested dicts each holding the previous one twice: a DAG of values, handled in linear time
        p = new Pickle().proto().op('}').put(0).op('0');
        for (int i = 1; i <= 64; i++) {
            p.op('}').op('(').str("a").get(i - 1).str("b").get(i - 1).op('u').put(i).op('0');
        }
        p.op('}').str("x").get(64).op('s', '.');
        cases.add(write(dir, "dict-dag-values", "inspect", checkpoint(p.bytes()), 0, "x"));

        // 3. the same shared dicts used as a dict key
        p = new Pickle().proto().op('}').put(0).op('0');
        for (int i = 1; i <= 64; i++) {
            p.op('}').op('(').str("a").get(i - 1).str("b").get(i - 1).op('u').put(i).op('0');
        }
        p.op('}').get(64).integer(1).op('s', '.');
        cases.add(write(dir, "dict-dag-key", "inspect", checkpoint(p.bytes()), 1, "dict key"));

        // 4. a list containing itself as a dict key, as a set member, and as a value
        byte[] selfList = new Pickle().op(']').put(0).get(0).op('a').bytes();
        cases.add(write(dir, "self-list-key", "inspect",
                checkpoint(new Pickle().proto().op('}').raw(selfList).integer(1).op('s', '.').bytes()), 1, "dict key"));
        cases.add(write(dir, "self-list-set", "inspect",
                checkpoint(new Pickle().proto().op(0x8f).op('(').raw(selfList).op(0x90, '.').bytes()), 1, "set member"));
        cases.add(write(dir, "self-list-frozenset", "inspect",
                checkpoint(new Pickle().proto().op('(').raw(selfList).op(0x91, '.').bytes()), 1, "set member"));
        cases.add(write(dir, "self-list-value", "inspect",
                checkpoint(new Pickle().proto().op('}').str("x").raw(selfList).op('s', '.').bytes()), 1, "contains itself"));
        // a list inside a tuple key (Python: unhashable), and two lists containing each other
        cases.add(write(dir, "list-in-tuple-key", "inspect",
                checkpoint(new Pickle().proto().op('}').op(']').op(0x85).integer(1).op('s', '.').bytes()), 1, "dict key"));
        cases.add(write(dir, "mutual-lists", "inspect", checkpoint(new Pickle().proto().op('}').str("x")
                .op(']').put(0).op(']').put(1).get(0).op('a').op('a').op('s', '.').bytes()), 1, "contains itself"));

        // 5. 200,000 nested lists: no recursion anywhere may overflow the stack
        p = new Pickle().proto().op('}').str("x");
        for (int i = 0; i < 200_000; i++) {
            p.op(']');
        }
        for (int i = 1; i < 200_000; i++) {
            p.op('a');
        }
        cases.add(write(dir, "deep-lists", "inspect", checkpoint(p.op('s', '.').bytes()), 1, "nested more than"));
        // a chain of 100,000 nested 1-tuples as a key
        p = new Pickle().proto().op('}').op(')');
        for (int i = 0; i < 100_000; i++) {
            p.op(0x85);
        }
        cases.add(write(dir, "deep-tuple-key", "inspect", checkpoint(p.integer(1).op('s', '.').bytes()), 1, "dict key"));

        // 6. 100,000 memoized objects each updated by BUILD: linear, not quadratic
        p = new Pickle().proto().op('}').global("argparse", "Namespace").put(0).op('0');
        for (int i = 1; i <= 100_000; i++) {
            p.get(0).op(')', 'R').put(i).op('}', 'b', '0');
        }
        p.str("n").get(100_000).op('s', '.');
        cases.add(write(dir, "memo-build-100k", "inspect", checkpoint(p.bytes()), 0, "argparse.Namespace"));

        // 7. a 100,000-item list copied 100,000 times by list(L): quadratic work from a linear file
        p = new Pickle().proto().op(']').put(0).op('(');
        for (int i = 0; i < 100_000; i++) {
            p.op('K', i & 0xff);
        }
        p.op('e').op('0');
        for (int i = 0; i < 100_000; i++) {
            p.global("builtins", "list").get(0).op(0x85, 'R', '0');
        }
        cases.add(write(dir, "copy-amplification", "inspect", checkpoint(p.op('N', '.').bytes()), 1, "more work"));

        // 8. an integer literal of a million digits (quadratic to parse)
        byte[] digits = new byte[1_000_000];
        Arrays.fill(digits, (byte) '7');
        cases.add(write(dir, "huge-int-literal", "inspect",
                checkpoint(new Pickle().proto().op('I').raw(digits).op('\n', '.').bytes()), 1, "digits"));

        // 9. data.pkl inflates to 64 MB while the directory says 100 bytes
        byte[] zeros = new byte[64 << 20];
        cases.add(write(dir, "pickle-bomb-lying-size", "inspect", new RawZip().deflated("ck/data.pkl", zeros, 100)
                .stored("ck/version", "3\n".getBytes(StandardCharsets.US_ASCII)).bytes(), 1, "more than the 100 bytes"));
        // ... and one whose directory claims more than deflate can produce from its bytes
        byte[] compressed = RawZip.deflate(zeros);
        cases.add(write(dir, "pickle-bomb-declared", "inspect", new RawZip().deflatedRaw("ck/data.pkl", compressed, 3L << 30, 0)
                .bytes(), 1, "more than deflate can produce"));

        // 10. a compressed storage of 64 MB of which a tensor views 25 floats
        byte[] prog = new Pickle().proto().op('}').str("w").tensor("FloatStorage", "0", 16L << 20, 0, new long[]{25}, new long[]{1})
                .op('s', '.').bytes();
        cases.add(write(dir, "storage-bomb", "inspect", new RawZip().stored("ck/data.pkl", prog).deflated("ck/data/0", zeros, -1)
                .bytes(), 1, "tensors use only"));
        // ... and one that declares 100 bytes but inflates to 64 MB
        prog = new Pickle().proto().op('}').str("w").tensor("FloatStorage", "0", 25, 0, new long[]{25}, new long[]{1})
                .op('s', '.').bytes();
        cases.add(write(dir, "storage-bomb-lying-size", "inspect", new RawZip().stored("ck/data.pkl", prog)
                .deflated("ck/data/0", zeros, 100).bytes(), 1, "ck/data/0"));

        // 11. shapes whose element counts overflow or dwarf the file
        byte[] four = floats(1, 2, 3, 4);
        cases.add(write(dir, "numel-2pow62", "inspect", oneTensor(4, 0, new long[]{1L << 62}, new long[]{1}, four), 1, "out of bounds"));
        cases.add(write(dir, "numel-2pow62-stride0", "inspect", oneTensor(4, 0, new long[]{1L << 62}, new long[]{0}, four), 1,
                "2 GiB"));
        cases.add(write(dir, "numel-overflow", "inspect",
                oneTensor(4, 0, new long[]{1L << 40, 1L << 40}, new long[]{0, 0}, four), 1, "invalid size"));
        cases.add(write(dir, "stride0-expansion", "inspect", oneTensor(4, 0, new long[]{1L << 28}, new long[]{0}, four), 1,
                "twice the file"));
        cases.add(write(dir, "storage-numel-overflow", "inspect", oneTensor(1L << 62, 0, new long[]{4}, new long[]{1}, four), 1,
                "not a valid size"));
        cases.add(write(dir, "stride-overflow", "inspect",
                oneTensor(4, 0, new long[]{2, 2}, new long[]{Long.MAX_VALUE / 2, 1}, four), 1, "out of bounds"));

        // 12. damaged and non-finite weights
        byte[] good = floats(1, 2, Float.NaN, 4);
        byte[] pkl = new Pickle().proto().op('}').str("w").tensor("FloatStorage", "0", 4, 0, new long[]{4}, new long[]{1})
                .op('s', '.').bytes();
        cases.add(write(dir, "crc-mismatch", "inspect", new RawZip().stored("ck/data.pkl", pkl)
                .storedBadCrc("ck/data/0", good, RawZip.crc(four)).bytes(), 1, "CRC mismatch"));
        Path nan = dir.resolve("nan-weights.pt");
        Files.write(nan, checkpoint(pkl, "0", good));
        cases.add(new Case("nan-weights-load", "load", nan, 1, "NaN or infinite"));
        cases.add(new Case("nan-weights-inspect", "inspect", nan, 0, "non-finite"));

        // 13. not a file at all
        Path sub = Files.createDirectories(dir.resolve("a-directory.pt"));
        cases.add(new Case("directory", "inspect", sub, 1, "is a directory"));
        Path zero = Path.of("/dev/zero");
        if (Files.exists(zero)) {
            cases.add(new Case("dev-zero", "inspect", zero, 1, "not a regular file"));
        }

        // 14. .npy headers that overflow or lie
        cases.add(write(dir, "npy-overflow", "npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }"),
                1, "more bytes than a long counts"));
        cases.add(write(dir, "npy-2pow61", "npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2305843009213693952,), }"),
                1, "more bytes than a long counts"));
        cases.add(write(dir, "npy-huge-claim", "npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }"),
                1, "truncated"));
        cases.add(write(dir, "npy-many-dims", "npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': ("
                + "1,".repeat(1000) + "), }"), 1, "dimensions"));

        // 15. Tribuo model files (protobuf): garbage, a length that runs past the end, 100,000 nested groups
        byte[] garbage = new byte[4096];
        new java.util.Random(7).nextBytes(garbage);
        cases.add(write(dir, "tribuo-garbage", "tribuo", garbage, 1, "tribuo-garbage"));
        cases.add(write(dir, "tribuo-long-length", "tribuo", new byte[]{0x0a, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x7f, 1, 2},
                1, "tribuo-long-length"));
        byte[] groups = new byte[100_000];
        Arrays.fill(groups, (byte) 0x0b); // start-group tag of field 1, never ended
        cases.add(write(dir, "tribuo-nested-groups", "tribuo", groups, 1, "tribuo-nested-groups"));

        // 16. images: cut in half, a header over the pixel limit, one that needs more than the 256 MB heap
        //     (an error, never a skip: which images are skipped must not depend on -Xmx), a FIFO
        byte[] jpg;
        try {
            jpg = org.nextpatch.io.ImagesTestAccess.encoded("jpg");
        } catch (Exception e) {
            throw new IOException(e);
        }
        cases.add(image(dir, "image-truncated-jpeg.jpg", Arrays.copyOf(jpg, jpg.length / 2), 1, "image file is truncated"));
        cases.add(image(dir, "image-over-pixel-limit.png", png(9460, 9460, 8, false), 1, "89,478,485-pixel limit"));
        cases.add(image(dir, "image-16bit-5792.png", png(5792, 5792, 16, true), 3, "not enough heap"));

        // 17. named pipes (opening one blocks until someone writes): an image, an IDX file, a folder's lock file
        cases.add(new Case("image-fifo", "image", mkfifo(dir.resolve("image-fifo.png")), 1, "FIFO"));
        cases.add(new Case("idx-fifo", "idx", mkfifo(dir.resolve("labels-fifo-idx1-ubyte")), 1, "FIFO"));
        cases.add(new Case("npy-fifo", "npy", mkfifo(dir.resolve("npy-fifo.npy")), 1, "FIFO"));
        if (Files.exists(Path.of("/dev/zero"))) {
            cases.add(new Case("npy-dev-zero", "npy", Path.of("/dev/zero"), 1, "is not a regular file: a character device"));
        }
        Path locked = Files.createDirectories(dir.resolve("locked-folder"));
        cases.add(new Case("lock-fifo", "lock", mkfifo(locked.resolve(org.nextpatch.util.DirLock.FILE)), 1,
                "not a regular lock file"));
        // 18. configuration files: numbers that overflow float32, sizes that would allocate or loop for
        // minutes, duplicate keys, not a file at all
        String gpt = "{\"dim\":64,\"n_head\":4,\"block_size\":16,";
        cases.add(write(dir, "gpt-norm-eps-infinite", "gpt-config", (gpt + "\"n_layer\":2,\"norm_eps\":1e400}").getBytes(StandardCharsets.UTF_8),
                1, "'norm_eps' must be a finite number"));
        cases.add(write(dir, "gpt-rope-base-tiny", "gpt-config", (gpt + "\"n_layer\":2,\"rope_base\":1e-300}").getBytes(StandardCharsets.UTF_8),
                1, "rope_base 1.0E-300 is out of range"));
        cases.add(write(dir, "gpt-n-layer-1e8", "gpt-config", (gpt + "\"n_layer\":100000000}").getBytes(StandardCharsets.UTF_8),
                1, "n_layer 100000000 is out of range"));
        cases.add(write(dir, "gpt-duplicate-key", "gpt-config", (gpt + "\"n_layer\":2,\"n_layer\":3}").getBytes(StandardCharsets.UTF_8),
                1, "Duplicate field 'n_layer'"));
        cases.add(write(dir, "vq-ch-mult-100k", "vq-config", ("{\"ch_mult\":[" + "1,".repeat(99_999) + "1]}").getBytes(StandardCharsets.UTF_8),
                1, "the length of ch_mult 100000 is out of range"));
        if (Files.exists(zero)) {
            cases.add(new Case("gpt-config-dev-zero", "gpt-config", zero, 1, "is not a regular file"));
        }
        Path fifo = dir.resolve("gpt-config.fifo");
        try {
            if (new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0) {
                cases.add(new Case("gpt-config-fifo", "gpt-config", fifo, 1, "is not a regular file"));
                cases.add(new Case("checkpoint-fifo", "inspect", fifo, 1, "is not a regular file"));
                cases.add(new Case("tribuo-fifo", "tribuo", fifo, 1, "is not a regular file"));
            }
        } catch (IOException | InterruptedException e) {
            // no mkfifo here: the cases are left out
        }
        // a symbolic link to itself is a loop, not a missing file
        Path loop = Files.createSymbolicLink(dir.resolve("loop.pt"), dir.resolve("loop.pt"));
        cases.add(new Case("checkpoint-symlink-loop", "inspect", loop, 1, "symbolic links"));
        cases.add(new Case("tribuo-symlink-loop", "tribuo", loop, 1, "symbolic links"));

        // 19. a 300 MB IDX image file gzipped to a few hundred KB, read with --limit 10 in a 256 MB heap
        cases.add(new Case("idx-gzip-bomb-limit-10", "idx-limit-10", idxBomb(dir.resolve("bomb-idx3-ubyte.gz"), 382_000), 0, "10 images"));
        return cases;
    }

    /** A gzipped IDX image file of {@code rows} 28x28 zero images. */
    private static Path idxBomb(Path f, int rows) throws IOException {
        try (java.util.zip.GZIPOutputStream g = new java.util.zip.GZIPOutputStream(Files.newOutputStream(f), 1 << 16)) {
            g.write(ByteBuffer.allocate(16).putInt(0x803).putInt(rows).putInt(28).putInt(28).array());
            byte[] zeros = new byte[28 * 28 * 1000];
            for (int i = 0; i < rows; i += 1000) {
                g.write(zeros, 0, 28 * 28 * Math.min(1000, rows - i));
            }
        }
        return f;
    }

    private static Case image(Path dir, String name, byte[] content, int exit, String fragment) throws IOException {
        Path f = Files.write(dir.resolve(name), content);
        return new Case(name.substring(0, name.lastIndexOf('.')), "image", f, exit, fragment);
    }

    /**
     * An RGB PNG of one colour; with {@code data} false only its header (IHDR), no image data. The
     * rows are deflated as they are made, so a 200 MB image costs a few hundred kilobytes here.
     */
    static byte[] png(int w, int h, int bits, boolean data) throws IOException {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        out.write(new byte[]{(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10});
        chunk(out, "IHDR", ByteBuffer.allocate(13).putInt(w).putInt(h).put((byte) bits).put((byte) 2).put(new byte[3]).array());
        if (data) {
            java.io.ByteArrayOutputStream z = new java.io.ByteArrayOutputStream();
            byte[] row = new byte[1 + w * 3 * bits / 8];
            Arrays.fill(row, (byte) 0x40);
            row[0] = 0; // filter: none
            try (java.util.zip.DeflaterOutputStream d = new java.util.zip.DeflaterOutputStream(z)) {
                for (int y = 0; y < h; y++) {
                    d.write(row);
                }
            }
            chunk(out, "IDAT", z.toByteArray());
            chunk(out, "IEND", new byte[0]);
        }
        return out.toByteArray();
    }

    private static void chunk(java.io.ByteArrayOutputStream out, String type, byte[] body) throws IOException {
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(t);
        crc.update(body);
        out.write(ByteBuffer.allocate(4).putInt(body.length).array());
        out.write(t);
        out.write(body);
        out.write(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
    }

    private static Path mkfifo(Path p) throws IOException {
        try {
            return org.nextpatch.cli.ChecksBeforeWorkTest.mkfifo(p);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }

    private static Case write(Path dir, String name, String kind, byte[] content, int exit, String fragment) throws IOException {
        Path f = dir.resolve(name + (kind.equals("npy") ? ".npy" : kind.equals("tribuo") ? ".tribuo" : kind.endsWith("config") ? ".json" : ".pt"));
        Files.write(f, content);
        return new Case(name, kind, f, exit, fragment);
    }
}
