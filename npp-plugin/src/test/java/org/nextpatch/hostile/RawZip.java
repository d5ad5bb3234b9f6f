package org.nextpatch.hostile;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * A zip writer that lies on request: declared sizes and CRCs may differ from the data, entries may be
 * deflated. For building hostile archives in tests; the project's writer only writes honest ones.
 */
final class RawZip {
    private record E(String name, byte[] data, int method, long declaredSize, long crc) {}

    private final List<E> entries = new ArrayList<>();

    static long crc(byte[] b) {
        CRC32 c = new CRC32();
        c.update(b);
        return c.getValue();
    }

    static byte[] deflate(byte[] raw) {
        Deflater d = new Deflater(9, true);
        d.setInput(raw);
        d.finish();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[1 << 16];
        while (!d.finished()) {
            out.write(buf, 0, d.deflate(buf));
        }
        d.end();
        return out.toByteArray();
    }

    /** An honest stored entry. */
    RawZip stored(String name, byte[] data) {
        entries.add(new E(name, data, 0, data.length, crc(data)));
        return this;
    }

    /** A stored entry whose directory CRC is wrong (the data were changed after writing). */
    RawZip storedBadCrc(String name, byte[] data, long crc) {
        entries.add(new E(name, data, 0, data.length, crc));
        return this;
    }

    /** A deflated entry declaring {@code declaredSize} uncompressed bytes (the truth when -1). */
    RawZip deflated(String name, byte[] raw, long declaredSize) {
        entries.add(new E(name, deflate(raw), 8, declaredSize < 0 ? raw.length : declaredSize, crc(raw)));
        return this;
    }

    /** A deflated entry from already compressed bytes (for streams too large to hold inflated). */
    RawZip deflatedRaw(String name, byte[] compressed, long declaredSize, long crc) {
        entries.add(new E(name, compressed, 8, declaredSize, crc));
        return this;
    }

    byte[] bytes() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        List<Long> offsets = new ArrayList<>();
        for (E e : entries) {
            offsets.add((long) out.size());
            byte[] n = e.name.getBytes(StandardCharsets.UTF_8);
            ByteBuffer h = ByteBuffer.allocate(30).order(ByteOrder.LITTLE_ENDIAN);
            h.putInt(0x04034b50).putShort((short) 20).putShort((short) 0).putShort((short) e.method)
                    .putShort((short) 0).putShort((short) 0).putInt((int) e.crc).putInt(e.data.length)
                    .putInt((int) e.declaredSize).putShort((short) n.length).putShort((short) 0);
            out.writeBytes(h.array());
            out.writeBytes(n);
            out.writeBytes(e.data);
        }
        long cd = out.size();
        for (int i = 0; i < entries.size(); i++) {
            E e = entries.get(i);
            byte[] n = e.name.getBytes(StandardCharsets.UTF_8);
            ByteBuffer h = ByteBuffer.allocate(46).order(ByteOrder.LITTLE_ENDIAN);
            h.putInt(0x02014b50).putShort((short) 20).putShort((short) 20).putShort((short) 0)
                    .putShort((short) e.method).putShort((short) 0).putShort((short) 0).putInt((int) e.crc)
                    .putInt(e.data.length).putInt((int) e.declaredSize).putShort((short) n.length)
                    .putShort((short) 0).putShort((short) 0).putShort((short) 0).putShort((short) 0)
                    .putInt(0).putInt((int) (long) offsets.get(i));
            out.writeBytes(h.array());
            out.writeBytes(n);
        }
        long cdSize = out.size() - cd;
        ByteBuffer end = ByteBuffer.allocate(22).order(ByteOrder.LITTLE_ENDIAN);
        end.putInt(0x06054b50).putShort((short) 0).putShort((short) 0).putShort((short) entries.size())
                .putShort((short) entries.size()).putInt((int) cdSize).putInt((int) cd).putShort((short) 0);
        out.writeBytes(end.array());
        return out.toByteArray();
    }
}
