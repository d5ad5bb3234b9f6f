package org.nextpatch.onnx;

import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * An ONNX external-data file that several graphs can share: a tensor is written once under its name
 * and every graph that holds an initializer of that name (and the same bytes) points at the same
 * offset. The GPT prefill, step and generate graphs carry the same weights, so for GPT-XXL this
 * writes 5.6 GB once instead of three times.
 * <p>
 * The data goes to a temporary file beside the target and is renamed over it by {@link #commit()};
 * closing without committing deletes it.
 */
public final class ExternalDataFile implements AutoCloseable {
    private static final int ALIGN = 4096;

    private record Entry(long offset, long length, long crc) {}

    private final Path target;
    private final Path tmp;
    private final FileChannel channel;
    private final Map<String, Entry> index = new HashMap<>();
    private long position;
    private boolean committed;

    /** Starts a data file that will become {@code target} on commit. */
    public ExternalDataFile(Path target) {
        this.target = target.toAbsolutePath();
        try {
            Files.createDirectories(this.target.getParent());
            this.tmp = org.nextpatch.util.AtomicFiles.createTemp(this.target.getParent(), this.target.getFileName().toString());
            this.channel = FileChannel.open(tmp, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new NppException("cannot create " + target + ": " + e.getMessage(), e);
        }
    }

    /** The location written into the graphs: the file name, relative to the model files beside it. */
    public String location() {
        return target.getFileName().toString();
    }

    /** Bytes written so far. */
    public long size() {
        return position;
    }

    /**
     * Writes a tensor (once per name) and returns its {offset, length}.
     *
     * @throws IllegalStateException if the name was written before with other bytes
     */
    long[] put(String name, Tensor t) {
        ByteBuffer data = t.data();
        long length = data.remaining();
        CRC32 crc = new CRC32();
        crc.update(data.duplicate());
        Entry e = index.get(name);
        if (e != null) {
            if (e.length() != length || e.crc() != crc.getValue()) {
                throw new IllegalStateException("external data: initializer '" + name + "' written twice with different contents");
            }
            return new long[]{e.offset(), e.length()};
        }
        long offset = (position + ALIGN - 1) / ALIGN * ALIGN;
        try {
            channel.position(offset);
            while (data.hasRemaining()) {
                channel.write(data);
            }
        } catch (IOException ex) {
            throw new NppException("cannot write " + target + ": " + ex.getMessage(), ex);
        }
        position = offset + length;
        index.put(name, new Entry(offset, length, crc.getValue()));
        return new long[]{offset, length};
    }

    /** Flushes the data and renames the temporary file over the target. */
    public void commit() {
        try {
            channel.force(false);
            channel.close();
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            committed = true;
        } catch (IOException e) {
            throw new NppException("cannot write " + target + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        if (!committed) {
            try {
                channel.close();
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // best effort: the temporary file is hidden and named after the target
            }
        }
    }
}
