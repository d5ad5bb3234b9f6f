package org.nextpatch.tribuo;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.util.NppException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A model file that cannot be read gets one message naming the file and what is wrong: also for a
 * flipped byte that fails deep inside Tribuo's or OLCUT's readers ("Index 33 out of bounds for length
 * 33", a class-not-found with an empty name), for a symlink loop, a FIFO or a directory.
 */
class ModelFileErrorsTest {

    @TempDir
    Path dir;

    @Test
    void failuresFromInsideTheReadersAreDescribed() {
        Path f = dir.resolve("m.tribuo");
        IllegalStateException olcut = new IllegalStateException("The deserialization method threw an exception",
                new java.lang.reflect.InvocationTargetException(new ArrayIndexOutOfBoundsException("Index 33 out of bounds for length 33")));
        assertEquals(f + " is corrupt or was written by incompatible code: a reference inside it points outside its table"
                + " (Index 33 out of bounds for length 33)", ModelFileErrors.unreadable(f, olcut).getMessage());
        String m = ModelFileErrors.unreadable(f, new IllegalStateException(new ClassNotFoundException(""))).getMessage();
        assertTrue(m.startsWith(f + " is corrupt") && m.endsWith("it names a class with an empty name"), m);
        m = ModelFileErrors.unreadable(f, new RuntimeException(new ArrayIndexOutOfBoundsException())).getMessage();
        assertTrue(m.endsWith("(ArrayIndexOutOfBoundsException)"), m);
        // the project's own messages are kept, with the file in front when they lack it
        m = ModelFileErrors.unreadable(f, new IllegalStateException(new NppException("GPT config needs an integer 'dim'"))).getMessage();
        assertEquals(f + ": GPT config needs an integer 'dim'", m);
    }

    @Test
    void notAFileIsSaidSo() throws Exception {
        Path loop = dir.resolve("loop.tribuo");
        Files.createSymbolicLink(loop, loop);
        String m = assertThrows(NppException.class, () -> NppModel.load(loop)).getMessage();
        assertTrue(m.contains(loop.toString()) && m.toLowerCase().contains("symbolic links") && !m.contains("not found"), m);
        m = assertThrows(NppException.class, () -> NppModel.load(dir)).getMessage();
        assertTrue(m.contains(dir + " is a directory"), m);
        Path fifo = dir.resolve("m.fifo");
        if (new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0) {
            m = assertThrows(NppException.class, () -> NppModel.load(fifo)).getMessage();
            assertTrue(m.contains(fifo + " is not a regular file"), m);
            m = assertThrows(NppException.class, () -> org.nextpatch.cli.ProvenanceCommand.load(fifo)).getMessage();
            assertTrue(m.contains(fifo + " is not a regular file"), m);
        }
    }

    /** Every 29th byte of an external model's file flipped: each failure names the file and says something. */
    @Test
    void flippedBytesInTheModelFileGetMessagesNamingIt() throws Exception {
        Path f = dir.resolve("m.tribuo");
        try (NppModel m = NppModelTest.model(NppModelTest.data(6, 1))) {
            m.save(f, null, NppModel.WeightsLayout.EXTERNAL);
        }
        byte[] orig = Files.readAllBytes(f);
        List<String> bad = new ArrayList<>();
        int failures = 0;
        for (int i = 0; i < orig.length; i += 29) {
            byte[] b = orig.clone();
            b[i] ^= 0x01;
            Files.write(f, b);
            try {
                NppModel.load(f).close();
            } catch (NppException e) {
                failures++;
                String m = e.getMessage();
                String after = m.substring(m.indexOf(f.toString()) + f.toString().length());
                if (!m.contains(f.toString()) || after.replaceAll("[:\\s]", "").isEmpty() || m.endsWith("null")) {
                    bad.add("byte " + i + ": " + m);
                }
            }
        }
        // most flips are refused (seen: about 80 %); the rest change a value that still loads
        assertTrue(failures > orig.length / 29 / 2, failures + " failures");
        assertEquals(List.of(), bad);
    }
}
