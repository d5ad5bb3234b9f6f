package org.nextpatch.tensor;

import org.nextpatch.util.AtomicFiles;
import org.nextpatch.util.NppException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;

/**
 * Writes a zip archive of stored (uncompressed) entries, atomically: the archive is written to a
 * hidden temporary file beside the target and renamed over it by {@link #commit()}; closing without
 * committing deletes the temporary file, so a failed or killed write never leaves half a file.
 * <p>
 * Each entry's size is declared when it begins, which lets its content be streamed in pieces (rows
 * of a 10 GB sample batch) without buffering; the CRC-32 is patched into the local header when the
 * entry ends. Entry data is aligned to 64 bytes (as {@code torch.save} does, so readers can map it),
 * and ZIP64 records are written for entries, offsets or counts beyond the classic zip limits.
 */
public final class ZipArchiveWriter implements AutoCloseable {
    private static final int ALIGN = 64;
    private static final long MAX32 = 0xffffffffL;

    private record Done(byte[] name, long crc, long size, long headerOffset) {}

    private final Path target;
    private final Path tmp;
    private final FileChannel ch;
    private final ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
    private final List<Done> done = new ArrayList<>();
    private long pos;
    private boolean finished;
    /** Tests set this to write ZIP64 records for every entry and the directory without writing 4 GB. */
    boolean forceZip64;

    // the entry being written
    private byte[] curName;
    private long curSize = -1;
    private long curWritten;
    private long curHeader;
    private long curCrcPos;
    private final CRC32 crc = new CRC32();

    /** Starts writing {@code target} (through a temporary file in the same directory). */
    public ZipArchiveWriter(Path target) {
        this.target = target;
        Path abs = target.toAbsolutePath();
        try {
            Path dir = abs.getParent();
            if (dir != null) {
                Files.createDirectories(dir);
            }
            this.tmp = AtomicFiles.createTemp(dir, abs.getFileName().toString());
            AtomicFiles.readableByAll(tmp);
            this.ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
        } catch (IOException e) {
            throw new NppException("cannot write " + target + ": " + e.getMessage(), e);
        }
    }

    private NppException fail(IOException e) {
        return new NppException("cannot write " + target + ": " + e.getMessage(), e);
    }

    private void flush() throws IOException {
        buf.flip();
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
        buf.clear();
    }

    private void put(ByteBuffer src) throws IOException {
        if (src.remaining() >= buf.capacity()) {
            // large pieces (tensor storages, batches of rows) go straight to the channel, without a copy
            flush();
            int n = src.remaining();
            while (src.hasRemaining()) {
                ch.write(src);
            }
            pos += n;
            return;
        }
        while (src.hasRemaining()) {
            if (!buf.hasRemaining()) {
                flush();
            }
            int n = Math.min(buf.remaining(), src.remaining());
            ByteBuffer part = src.slice().limit(n);
            buf.put(part);
            src.position(src.position() + n);
            pos += n;
        }
    }

    private void ensure(int n) throws IOException {
        if (buf.remaining() < n) {
            flush();
        }
    }

    private void putInt(int v) throws IOException {
        ensure(4);
        buf.putInt(v);
        pos += 4;
    }

    private void putShort(int v) throws IOException {
        ensure(2);
        buf.putShort((short) v);
        pos += 2;
    }

    private void putLong(long v) throws IOException {
        ensure(8);
        buf.putLong(v);
        pos += 8;
    }

    private void putBytes(byte[] b) throws IOException {
        put(ByteBuffer.wrap(b));
    }

    /**
     * Begins an entry of exactly {@code size} bytes; write its content with {@link #write} and end it
     * with {@link #endEntry()}.
     */
    public void beginEntry(String name, long size) {
        if (curName != null) {
            throw new IllegalStateException("entry " + new String(curName, StandardCharsets.UTF_8) + " not ended");
        }
        try {
            byte[] nm = name.getBytes(StandardCharsets.UTF_8);
            boolean z64 = forceZip64 || size >= MAX32 || pos >= MAX32;
            int z64Len = z64 ? 4 + 16 : 0;
            // pad with an extra field (id 0x4246, as torch.save does) so the data starts 64-byte aligned
            long dataStart = pos + 30 + nm.length + z64Len;
            int pad = (int) ((ALIGN - (dataStart + 4) % ALIGN) % ALIGN);
            int extraLen = z64Len + 4 + pad;
            curHeader = pos;
            putInt(ZipArchive.LOCAL_SIG);
            putShort(z64 ? 45 : 20);               // version needed
            putShort(0x0800);                      // UTF-8 names
            putShort(ZipArchive.STORED);
            putShort(0);                           // time
            putShort(0x21);                        // date 1980-01-01
            curCrcPos = pos;
            putInt(0);                             // CRC, patched by endEntry
            putInt(z64 ? -1 : (int) size);
            putInt(z64 ? -1 : (int) size);
            putShort(nm.length);
            putShort(extraLen);
            putBytes(nm);
            if (z64) {
                putShort(0x0001);
                putShort(16);
                putLong(size);
                putLong(size);
            }
            putShort(0x4246);
            putShort(pad);
            putBytes(new byte[pad]);
            curName = nm;
            curSize = size;
            curWritten = 0;
            crc.reset();
        } catch (IOException e) {
            throw fail(e);
        }
    }

