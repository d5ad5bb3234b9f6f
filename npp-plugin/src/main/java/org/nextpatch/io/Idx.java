package org.nextpatch.io;

import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;
import org.nextpatch.util.RegularFiles;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;

/**
 * Reads IDX files, the format of MNIST and Fashion-MNIST ({@code train-images-idx3-ubyte[.gz]}):
 * two zero bytes, a type code, the rank, the big-endian int32 dimensions, then big-endian elements.
 * Gzip-compressed files are recognised by their magic number, whatever their name. Reading streams
 * and stops after the rows asked for, so a small file that inflates to gigabytes costs only what the
 * caller needs; a plain file's size is checked against its header before anything is allocated.
 */
public final class Idx {
    private Idx() {}

    /** An IDX file's element type and dimensions, as its header declares them. */
    public record Header(DType type, long[] shape) {
        /** Bytes of one row (one entry along the first dimension). */
        long rowBytes() {
            long n = type.bytes();
            for (int i = 1; i < shape.length; i++) {
                n = Math.multiplyExact(n, shape[i]);
            }
            return n;
        }
    }

    /**
     * Reads a whole IDX file: uint8 images [N, 28, 28] or labels [N] for (Fashion-)MNIST; the other IDX
     * types (int8, int16, int32, float32, float64) are converted to little-endian tensors of that type.
     */
    public static Tensor read(Path path) {
        return read(path, Long.MAX_VALUE);
    }

    /** Reads only the header (type and dimensions). */
    public static Header header(Path path) {
        return open(path, (in, h) -> h);
    }

    /**
     * Reads the first {@code maxRows} entries along the first dimension (all when the file has fewer):
     * the tensor's first dimension is the number read.
     */
    public static Tensor read(Path path, long maxRows) {
        return open(path, (in, h) -> data(in, h, Math.min(h.shape()[0], Math.max(0, maxRows)), path));
    }

    private interface Body<T> {
        T read(InputStream in, Header h) throws IOException;
    }

    private static <T> T open(Path path, Body<T> body) {
        RegularFiles.requireRegular(path, "IDX file");
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(path), 1 << 16)) {
            raw.mark(2);
            int b0 = raw.read();
            int b1 = raw.read();
            raw.reset();
            boolean gzip = b0 == 0x1f && b1 == 0x8b;
            InputStream in = gzip ? new GZIPInputStream(raw, 1 << 16) : raw;
            Header h = header(in, path);
            if (!gzip) {
                long fileSize = Files.size(path);
                long need = 4 + 4L * h.shape().length + Math.multiplyExact(h.rowBytes(), h.shape()[0]);
                if (fileSize < need) {
                    throw new NppException(path + ": truncated IDX file: " + Arrays.toString(h.shape()) + " needs " + need
                            + " bytes, the file has " + fileSize);
                }
            }
            return body.read(in, h);
        } catch (java.util.zip.ZipException | java.io.EOFException e) {
            throw new NppException(path + ": truncated or corrupt IDX file (" + e.getMessage() + ")");
        } catch (ArithmeticException e) {
            throw new NppException(path + ": IDX dimensions overflow a 64-bit size");
        } catch (IOException e) {
            throw new NppException(path + ": cannot read: " + org.nextpatch.util.AtomicFiles.reason(e), e);
        }
    }

    private static Header header(InputStream in, Path path) throws IOException {
        byte[] magic = in.readNBytes(4);
        if (magic.length < 4 || magic[0] != 0 || magic[1] != 0) {
            throw new NppException(path + ": not an IDX file (bad magic number)");
        }
        DType type = switch (magic[2] & 0xff) {
            case 0x08 -> DType.UINT8;
            case 0x09 -> DType.INT8;
            case 0x0B -> DType.INT16;
            case 0x0C -> DType.INT32;
            case 0x0D -> DType.FLOAT32;
            case 0x0E -> DType.FLOAT64;
            default -> throw new NppException(path + ": unknown IDX element type 0x" + Integer.toHexString(magic[2] & 0xff));
        };
        int rank = magic[3] & 0xff;
        if (rank == 0) {
            throw new NppException(path + ": IDX file of rank 0");
        }
        byte[] dimBytes = in.readNBytes(4 * rank);
        if (dimBytes.length < 4 * rank) {
            throw new NppException(path + ": truncated IDX header");
        }
        ByteBuffer db = ByteBuffer.wrap(dimBytes).order(ByteOrder.BIG_ENDIAN);
        long[] shape = new long[rank];
        for (int i = 0; i < rank; i++) {
            shape[i] = db.getInt() & 0xffffffffL;
        }
        return new Header(type, shape);
    }

    private static Tensor data(InputStream in, Header h, long rows, Path path) throws IOException {
        long[] shape = h.shape().clone();
        shape[0] = rows;
        long bytes = Math.multiplyExact(rows, h.rowBytes());
        if (bytes > Integer.MAX_VALUE - 8) {
            throw new NppException(path + ": IDX array " + Arrays.toString(shape) + " exceeds the 2 GiB limit of one tensor");
        }
        // readNBytes grows its buffer as data arrives: a lying header in a gzip file costs what it holds
        byte[] data = in.readNBytes((int) bytes);
        if (data.length < bytes) {
            throw new NppException(path + ": truncated IDX file: " + Arrays.toString(shape) + " needs " + bytes
                    + " bytes of data, found " + data.length);
        }
        DType type = h.type();
        if (type.bytes() > 1) {
            // IDX is big-endian; tensors are little-endian
            int es = type.bytes();
            for (int p = 0; p < data.length; p += es) {
                for (int i = 0; i < es / 2; i++) {
                    byte t = data[p + i];
                    data[p + i] = data[p + es - 1 - i];
                    data[p + es - 1 - i] = t;
                }
            }
        }
        return Tensor.ofBytes(type, shape, data);
    }
}
