package org.nextpatch.tensor;

import org.nextpatch.util.AtomicFiles;
import org.nextpatch.util.NppException;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * NumPy {@code .npy} files (format versions 1.0, 2.0 and 3.0): read into a {@link Tensor}, written
 * from one, and opened for row-range reads of arrays larger than one tensor.
 * <p>
 * Types: {@code uint8, int8, int16, int32, int64, float16, float32, float64, bool}; NumPy's bfloat16
 * does not exist, so BFLOAT16 tensors cannot be written. C order only (a Fortran-order file is
 * rejected with a clear error); big-endian files are converted on read.
 */
public final class Npy {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

    private Npy() {}

    /**
     * The header of an array: its type, shape, byte order and where its data starts.
     *
     * @param dtype      element type
     * @param shape      dimensions (C order)
     * @param bigEndian  whether the stored elements are big-endian (converted when read)
     * @param dataOffset bytes from the start of the file (or npz entry) to the first element
     */
    public record Header(DType dtype, long[] shape, boolean bigEndian, long dataOffset) {
        /** Number of elements. */
        public long numel() {
            return Tensor.numel(shape);
        }

        /** Bytes of data. */
        public long dataBytes() {
            return Math.multiplyExact(numel(), dtype.bytes());
        }

        /** Bytes of one row (one index of the first dimension); the whole array for a scalar. */
        public long rowBytes() {
            long n = dtype.bytes();
            for (int i = 1; i < shape.length; i++) {
                n = Math.multiplyExact(n, shape[i]);
            }
            return n;
        }

        /** Number of rows (first dimension; 1 for a scalar). */
        public long rows() {
            return shape.length == 0 ? 1 : shape[0];
        }

        @Override
        public String toString() {
            return dtype + " " + Arrays.toString(shape);
        }
    }

    /** The NumPy type string ({@code descr}) of a type, little-endian. */
    public static String descr(DType t) {
        return switch (t) {
            case FLOAT32 -> "<f4";
            case FLOAT64 -> "<f8";
            case FLOAT16 -> "<f2";
            case INT64 -> "<i8";
            case INT32 -> "<i4";
            case INT16 -> "<i2";
            case INT8 -> "|i1";
            case UINT8 -> "|u1";
            case BOOL -> "|b1";
            case BFLOAT16 -> throw new NppException("NumPy has no bfloat16 type; convert the tensor to float32 first");
        };
    }

    private static DType parseDescr(String d, String where) {
        String code = d.length() > 1 && "<>|=".indexOf(d.charAt(0)) >= 0 ? d.substring(1) : d;
        return switch (code) {
            case "f4" -> DType.FLOAT32;
            case "f8" -> DType.FLOAT64;
            case "f2" -> DType.FLOAT16;
            case "i8" -> DType.INT64;
            case "i4" -> DType.INT32;
            case "i2" -> DType.INT16;
            case "i1" -> DType.INT8;
            case "u1" -> DType.UINT8;
            case "b1" -> DType.BOOL;
            default -> throw new NppException(where + ": unsupported NumPy type '" + d
                    + "' (supported: uint8, int8, int16, int32, int64, float16, float32, float64, bool)");
        };
    }

