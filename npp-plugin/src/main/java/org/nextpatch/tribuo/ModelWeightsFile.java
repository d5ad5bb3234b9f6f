package org.nextpatch.tribuo;

import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Half;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;
import org.nextpatch.util.RegularFiles;
import org.nextpatch.util.Sha256;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The weights of an NPP model file kept outside the protobuf message: a raw file beside the model
 * file ({@code MODEL.weights}) holding every tensor, C-contiguous and little-endian, each starting at
 * a multiple of {@value #ALIGN} bytes (zero padding between them). The model file records each
 * tensor's name, type, shape and offset, and the file's size and SHA-256.
 * <p>
 * Writing streams tensor by tensor (converted to the storage type in small chunks) while hashing;
 * reading checks the size and the SHA-256, then maps every tensor read-only, so a model of any size
 * loads without its weights passing through the Java heap.
 */
final class ModelWeightsFile {
    /** Alignment of each tensor in the file, in bytes. */
    static final int ALIGN = 64;
    private static final int CHUNK = 1 << 20;

    private ModelWeightsFile() {
    }

    /** Where a tensor lies in the weights file. */
    record Entry(String name, DType dtype, long[] shape, long offset) {
        long bytes() {
            return Tensor.numel(shape) * dtype.bytes();
        }
    }

    /** What {@link #write} wrote: the layout, the file size and its SHA-256 (lower-case hex). */
    record Written(List<Entry> entries, long size, String sha256) {
    }

    /** The name of the weights file of a model file: the model file's name plus {@code .weights}. */
    static String nameFor(Path modelFile) {
        return modelFile.getFileName().toString() + ".weights";
    }

    /**
     * The type a tensor is stored as: {@code storage} for floating tensors when given, else its own.
     */
    static DType storedType(Tensor t, DType storage) {
        return storage != null && t.dtype().isFloating() ? storage : t.dtype();
    }

    /**
     * Writes the tensors to {@code file} (created or truncated) and syncs it to disk.
     *
     * @param storage FLOAT32, FLOAT16 or BFLOAT16 for the floating tensors; null keeps each tensor's type
     */
    static Written write(Path file, Map<String, Tensor> weights, DType storage) throws IOException {
        MessageDigest md = Sha256.digest();
        List<Entry> entries = new ArrayList<>(weights.size());
        ByteBuffer pad = ByteBuffer.allocate(ALIGN);
        ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
        long pos = 0;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            for (Map.Entry<String, Tensor> e : weights.entrySet()) {
                Tensor t = e.getValue();
                DType to = storedType(t, storage);
                int padding = (int) ((ALIGN - pos % ALIGN) % ALIGN);
                if (padding > 0) {
                    pad.clear().limit(padding);
                    pos += writeHashed(ch, pad, md);
                }
                entries.add(new Entry(e.getKey(), to, t.shape(), pos));
                long[] n = {0};
                chunks(t, to, chunk, b -> n[0] += writeHashed(ch, b, md));
                pos += n[0];
            }
            ch.force(true);
        }
        return new Written(entries, pos, Sha256.hex(md));
    }

    /**
     * The layout and SHA-256 of weights kept inline in the model file: the tensors' bytes one after
     * the other (no padding), in order. Offsets are where each tensor starts in that concatenation.
     */
    static Written digest(Map<String, Tensor> weights) {
        return digest(weights, null);
    }

    /** {@link #digest(Map)} of the weights as they would be stored as {@code storage} (converted chunk by chunk). */
    static Written digest(Map<String, Tensor> weights, DType storage) {
        MessageDigest md = Sha256.digest();
        List<Entry> entries = new ArrayList<>(weights.size());
        ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
        long pos = 0;
        for (Map.Entry<String, Tensor> e : weights.entrySet()) {
            Tensor t = e.getValue();
            DType to = storedType(t, storage);
            entries.add(new Entry(e.getKey(), to, t.shape(), pos));
            pos += t.numel() * to.bytes();
            try {
                chunks(t, to, chunk, md::update);
            } catch (IOException impossible) {
                throw new java.io.UncheckedIOException(impossible);
            }
        }
        return new Written(entries, pos, Sha256.hex(md));
    }

    /** Receives the bytes of a tensor, chunk by chunk. */
    interface ChunkSink {
        void accept(ByteBuffer bytes) throws IOException;
    }

    /**
     * Hands a tensor's bytes as stored as {@code to} to {@code sink}: the tensor's own buffer when the
     * type matches, else converted in chunks of {@code chunk}'s size (no copy of the whole tensor).
     */
    static void chunks(Tensor t, DType to, ByteBuffer chunk, ChunkSink sink) throws IOException {
        if (to == t.dtype()) {
            sink.accept(t.data());
            return;
        }
        if (!t.dtype().isFloating()) {
            throw new IllegalArgumentException("cannot store a " + t.dtype() + " tensor as " + to);
        }
        ByteBuffer src = t.data();
        long n = t.numel();
        int per = chunk.capacity() / to.bytes();
        for (long start = 0; start < n; start += per) {
            int len = (int) Math.min(per, n - start);
            chunk.clear();
            for (int i = 0; i < len; i++) {
                put(chunk, to, get(src, t.dtype(), start + i));
            }
            chunk.flip();
            sink.accept(chunk);
        }
    }

    private static long writeHashed(FileChannel ch, ByteBuffer buf, MessageDigest md) throws IOException {
        md.update(buf.duplicate());
        long n = 0;
        while (buf.hasRemaining()) {
            n += ch.write(buf);
        }
        return n;
    }

    static float get(ByteBuffer b, DType type, long index) {
        int i = Math.toIntExact(index * type.bytes());
        return switch (type) {
            case FLOAT32 -> b.getFloat(i);
            case FLOAT64 -> (float) b.getDouble(i);
            case FLOAT16 -> Half.toFloat(b.getShort(i));
            case BFLOAT16 -> Float.intBitsToFloat((b.getShort(i) & 0xffff) << 16);
            default -> throw new IllegalArgumentException("not a floating type: " + type);
        };
    }

    static void put(ByteBuffer b, DType type, float v) {
        switch (type) {
            case FLOAT32 -> b.putFloat(v);
            case FLOAT64 -> b.putDouble(v);
            case FLOAT16 -> b.putShort(Half.fromFloat(v));
            case BFLOAT16 -> b.putShort(toBfloat16(v));
            default -> throw new IllegalArgumentException("not a floating type: " + type);
        }
    }

    /** float32 to bfloat16, rounding to nearest even (as torch does); NaN stays NaN. */
    static short toBfloat16(float v) {
        int x = Float.floatToRawIntBits(v);
        if ((x & 0x7fffffff) > 0x7f800000) {
            return (short) ((x >>> 16) | 0x40);
        }
        return (short) ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16);
    }

    /**
     * A tensor converted to another floating type in a new buffer (for weights stored inline in the
     * protobuf message). Returns the tensor itself when the type already matches.
     */
    static Tensor convert(Tensor t, DType to) {
        if (to == null || t.dtype() == to || !t.dtype().isFloating()) {
            return t;
        }
        long n = t.numel();
        ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(n * to.bytes())).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer src = t.data();
        for (long i = 0; i < n; i++) {
            put(out, to, get(src, t.dtype(), i));
        }
        out.flip();
        return new Tensor(to, t.shape(), out);
    }

    /**
     * Checks a weights file against what the model file recorded and maps its tensors.
     *
     * @param file    the weights file
     * @param entries the layout recorded in the model file
     * @param size    the recorded size in bytes
     * @param sha256  the recorded SHA-256 (hex)
     * @throws NppException naming the file when it is missing, has another size or another hash
     */
    static LinkedHashMap<String, Tensor> open(Path file, List<Entry> entries, long size, String sha256) {
        if (!Files.exists(file) && !Files.isSymbolicLink(file)) {
            throw new NppException("NPP model weights file " + file + " is missing (the model file's weights live "
                    + "in this file beside it; copy or move the two together)");
        }
        RegularFiles.requireRegular(file, "NPP model weights file");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long actual = ch.size();
            if (actual != size) {
                throw new NppException("NPP model weights file " + file + " has " + actual + " bytes but the model "
                        + "file records " + size + " (" + (actual < size ? "truncated" : "altered or replaced") + ")");
            }
            String hash = Sha256.of(ch);
            if (!hash.equalsIgnoreCase(sha256)) {
                throw new NppException("NPP model weights file " + file + " has SHA-256 " + hash
                        + " but the model file records " + sha256 + " (altered or replaced)");
            }
            LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
            for (Entry e : entries) {
                long bytes = e.bytes();
                if (e.offset() < 0 || e.offset() + bytes > size) {
                    throw new NppException("NPP model file: tensor " + e.name() + " lies outside its weights file " + file);
                }
                ByteBuffer b = ch.map(FileChannel.MapMode.READ_ONLY, e.offset(), bytes);
                out.put(e.name(), new Tensor(e.dtype(), e.shape(), b));
            }
            return out;
        } catch (IOException e) {
            throw new NppException("cannot read NPP model weights file " + file + ": " + e.getMessage(), e);
        }
    }
}
