package org.nextpatch.hostile;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** A hand-assembled pickle program (protocol 2 opcodes plus MEMOIZE/FRAME-free protocol 4 ones). */
final class Pickle {
    private final ByteArrayOutputStream b = new ByteArrayOutputStream();

    Pickle op(int... bytes) {
        for (int x : bytes) {
            b.write(x);
        }
        return this;
    }

    Pickle proto() {
        return op(0x80, 2);
    }

    Pickle str(String s) {
        byte[] u = s.getBytes(StandardCharsets.UTF_8);
        op('X', u.length & 0xff, (u.length >> 8) & 0xff, (u.length >> 16) & 0xff, u.length >>> 24);
        b.writeBytes(u);
        return this;
    }

    Pickle integer(long v) {
        if (v == (int) v) {
            int i = (int) v;
            return op('J', i & 0xff, (i >> 8) & 0xff, (i >> 16) & 0xff, (i >>> 24) & 0xff);
        }
        op(0x8a, 8);
        for (int k = 0; k < 8; k++) {
            b.write((int) (v >>> (8 * k)) & 0xff);
        }
        return this;
    }

    Pickle global(String m, String n) {
        op('c');
        b.writeBytes((m + "\n" + n + "\n").getBytes(StandardCharsets.US_ASCII));
        return this;
    }

    Pickle put(int memo) {
        return op('r', memo & 0xff, (memo >> 8) & 0xff, (memo >> 16) & 0xff, memo >>> 24);
    }

    Pickle get(int memo) {
        return op('j', memo & 0xff, (memo >> 8) & 0xff, (memo >> 16) & 0xff, memo >>> 24);
    }

    Pickle tuple(long... v) {
        op('(');
        for (long x : v) {
            integer(x);
        }
        return op('t');
    }

    Pickle raw(byte[] bytes) {
        b.writeBytes(bytes);
        return this;
    }

    /** A tensor value: _rebuild_tensor_v2(storage(type, key, numel), offset, size, stride, False, OrderedDict()). */
    Pickle tensor(String storageType, String key, long numel, long offset, long[] size, long[] stride) {
        global("torch._utils", "_rebuild_tensor_v2").op('(');
        op('(').str("storage").global("torch", storageType).str(key).str("cpu").integer(numel).op('t', 'Q');
        integer(offset).tuple(size).tuple(stride).op(0x89).global("collections", "OrderedDict").op(')', 'R');
        return op('t', 'R');
    }

    byte[] bytes() {
        return b.toByteArray();
    }
}
