package org.nextpatch.tensor;

import org.nextpatch.util.NppException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.Inflater;
import java.util.zip.InflaterInputStream;

/**
 * A read-only view of a zip archive (the container of PyTorch checkpoints and {@code .npz} files),
 * parsed from its central directory, ZIP64 included.
 * <p>
 * {@code java.util.zip.ZipFile} is not used because it cannot hand out a memory-mapped region of a
 * stored entry: checkpoint storages of several GB must be mapped, not copied to the heap. Stored
 * (uncompressed) entries are mapped with {@link FileChannel#map}; deflated entries are inflated on
 * demand. The archive keeps its file channel open until {@link #close()}; mappings stay valid after.
 * <p>
 * Hostile archives are bounded: inflation stops at the size the directory declares (and a declared
 * size beyond what deflate can produce from the compressed bytes is refused up front), and every
 * read through {@link #read} or {@link #openStream} checks the CRC-32 as the bytes go by, with no
 * second pass. Mapped entries ({@link #map}) are checked by the caller, which reads them once anyway.
 */
public final class ZipArchive implements AutoCloseable {
    static final int LOCAL_SIG = 0x04034b50;
    static final int CENTRAL_SIG = 0x02014b50;
    static final int EOCD_SIG = 0x06054b50;
    static final int ZIP64_EOCD_SIG = 0x06064b50;
    static final int ZIP64_LOCATOR_SIG = 0x07064b50;
    static final int STORED = 0;
    static final int DEFLATED = 8;
    /** Deflate cannot expand data more than about 1032 times; a larger declared ratio is a lie. */
    private static final long MAX_DEFLATE_RATIO = 1100;

    /** One entry of the central directory. */
    public static final class Entry {
        private final String name;
        private final int method;
        private final int flags;
        private final long crc;
        private final long compressedSize;
        private final long size;
        private final long localHeaderOffset;
        private long dataOffset = -1;

        Entry(String name, int method, int flags, long crc, long compressedSize, long size, long localHeaderOffset) {
            this.name = name;
            this.method = method;
            this.flags = flags;
            this.crc = crc;
            this.compressedSize = compressedSize;
            this.size = size;
            this.localHeaderOffset = localHeaderOffset;
        }

        /** Full name inside the archive. */
        public String name() {
            return name;
        }

        /** Uncompressed size in bytes. */
        public long size() {
            return size;
        }

        /** True if the entry is stored without compression (so it can be memory-mapped). */
        public boolean isStored() {
            return method == STORED;
        }

        /** CRC-32 of the uncompressed content, as recorded in the directory. */
        public long crc() {
            return crc;
        }
    }

    private final Path path;
    private final FileChannel channel;
    private final long fileSize;
    private final Map<String, Entry> entries;

    private ZipArchive(Path path, FileChannel channel) throws IOException {
        this.path = path;
        this.channel = channel;
        this.fileSize = channel.size();
        this.entries = Collections.unmodifiableMap(readCentralDirectory());
    }