    /** The header bytes (magic, version, length, padded dictionary) for an array; 64-byte aligned. */
    public static byte[] header(DType dtype, long[] shape) {
        StringBuilder s = new StringBuilder("{'descr': '").append(descr(dtype))
                .append("', 'fortran_order': False, 'shape': (");
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] < 0) {
                throw new NppException("negative dimension in shape " + Arrays.toString(shape));
            }
            s.append(shape[i]);
            if (shape.length == 1 || i < shape.length - 1) {
                s.append(shape.length == 1 ? "," : ", ");
            }
        }
        s.append("), }");
        byte[] dict = s.toString().getBytes(StandardCharsets.ISO_8859_1);
        boolean v2 = dict.length + 1 + 10 > 65535;
        int pre = v2 ? 12 : 10;
        int total = (pre + dict.length + 1 + 63) / 64 * 64;
        int hlen = total - pre;
        ByteBuffer b = ByteBuffer.allocate(total).order(ByteOrder.LITTLE_ENDIAN);
        b.put(MAGIC).put((byte) (v2 ? 2 : 1)).put((byte) 0);
        if (v2) {
            b.putInt(hlen);
        } else {
            b.putShort((short) hlen);
        }
        b.put(dict);
        while (b.position() < total - 1) {
            b.put((byte) ' ');
        }
        b.put((byte) '\n');
        return b.array();
    }

    /**
     * Parses a header from the start of a stream (which is left positioned at the first element).
     *
     * @param where the file (and entry) for messages
     */
    public static Header readHeader(InputStream in, String where) throws IOException {
        byte[] pre = in.readNBytes(10);
        if (pre.length < 10 || !Arrays.equals(Arrays.copyOf(pre, 6), MAGIC)) {
            throw new NppException(where + ": not a .npy file (bad magic number)");
        }
        int major = pre[6] & 0xff;
        long hlen;
        int preLen;
        if (major == 1) {
            hlen = (pre[8] & 0xff) | ((pre[9] & 0xff) << 8);
            preLen = 10;
        } else if (major == 2 || major == 3) {
            byte[] more = in.readNBytes(2);
            if (more.length < 2) {
                throw new NppException(where + ": truncated .npy header");
            }
            hlen = ByteBuffer.wrap(new byte[]{pre[8], pre[9], more[0], more[1]}).order(ByteOrder.LITTLE_ENDIAN).getInt() & 0xffffffffL;
            preLen = 12;
        } else {
            throw new NppException(where + ": unsupported .npy format version " + major + "." + (pre[7] & 0xff));
        }
        if (hlen > 1 << 24) {
            throw new NppException(where + ": .npy header length " + hlen + " is implausible (corrupt file)");
        }
        byte[] h = in.readNBytes((int) hlen);
        if (h.length < hlen) {
            throw new NppException(where + ": truncated .npy header");
        }
        String text = new String(h, major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        return parseDict(text, where, preLen + hlen);
    }

    private static Header parseDict(String text, String where, long dataOffset) {
        Matcher d = DESCR.matcher(text);
        Matcher f = FORTRAN.matcher(text);
        Matcher s = SHAPE.matcher(text);
        if (!text.strip().startsWith("{") || !d.find() || !f.find() || !s.find()) {
            throw new NppException(where + ": bad .npy header (expected descr, fortran_order and shape): " + text.strip());
        }
        String descr = d.group(1);
        DType dtype = parseDescr(descr, where);
        if (f.group(1).equals("True")) {
            throw new NppException(where + ": array is in Fortran order; only C order is supported"
                    + " (save it with numpy.ascontiguousarray)");
        }
        List<Long> dims = new ArrayList<>();
        for (String part : s.group(1).split(",")) {
            String p = part.strip();
            if (p.isEmpty()) {
                continue;
            }
            if (p.endsWith("L")) {
                p = p.substring(0, p.length() - 1);
            }
            try {
                long v = Long.parseLong(p);
                if (v < 0) {
                    throw new NumberFormatException();
                }
                dims.add(v);
            } catch (NumberFormatException e) {
                throw new NppException(where + ": bad .npy header: shape (" + s.group(1) + ") is not a tuple of sizes");
            }
        }
        long[] shape = dims.stream().mapToLong(Long::longValue).toArray();
        if (shape.length > 64) {
            throw new NppException(where + ": bad .npy header: " + shape.length + " dimensions (at most 64)");
        }
        try {
            Math.multiplyExact(Tensor.numel(shape), dtype.bytes());
            // a zero first dimension makes the total 0 while one row still overflows
            long row = dtype.bytes();
            for (int i = 1; i < shape.length; i++) {
                row = Math.multiplyExact(row, shape[i]);
            }
        } catch (ArithmeticException | NppException e) {
            throw new NppException(where + ": bad .npy header: shape " + dims + " has more bytes than a long counts");
        }
        boolean big = descr.startsWith(">") && dtype.bytes() > 1;
        return new Header(dtype, shape, big, dataOffset);
    }

    /** Reads a whole {@code .npy} file (at most 2^31 - 1 bytes of data). */
    public static Tensor read(Path path) {
        try (Reader r = open(path)) {
            return r.readAll();
        }
    }

    /** Opens a {@code .npy} file for reading (whole or by rows). */
    public static Reader open(Path path) {
        FileChannel ch;
        if (java.nio.file.Files.exists(path)) {
            org.nextpatch.util.RegularFiles.requireRegular(path, null); // a FIFO would block, a device never end
        }
        try {
            ch = FileChannel.open(path, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new NppException(path + ": file not found");
        } catch (IOException e) {
            throw new NppException(path + ": cannot open: " + org.nextpatch.util.AtomicFiles.reason(e), e);
        }
        try {
            Header h = readHeader(java.nio.channels.Channels.newInputStream(ch.position(0)), path.toString());
            long need = h.dataOffset() + h.dataBytes();
            if (ch.size() < need) {
                throw new NppException(path + ": truncated .npy file: " + h + " needs " + need + " bytes, file has " + ch.size());
            }
            return new Reader(path.toString(), ch, h);
        } catch (IOException | RuntimeException e) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // report the first failure
            }
            if (e instanceof NppException n) {
                throw n;
            }
            throw new NppException(path + ": cannot read: " + (e instanceof IOException io ? org.nextpatch.util.AtomicFiles.reason(io) : e.getMessage()), e);
        }
    }

    /** An open {@code .npy} file: its header, and reads of all or some rows through memory mapping. */
    public static final class Reader implements AutoCloseable {
        private final String where;
        private final FileChannel ch;
        private final Header header;

        Reader(String where, FileChannel ch, Header header) {
            this.where = where;
            this.ch = ch;
            this.header = header;
        }

        /** Type, shape and data offset. */
        public Header header() {
            return header;
        }

        /** The whole array as one tensor. */
        public Tensor readAll() {
            return header.shape().length == 0 ? read(0, 1, new long[0]) : readRows(0, header.rows());
        }

        /** Rows {@code [start, start + count)} of the first dimension. */
        public Tensor readRows(long start, long count) {
            long[] shape = header.shape().clone();
            if (shape.length == 0) {
                throw new NppException(where + ": a scalar array has no rows");
            }
            if (start < 0 || count < 0 || start + count > shape[0]) {
                throw new NppException(where + ": rows [" + start + ", " + (start + count) + ") out of range for " + header);
            }
            shape[0] = count;
            return read(start, count, shape);
        }

        private Tensor read(long start, long count, long[] shape) {
            long rowBytes = header.rowBytes();
            long off = header.dataOffset() + start * rowBytes;
            long len = Math.multiplyExact(count, rowBytes);
            if (len > Integer.MAX_VALUE) {
                throw new NppException(where + ": " + len + " bytes exceed the 2 GiB limit of one tensor; read fewer rows");
            }
            try {
                ByteBuffer b = len == 0 ? ByteBuffer.allocate(0) : ch.map(FileChannel.MapMode.READ_ONLY, off, len);
                return new Tensor(header.dtype(), shape, header.bigEndian() ? swapped(b, header.dtype()) : b);
            } catch (IOException e) {
                throw new NppException(where + ": cannot read: " + org.nextpatch.util.AtomicFiles.reason(e), e);
            }
        }

        @Override
        public void close() {
            try {
                ch.close();
            } catch (IOException ignored) {
                // read-only file: nothing lost
            }
        }
    }

    /** A little-endian copy of big-endian elements. */
    static ByteBuffer swapped(ByteBuffer big, DType t) {
        int es = t.bytes();
        ByteBuffer src = big.duplicate().order(ByteOrder.BIG_ENDIAN);
        ByteBuffer out = ByteBuffer.allocate(src.remaining()).order(ByteOrder.LITTLE_ENDIAN);
        int n = src.remaining() / es;
        for (int i = 0; i < n; i++) {
            switch (es) {
                case 2 -> out.putShort(src.getShort());
                case 4 -> out.putInt(src.getInt());
                case 8 -> out.putLong(src.getLong());
                default -> out.put(src.get());
            }
        }
        return out.flip();
    }

    /** Writes a tensor as a {@code .npy} file, atomically. */
    public static void write(Path path, Tensor t) {
        AtomicFiles.write(path, out -> writeTo(out, t));
    }

    /** Writes a tensor in {@code .npy} format to a stream. */
    public static void writeTo(OutputStream out, Tensor t) throws IOException {
        out.write(header(t.dtype(), t.shape()));
        WritableByteChannel wc = java.nio.channels.Channels.newChannel(out);
        ByteBuffer d = t.data();
        while (d.hasRemaining()) {
            wc.write(d);
        }
    }

    /**
     * Writes a {@code .npy} file row block by row block, atomically: the shape is declared up front,
     * rows go to a temporary file beside the target, and {@link #commit()} moves it into place once
     * every declared row is there. Memory stays at one block, so the array may be far larger than
     * the heap. Closing without committing removes the temporary file.
     */
    public static final class RowWriter implements AutoCloseable {
        private final Path target;
        private final Path tmp;
        private final FileChannel ch;
        private final DType dtype;
        private final long[] shape;
        private long rowsLeft;
        private boolean committed;

        /** Starts {@code target} as an array of {@code dtype} and {@code shape} (first dimension: rows). */
        public RowWriter(Path target, DType dtype, long... shape) {
            if (shape.length == 0) {
                throw new IllegalArgumentException("a scalar has no rows");
            }
            this.target = target.toAbsolutePath();
            this.dtype = dtype;
            this.shape = shape.clone();
            this.rowsLeft = shape[0];
            Math.multiplyExact(Tensor.numel(shape), dtype.bytes());
            Path t = null;
            FileChannel c = null;
            try {
                t = AtomicFiles.createTemp(this.target.getParent(), this.target.getFileName().toString());
                AtomicFiles.readableByAll(t);
                c = FileChannel.open(t, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
                ByteBuffer h = ByteBuffer.wrap(header(dtype, shape));
                while (h.hasRemaining()) {
                    c.write(h);
                }
            } catch (IOException e) {
                try {
                    if (c != null) {
                        c.close();
                    }
                    if (t != null) {
                        java.nio.file.Files.deleteIfExists(t);
                    }
                } catch (IOException ignored) {
                    // report the first failure
                }
                throw new NppException("cannot write " + target + ": " + AtomicFiles.reason(e), e);
            }
            this.tmp = t;
            this.ch = c;
        }

        /** Appends a block of rows: a tensor of the declared type whose trailing dimensions match. */
        public void append(Tensor rows) {
            long[] s = rows.shape();
            if (rows.dtype() != dtype || s.length != shape.length
                    || !Arrays.equals(Arrays.copyOfRange(s, 1, s.length), Arrays.copyOfRange(shape, 1, shape.length))) {
                throw new NppException(target + ": rows " + rows + " do not match " + dtype + " " + Arrays.toString(shape));
            }
            if (s[0] > rowsLeft) {
                throw new NppException(target + ": declared " + shape[0] + " rows, got more");
            }
            try {
                ByteBuffer d = rows.data();
                while (d.hasRemaining()) {
                    ch.write(d);
                }
            } catch (IOException e) {
                throw new NppException("cannot write " + target + ": " + AtomicFiles.reason(e), e);
            }
            rowsLeft -= s[0];
        }

        /** Moves the finished file into place. */
        public void commit() {
            if (rowsLeft != 0) {
                throw new NppException(target + ": declared " + shape[0] + " rows, got " + (shape[0] - rowsLeft));
            }
            try {
                ch.force(false);
                ch.close();
                try {
                    java.nio.file.Files.move(tmp, target, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                            java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                } catch (java.nio.file.AtomicMoveNotSupportedException e) {
                    java.nio.file.Files.move(tmp, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                }
                committed = true;
            } catch (IOException e) {
                throw new NppException("cannot write " + target + ": " + AtomicFiles.reason(e), e);
            }
        }

        @Override
        public void close() {
            if (!committed) {
                try {
                    ch.close();
                    java.nio.file.Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // a hidden temporary file named after the target may remain
                }
            }
        }
    }

    /** Short lower-case name of a type as NumPy spells it (for messages and listings). */
    public static String numpyName(DType t) {
        return t == DType.BFLOAT16 ? "bfloat16" : t.name().toLowerCase(Locale.ROOT);
    }
}
