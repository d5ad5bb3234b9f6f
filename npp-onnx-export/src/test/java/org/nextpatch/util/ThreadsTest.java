package org.nextpatch.util;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The one thread setting of both engines: the property wins, bad values are one clear line. */
class ThreadsTest {
    @AfterEach
    void clear() {
        System.clearProperty(Threads.PROPERTY);
    }

    @Test
    void propertySetsTheCount() {
        System.setProperty(Threads.PROPERTY, "3");
        assertEquals(3, Threads.configured());
        assertEquals(3, Threads.intraOp());
    }

    @Test
    void defaultIsWithinTheCpusTheJvmMayUse() {
        int d = Threads.defaultThreads();
        assertTrue(d >= 1 && d <= Runtime.getRuntime().availableProcessors(), "default " + d);
        if (System.getenv(Threads.ENV) == null) {
            assertEquals(d, Threads.intraOp());
        }
    }

    @Test
    void badValuesAreRefused() {
        System.setProperty(Threads.PROPERTY, "zero");
        NppException e = assertThrows(NppException.class, Threads::configured);
        assertTrue(e.getMessage().contains("-Dnpp.threads=zero") && e.getMessage().contains("positive"), e.getMessage());
        System.setProperty(Threads.PROPERTY, "0");
        assertThrows(NppException.class, Threads::configured);
    }
}
