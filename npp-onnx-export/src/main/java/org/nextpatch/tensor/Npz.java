package org.nextpatch.tensor;

import org.nextpatch.util.NppException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * NumPy {@code .npz} archives: a zip of {@code NAME.npy} entries (as {@code numpy.savez} writes
 * them; {@code savez_compressed}'s deflated entries are read too). Sample batches follow the
 * {@code arr_0} convention of the upstream evaluation scripts: one uint8 array [N, H, W, 3].
 * <p>
 * Arrays may exceed one tensor (50,000 x 256 x 256 x 3 uint8 is 9.8 GB): {@link Reader} exposes
 * each array's type and shape and reads row ranges; {@link Writer} appends rows of an array whose
 * shape is declared up front. Archives over 4 GB use ZIP64.
 */
public final class Npz {
    /** Name of the array of a sample batch, as {@code numpy.savez(path, samples)} names it. */
    public static final String SAMPLES = "arr_0";

    private Npz() {}

    /** Reads every array of an archive (each at most 2^31 - 1 bytes), keyed by name without {@code .npy}. */
    public static Map<String, Tensor> read(Path path) {
        try (Reader r = open(path)) {
            Map<String, Tensor> out = new LinkedHashMap<>();
            for (String n : r.names()) {
                out.put(n, r.read(n));
            }
            return out;
        }
    }

    /** Writes arrays as an uncompressed archive, atomically. */
    public static void write(Path path, Map<String, Tensor> arrays) {
        try (Writer w = new Writer(path)) {
            for (Map.Entry<String, Tensor> e : arrays.entrySet()) {
                w.add(e.getKey(), e.getValue());
            }
            w.commit();
        }
    }

    /** Opens an archive for reading. */
    public static Reader open(Path path) {
        if (java.nio.file.Files.exists(path)) {
            org.nextpatch.util.RegularFiles.requireRegular(path, null); // a FIFO would block, a device never end
        }
        return new Reader(path);
    }

    /** An open {@code .npz}: names, headers and reads of whole arrays or row ranges. */
    public static final class Reader implements AutoCloseable {
        private final Path path;
        private final ZipArchive zip;
        private final Map<String, ZipArchive.Entry> entries = new LinkedHashMap<>();
        private final Map<String, Npy.Header> headers = new LinkedHashMap<>();
        private InputStream cursor;
        private ZipArchive.Entry cursorEntry;
        private long cursorPos;

        Reader(Path path) {
            this.path = path;
            this.zip = ZipArchive.open(path);
            try {
                for (ZipArchive.Entry e : zip.entries().values()) {
                    if (e.name().endsWith(".npy")) {
                        String name = e.name().substring(0, e.name().length() - 4);
                        entries.put(name, e);
                        Npy.Header h;
                        try (InputStream in = zip.openStream(e)) {
                            h = Npy.readHeader(in, path + " (" + e.name() + ")");
                        }
                        if (h.dataOffset() + h.dataBytes() != e.size()) {
                            throw new NppException(path + " (" + e.name() + "): entry has " + e.size()
                                    + " bytes but its header " + h + " needs " + (h.dataOffset() + h.dataBytes()));
                        }
                        headers.put(name, h);
                    }
                }
            } catch (IOException | RuntimeException ex) {
                zip.close();
                if (ex instanceof NppException n) {
                    throw n;
                }
                throw new NppException(path + ": cannot read: " + ex.getMessage(), ex);
            }
        }

        /** Array names (entry names without {@code .npy}), in archive order. */
        public List<String> names() {
            return new ArrayList<>(headers.keySet());
        }

        /** Type and shape of an array. */
        public Npy.Header header(String name) {
            Npy.Header h = headers.get(name);
            if (h == null) {
                throw new NppException(path + ": no array '" + name + "' (has " + headers.keySet() + ")");
            }
            return h;
        }

        /** A whole array. */
        public Tensor read(String name) {
            Npy.Header h = header(name);
            if (h.shape().length == 0) {
                return readRange(name, h, 0, 1, new long[0]);
            }
            return readRows(name, 0, h.rows());
        }

        /** Rows {@code [start, start + count)} of an array's first dimension. */
        public Tensor readRows(String name, long start, long count) {
            Npy.Header h = header(name);
            long[] shape = h.shape().clone();
            if (shape.length == 0) {
                throw new NppException(path + ": array '" + name + "' is a scalar and has no rows");
            }
            if (start < 0 || count < 0 || start + count > shape[0]) {
                throw new NppException(path + ": rows [" + start + ", " + (start + count) + ") out of range for array '"
                        + name + "' " + h);
            }
            shape[0] = count;
            return readRange(name, h, start, count, shape);
        }

        private Tensor readRange(String name, Npy.Header h, long start, long count, long[] shape) {
            ZipArchive.Entry e = entries.get(name);
            long off = h.dataOffset() + start * h.rowBytes();
            long len = Math.multiplyExact(count, h.rowBytes());
            if (len > Integer.MAX_VALUE) {
                throw new NppException(path + ": " + len + " bytes of array '" + name
                        + "' exceed the 2 GiB limit of one tensor; read fewer rows");
            }
            ByteBuffer b;
            if (e.isStored()) {
                b = zip.map(e, off, len);
            } else {
                b = inflated(e, off, len);
            }
            return new Tensor(h.dtype(), shape, h.bigEndian() ? Npy.swapped(b, h.dtype()) : b);
        }

        /**
         * Bytes [off, off + len) of a compressed entry. Deflate cannot seek, so one stream per reader
         * is kept open and reused while reads move forward (batches in order cost one pass in all);
         * a read behind it starts again from the entry's beginning.
         */
        private synchronized ByteBuffer inflated(ZipArchive.Entry e, long off, long len) {
            try {
                if (cursor == null || cursorEntry != e || cursorPos > off) {
                    closeCursor();
                    cursor = zip.openStream(e);
                    cursorEntry = e;
                    cursorPos = 0;
                }
                cursor.skipNBytes(off - cursorPos);
                cursorPos = off;
                byte[] data = cursor.readNBytes((int) len);
                cursorPos += data.length;
                if (data.length < len) {
                    throw new NppException(path + ": entry " + e.name() + " is truncated");
                }
                return ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
            } catch (java.io.EOFException ex) {
                closeCursor();
                throw new NppException(path + ": entry " + e.name() + " is truncated");
            } catch (IOException ex) {
                closeCursor();
                throw new NppException(path + ": " + ex.getMessage(), ex);
            }
        }

        private void closeCursor() {
            if (cursor != null) {
                try {
                    cursor.close();
                } catch (IOException ignored) {
                    // read-only stream
                }
                cursor = null;
                cursorEntry = null;
            }
        }

        @Override
        public synchronized void close() {
            closeCursor();
            zip.close();
        }
    }

    /**
     * Writes an {@code .npz} archive atomically (nothing appears at the path until {@link #commit()}).
     * Whole arrays are added with {@link #add}; a large array is declared with {@link #begin} and its
     * rows appended with {@link #appendRows} until the declared count is reached.
     */
    public static final class Writer implements AutoCloseable {
        private final Path path;
        private final ZipArchiveWriter zip;
        private String current;
        private DType curType;
        private long[] curShape;
        private long rowsLeft;

        /** Starts writing {@code path}. */
        public Writer(Path path) {
            this.path = path;
            this.zip = new ZipArchiveWriter(path);
        }

        /** Adds a whole array. */
        public void add(String name, Tensor t) {
            if (t.rank() == 0) {
                finishCurrent();
                byte[] header = Npy.header(t.dtype(), t.shape());
                zip.beginEntry(name + ".npy", header.length + (long) t.dtype().bytes());
                zip.write(header);
                zip.write(t.data());
                zip.endEntry();
                return;
            }
            begin(name, t.dtype(), t.shape());
            if (t.shape()[0] > 0) {
                appendRows(t);
            }
        }

        /** Declares an array whose rows follow through {@link #appendRows}. */
        public void begin(String name, DType dtype, long... shape) {
            finishCurrent();
            if (shape.length == 0) {
                throw new IllegalArgumentException("a scalar has no rows; use add()");
            }
            byte[] header = Npy.header(dtype, shape);
            long bytes = Math.multiplyExact(Tensor.numel(shape), dtype.bytes());
            zip.beginEntry(name + ".npy", header.length + bytes);
            zip.write(header);
            current = name;
            curType = dtype;
            curShape = shape.clone();
            rowsLeft = shape[0];
            if (rowsLeft == 0) {
                finishCurrent();
            }
        }

        /** Appends rows (a tensor whose trailing dimensions match the declared shape). */
        public void appendRows(Tensor rows) {
            if (current == null) {
                throw new IllegalStateException("no array begun");
            }
            long[] s = rows.shape();
            if (rows.dtype() != curType || s.length != curShape.length
                    || !Arrays.equals(Arrays.copyOfRange(s, 1, s.length), Arrays.copyOfRange(curShape, 1, curShape.length))) {
                throw new NppException(path + ": rows " + rows + " do not match array '" + current + "' "
                        + curType + " " + Arrays.toString(curShape));
            }
            if (s[0] > rowsLeft) {
                throw new NppException(path + ": array '" + current + "' declared " + curShape[0] + " rows, got more");
            }
            zip.write(rows.data());
            rowsLeft -= s[0];
            if (rowsLeft == 0) {
                finishCurrent();
            }
        }

        private void finishCurrent() {
            if (current != null) {
                if (rowsLeft != 0) {
                    throw new NppException(path + ": array '" + current + "' declared " + curShape[0] + " rows, got "
                            + (curShape[0] - rowsLeft));
                }
                zip.endEntry();
                current = null;
            }
        }

        /** Finishes the archive and moves it into place. */
        public void commit() {
            finishCurrent();
            zip.commit();
        }

        /** Discards the archive unless committed. */
        @Override
        public void close() {
            zip.close();
        }
    }
}