    /** Appends content to the current entry (the buffer's remaining bytes; its position is advanced). */
    public void write(ByteBuffer data) {
        if (curName == null) {
            throw new IllegalStateException("no entry begun");
        }
        int n = data.remaining();
        if (curWritten + n > curSize) {
            throw new IllegalStateException("entry " + new String(curName, StandardCharsets.UTF_8) + " declared "
                    + curSize + " bytes, got more");
        }
        crc.update(data.duplicate());
        try {
            put(data);
        } catch (IOException e) {
            throw fail(e);
        }
        curWritten += n;
    }

    /** Appends bytes to the current entry. */
    public void write(byte[] data) {
        write(ByteBuffer.wrap(data));
    }

    /** Ends the current entry; it must have received exactly its declared size. */
    public void endEntry() {
        if (curWritten != curSize) {
            throw new IllegalStateException("entry " + new String(curName, StandardCharsets.UTF_8) + " declared "
                    + curSize + " bytes, got " + curWritten);
        }
        try {
            flush();
            ByteBuffer c = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) crc.getValue()).flip();
            while (c.hasRemaining()) {
                ch.write(c, curCrcPos + c.position());
            }
        } catch (IOException e) {
            throw fail(e);
        }
        done.add(new Done(curName, crc.getValue(), curSize, curHeader));
        curName = null;
    }

    /** Writes a whole entry. */
    public void entry(String name, byte[] content) {
        beginEntry(name, content.length);
        write(content);
        endEntry();
    }

    /** Writes the central directory and renames the finished archive over the target. */
    public void commit() {
        if (curName != null) {
            throw new IllegalStateException("entry " + new String(curName, StandardCharsets.UTF_8) + " not ended");
        }
        try {
            long cdStart = pos;
            for (Done d : done) {
                boolean z64 = forceZip64 || d.size >= MAX32 || d.headerOffset >= MAX32;
                putInt(ZipArchive.CENTRAL_SIG);
                putShort(z64 ? 45 : 20);           // version made by
                putShort(z64 ? 45 : 20);           // version needed
                putShort(0x0800);
                putShort(ZipArchive.STORED);
                putShort(0);
                putShort(0x21);
                putInt((int) d.crc);
                putInt(z64 ? -1 : (int) d.size);
                putInt(z64 ? -1 : (int) d.size);
                putShort(d.name.length);
                putShort(z64 ? 4 + 24 : 0);
                putShort(0);                       // comment
                putShort(0);                       // disk
                putShort(0);                       // internal attributes
                putInt(0);                         // external attributes
                putInt(z64 ? -1 : (int) d.headerOffset);
                putBytes(d.name);
                if (z64) {
                    putShort(0x0001);
                    putShort(24);
                    putLong(d.size);
                    putLong(d.size);
                    putLong(d.headerOffset);
                }
            }
            long cdEnd = pos;
            long cdSize = cdEnd - cdStart;
            boolean z64 = forceZip64 || done.size() >= 0xffff || cdStart >= MAX32 || cdSize >= MAX32;
            if (z64) {
                putInt(ZipArchive.ZIP64_EOCD_SIG);
                putLong(44);                       // size of the rest of this record
                putShort(45);
                putShort(45);
                putInt(0);
                putInt(0);
                putLong(done.size());
                putLong(done.size());
                putLong(cdSize);
                putLong(cdStart);
                putInt(ZipArchive.ZIP64_LOCATOR_SIG);
                putInt(0);
                putLong(cdEnd);
                putInt(1);
            }
            putInt(ZipArchive.EOCD_SIG);
            putShort(0);
            putShort(0);
            putShort(z64 ? 0xffff : done.size());
            putShort(z64 ? 0xffff : done.size());
            putInt(z64 ? -1 : (int) cdSize);
            putInt(z64 ? -1 : (int) cdStart);
            putShort(0);
            flush();
            ch.force(false);
            ch.close();
            try {
                Files.move(tmp, target.toAbsolutePath(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target.toAbsolutePath(), StandardCopyOption.REPLACE_EXISTING);
            }
            finished = true;
        } catch (IOException e) {
            throw fail(e);
        }
    }

    /** Deletes the temporary file unless {@link #commit()} succeeded. */
    @Override
    public void close() {
        if (!finished) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // already failing; the temporary file is removed below
            }
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // best effort: the temporary file is hidden and named after the target
            }
            finished = true;
        }
    }
}