    /**
     * Opens an archive and reads its directory.
     *
     * @throws NppException if the file is missing, not a zip archive, truncated or corrupt
     */
    public static ZipArchive open(Path path) {
        FileChannel ch;
        try {
            ch = FileChannel.open(path, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new NppException(path + ": file not found");
        } catch (IOException e) {
            throw new NppException(path + ": cannot open: " + org.nextpatch.util.AtomicFiles.reason(e), e);
        }
        try {
            return new ZipArchive(path, ch);
        } catch (IOException | RuntimeException e) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // the open failure is the error worth reporting
            }
            if (e instanceof NppException n) {
                throw n;
            }
            throw new NppException(path + ": cannot read zip archive: " + e.getMessage(), e);
        }
    }

    /** The archive's path (for messages). */
    public Path path() {
        return path;
    }

    /** All entries by name, in directory order. */
    public Map<String, Entry> entries() {
        return entries;
    }

    /** The entry of that name, or null. */
    public Entry entry(String name) {
        return entries.get(name);
    }

    private NppException corrupt(String what) {
        return new NppException(path + ": corrupt or truncated zip archive (" + what + ")");
    }

    private ByteBuffer readAt(long pos, int n) throws IOException {
        if (pos < 0 || pos + n > fileSize) {
            throw corrupt("read of " + n + " bytes at offset " + pos + " is past the end of the " + fileSize + "-byte file");
        }
        ByteBuffer b = ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            if (channel.read(b, pos + b.position()) < 0) {
                throw corrupt("unexpected end of file");
            }
        }
        return b.flip();
    }

    private Map<String, Entry> readCentralDirectory() throws IOException {
        if (fileSize < 22) {
            throw corrupt("file of " + fileSize + " bytes is too short to be a zip archive");
        }
        // The end-of-central-directory record is within the last 22 + 65535 bytes (comment).
        int tailLen = (int) Math.min(fileSize, 22 + 65535);
        ByteBuffer tail = readAt(fileSize - tailLen, tailLen);
        int eocd = -1;
        for (int i = tailLen - 22; i >= 0; i--) {
            if (tail.getInt(i) == EOCD_SIG) {
                eocd = i;
                break;
            }
        }
        if (eocd < 0) {
            throw corrupt("no end-of-central-directory record; not a zip file or cut short");
        }
        long eocdPos = fileSize - tailLen + eocd;
        long count = tail.getShort(eocd + 10) & 0xffff;
        long cdSize = tail.getInt(eocd + 12) & 0xffffffffL;
        long cdOffset = tail.getInt(eocd + 16) & 0xffffffffL;
        if (eocdPos >= 20 && readAt(eocdPos - 20, 4).getInt(0) == ZIP64_LOCATOR_SIG) {
            ByteBuffer loc = readAt(eocdPos - 20, 20);
            long z64Pos = loc.getLong(8);
            ByteBuffer z64 = readAt(z64Pos, 56);
            if (z64.getInt(0) != ZIP64_EOCD_SIG) {
                throw corrupt("bad ZIP64 end-of-central-directory record");
            }
            count = z64.getLong(32);
            cdSize = z64.getLong(40);
            cdOffset = z64.getLong(48);
        }
        if (cdOffset < 0 || cdSize < 0 || cdOffset + cdSize > eocdPos || cdSize > Integer.MAX_VALUE) {
            throw corrupt("central directory at " + cdOffset + " of " + cdSize + " bytes lies outside the file");
        }
        ByteBuffer cd = readAt(cdOffset, (int) cdSize);
        Map<String, Entry> map = new LinkedHashMap<>();
        int p = 0;
        for (long i = 0; i < count; i++) {
            if (p + 46 > cd.limit() || cd.getInt(p) != CENTRAL_SIG) {
                throw corrupt("bad central directory entry " + i);
            }
            int flags = cd.getShort(p + 8) & 0xffff;
            int method = cd.getShort(p + 10) & 0xffff;
            long crc = cd.getInt(p + 16) & 0xffffffffL;
            long csize = cd.getInt(p + 20) & 0xffffffffL;
            long usize = cd.getInt(p + 24) & 0xffffffffL;
            int nameLen = cd.getShort(p + 28) & 0xffff;
            int extraLen = cd.getShort(p + 30) & 0xffff;
            int commentLen = cd.getShort(p + 32) & 0xffff;
            long lho = cd.getInt(p + 42) & 0xffffffffL;
            if (p + 46 + nameLen + extraLen + commentLen > cd.limit()) {
                throw corrupt("central directory entry " + i + " runs past the directory");
            }
            byte[] nameBytes = new byte[nameLen];
            cd.get(p + 46, nameBytes);
            String name = new String(nameBytes, (flags & 0x800) != 0 ? java.nio.charset.StandardCharsets.UTF_8
                    : java.nio.charset.StandardCharsets.ISO_8859_1);
            // ZIP64 extended information: the 64-bit values present are those whose 32-bit field is all ones.
            int e = p + 46 + nameLen;
            int eEnd = e + extraLen;
            while (e + 4 <= eEnd) {
                int id = cd.getShort(e) & 0xffff;
                int len = cd.getShort(e + 2) & 0xffff;
                if (id == 0x0001) {
                    int q = e + 4;
                    int qEnd = Math.min(q + len, eEnd);
                    if (usize == 0xffffffffL && q + 8 <= qEnd) {
                        usize = cd.getLong(q);
                        q += 8;
                    }
                    if (csize == 0xffffffffL && q + 8 <= qEnd) {
                        csize = cd.getLong(q);
                        q += 8;
                    }
                    if (lho == 0xffffffffL && q + 8 <= qEnd) {
                        lho = cd.getLong(q);
                    }
                }
                e += 4 + len;
            }
            if (method != STORED && method != DEFLATED) {
                throw new NppException(path + ": zip entry " + name + " uses compression method " + method
                        + "; only stored and deflated entries are supported");
            }
            if (lho < 0 || csize < 0 || usize < 0 || lho + 30 + csize > fileSize) {
                throw corrupt("entry " + name + " lies outside the file (cut short?)");
            }
            if (method == DEFLATED && usize > csize * MAX_DEFLATE_RATIO + 1024) {
                throw corrupt("entry " + name + " declares " + usize + " bytes from " + csize
                        + " compressed bytes, more than deflate can produce");
            }
            if (method == STORED && csize != usize) {
                throw corrupt("stored entry " + name + " has different compressed and uncompressed sizes");
            }
            map.put(name, new Entry(name, method, flags, crc, csize, usize, lho));
            p += 46 + nameLen + extraLen + commentLen;
        }
        return map;
    }

    private long dataOffset(Entry e) throws IOException {
        if (e.dataOffset < 0) {
            ByteBuffer lh = readAt(e.localHeaderOffset, 30);
            if (lh.getInt(0) != LOCAL_SIG) {
                throw corrupt("bad local header of entry " + e.name);
            }
            int nameLen = lh.getShort(26) & 0xffff;
            int extraLen = lh.getShort(28) & 0xffff;
            long off = e.localHeaderOffset + 30 + nameLen + extraLen;
            if (off + e.compressedSize > fileSize) {
                throw corrupt("data of entry " + e.name + " runs past the end of the file");
            }
            e.dataOffset = off;
        }
        return e.dataOffset;
    }

    private Entry require(String name) {
        Entry e = entries.get(name);
        if (e == null) {
            throw new NppException(path + ": entry " + name + " is missing from the archive");
        }
        return e;
    }

    /**
     * Maps {@code length} bytes of a stored entry starting at {@code offset} within the entry,
     * read-only and little-endian. At most 2^31 - 1 bytes per call.
     */
    public ByteBuffer map(Entry e, long offset, long length) {
        if (!e.isStored()) {
            throw new NppException(path + ": entry " + e.name + " is compressed and cannot be memory-mapped");
        }
        if (offset < 0 || length < 0 || offset + length > e.size) {
            throw new NppException(path + ": region [" + offset + ", " + (offset + length) + ") is outside entry "
                    + e.name + " of " + e.size + " bytes");
        }
        if (length > Integer.MAX_VALUE) {
            throw new NppException(path + ": region of " + length + " bytes in " + e.name + " exceeds the 2 GiB limit of one buffer");
        }
        try {
            if (length == 0) {
                return ByteBuffer.allocate(0).order(ByteOrder.LITTLE_ENDIAN);
            }
            return channel.map(FileChannel.MapMode.READ_ONLY, dataOffset(e) + offset, length).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException ex) {
            throw new NppException(path + ": cannot map entry " + e.name + ": " + ex.getMessage(), ex);
        }
    }

    /**
     * Reads a whole entry into a heap buffer (little-endian), checking its CRC-32. At most 2^31 - 1 bytes.
     */
    public ByteBuffer read(String name) {
        return read(require(name));
    }

    /** Reads a whole entry into a heap buffer, checking its CRC-32. */
    public ByteBuffer read(Entry e) {
        if (e.size > Integer.MAX_VALUE - 8) {
            throw new NppException(path + ": entry " + e.name + " of " + e.size + " bytes is too large to read at once");
        }
        try (InputStream in = openStream(e)) {
            byte[] out = new byte[(int) e.size];
            int n = in.readNBytes(out, 0, out.length);
            if (n < out.length || in.read() >= 0) {
                // the verifying stream reports short data and checks the CRC at its end
                throw corrupt("entry " + e.name + " is shorter than the " + e.size + " bytes the directory declares");
            }
            return ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException ex) {
            throw new NppException(path + ": cannot read entry " + e.name + ": " + ex.getMessage(), ex);
        }
    }

    /**
     * A stream over an entry's uncompressed content for sequential reading of large entries. It never
     * yields more than the declared size (a deflated entry that inflates further fails there, before
     * the excess is produced) and checks the length and CRC-32 when it reaches the end.
     */
    public InputStream openStream(Entry e) throws IOException {
        long off = dataOffset(e);
        InputStream raw = new java.io.BufferedInputStream(
                Channels.newInputStream(new BoundedChannel(channel, off, e.compressedSize)), 1 << 16);
        if (e.isStored()) {
            return new VerifyingStream(raw, e);
        }
        InputStream inflating = new InflaterInputStream(raw, new Inflater(true), 1 << 16) {
            @Override
            public void close() throws IOException {
                super.close();
                inf.end();
            }
        };
        return new VerifyingStream(new CheckedEofStream(inflating, e.name), e);
    }

    /** Stops at the declared size and checks the CRC-32 at the end of an entry. */
    private final class VerifyingStream extends java.io.FilterInputStream {
        private final Entry e;
        private final CRC32 crc = new CRC32();
        private long count;
        private boolean checked;

        VerifyingStream(InputStream in, Entry e) {
            super(in);
            this.e = e;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            if (count == e.size) {
                // at the declared end: the data must end here too
                if (!checked) {
                    if (super.read() >= 0) {
                        throw corrupt("entry " + e.name + " holds more than the " + e.size + " bytes the directory declares");
                    }
                    check();
                }
                return -1;
            }
            int n = super.read(b, off, (int) Math.min(len, e.size - count));
            if (n < 0) {
                throw corrupt("entry " + e.name + " ends after " + count + " of the " + e.size + " bytes the directory declares");
            }
            crc.update(b, off, n);
            count += n;
            return n;
        }

        private void check() {
            checked = true;
            if (crc.getValue() != e.crc) {
                throw corrupt("CRC mismatch in entry " + e.name);
            }
        }

        @Override
        public long skip(long n) throws IOException {
            byte[] buf = new byte[8192];
            long done = 0;
            while (done < n) {
                int r = read(buf, 0, (int) Math.min(buf.length, n - done));
                if (r < 0) {
                    break;
                }
                done += r;
            }
            return done;
        }

        @Override
        public boolean markSupported() {
            return false;
        }
    }

    /** Turns zlib's and the stream's end-of-input failures into messages naming the entry. */
    private final class CheckedEofStream extends java.io.FilterInputStream {
        private final String name;

        CheckedEofStream(InputStream in, String name) {
            super(in);
            this.name = name;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            try {
                return super.read(b, off, len);
            } catch (java.util.zip.ZipException | java.io.EOFException ex) {
                throw new IOException("corrupt deflated data in entry " + name + ": " + ex.getMessage(), ex);
            }
        }
    }

    /** A read-only window of the file channel as a byte channel (positions are independent of other readers). */
    private static final class BoundedChannel implements java.nio.channels.ReadableByteChannel {
        private final FileChannel ch;
        private long pos;
        private final long end;

        BoundedChannel(FileChannel ch, long start, long length) {
            this.ch = ch;
            this.pos = start;
            this.end = start + length;
        }

        @Override
        public int read(ByteBuffer dst) throws IOException {
            if (pos >= end) {
                return -1;
            }
            int want = (int) Math.min(dst.remaining(), end - pos);
            ByteBuffer d = dst.slice().limit(want);
            int n = ch.read(d, pos);
            if (n < 0) {
                return -1;
            }
            dst.position(dst.position() + n);
            pos += n;
            return n;
        }

        @Override
        public boolean isOpen() {
            return true;
        }

        @Override
        public void close() {
            // the archive owns the channel
        }
    }

    /** Names of all entries (in directory order). */
    public List<String> names() {
        return new ArrayList<>(entries.keySet());
    }

    /** True if the file starts with the local-file-header signature of a zip archive. */
    public static boolean looksLikeZip(Path path) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
            while (b.hasRemaining() && ch.read(b) >= 0) {
                // fill
            }
            return b.position() == 4 && b.getInt(0) == LOCAL_SIG;
        } catch (IOException e) {
            return false;
        }
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            throw new NppException(path + ": cannot close: " + e.getMessage(), e);
        }
    }
}
