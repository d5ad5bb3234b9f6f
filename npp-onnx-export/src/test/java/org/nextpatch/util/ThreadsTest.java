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

    /**
     * Without a setting the count is the fixed default, whatever the machine's load (it used to be one
     * thread on a busy machine and one per CPU on a quiet one, and results followed the load).
     */
    @Test
    void withoutASettingTheCountIsFixed() {
        assertEquals(1, Threads.DEFAULT);
        if (System.getenv(Threads.ENV) == null) {
            assertEquals(Threads.DEFAULT, Threads.intraOp());
        }
    }

    /** ONNX sampling (bit-identical at any count, OnnxThreadsTest) keeps a default that follows the load. */
    @Test
    void onnxSamplingFollowsTheLoad() {
        assertEquals(2, Threads.loadAware(2, 0.5));
        assertEquals(1, Threads.loadAware(2, 1.0));
        assertEquals(8, Threads.loadAware(8, 3.9));
        assertEquals(1, Threads.loadAware(8, 4.0));
        assertEquals(1, Threads.loadAware(1, 0));
        System.setProperty(Threads.PROPERTY, "3");
        assertEquals(3, Threads.onnxSampling(), "the setting wins");
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
