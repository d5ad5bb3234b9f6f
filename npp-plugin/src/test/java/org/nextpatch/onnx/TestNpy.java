package org.nextpatch.onnx;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/** Minimal reader of little-endian C-order .npy files (float32 / int64) for the fixture tests. */
final class TestNpy {
    private TestNpy() {}

    private static ByteBuffer body(Path f, String descr) {
        try {
            ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(f)).order(ByteOrder.LITTLE_ENDIAN);
            int major = b.get(6);
            int headerLen = major == 1 ? (b.getShort(8) & 0xffff) : b.getInt(8);
            int start = (major == 1 ? 10 : 12) + headerLen;
            String header = new String(b.array(), major == 1 ? 10 : 12, headerLen, java.nio.charset.StandardCharsets.ISO_8859_1);
            if (!header.contains("'" + descr + "'") || header.contains("'fortran_order': True")) {
                throw new IllegalStateException(f + ": expected " + descr + " C-order, header " + header);
            }
            return b.position(start).slice().order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static float[] floats(Path f) {
        ByteBuffer b = body(f, "<f4");
        float[] out = new float[b.remaining() / 4];
        b.asFloatBuffer().get(out);
        return out;
    }

    static long[] longs(Path f) {
        ByteBuffer b = body(f, "<i8");
        long[] out = new long[b.remaining() / 8];
        b.asLongBuffer().get(out);
        return out;
    }
}
