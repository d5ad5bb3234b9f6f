package org.nextpatch.io;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;

/** Plain pickles written by Python 3.11 at protocols 0 (text opcodes) and 4 (frames, memoize, stack globals). */
class UnpicklerTest {

    private static final Unpickler.Hooks NO_TENSORS = new Unpickler.Hooks() {
        @Override
        public Object persistentLoad(Object pid) {
            throw new AssertionError("no persistent ids in these pickles");
        }

        @Override
        public Object call(Unpickler.Global g, PickleTuple args) {
            return Unpickler.UNHANDLED;
        }
    };

    private static Object load(String name) throws IOException {
        byte[] b = Files.readAllBytes(TorchResourcesTest.resource(name));
        return new Unpickler(ByteBuffer.wrap(b), name, NO_TENSORS).load();
    }

    @Test
    void protocols0And4() throws IOException {
        for (String name : new String[]{"plain-p0.pkl", "plain-p4.pkl"}) {
            Map<?, ?> m = assertInstanceOf(Map.class, load(name), name);
            // value from generate.py: {'ké→': [1, 2.5, 'x', True, None, (1, 2), 10**20, -3, -(2**40)], ...}
            List<?> l = assertInstanceOf(List.class, m.get("k\u00e9\u2192"), name);
            assertEquals(List.of(1L, 2.5, "x", true), l.subList(0, 4), name);
            assertEquals(null, l.get(4), name);
            assertEquals(PickleTuple.of(1L, 2L), l.get(5), name);
            assertInstanceOf(PickleTuple.class, l.get(5), name);
            assertEquals(BigInteger.TEN.pow(20), l.get(6), name);
            assertEquals(-3L, l.get(7), name);
            assertEquals(-(1L << 40), l.get(8), name);
            assertEquals(Map.of("a", 1L), m.get("od"), name);
            assertEquals(Set.of(7L), m.get("set"), name);
            assertArrayEquals(new byte[]{0, (byte) 0xff}, (byte[]) m.get("bytes"), name);
            assertSame(l, m.get("shared"), name + ": memo references give the same object");
        }
    }
}
