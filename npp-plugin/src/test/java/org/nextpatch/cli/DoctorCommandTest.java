package org.nextpatch.cli;

import org.junit.jupiter.api.Test;

import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code npp doctor}: versions, CPU, threads, GPUs, the engine self-test and one verdict line. */
class DoctorCommandTest {

    @Test
    void printsTheMachineAndEndsWithAVerdictThatMatchesTheExitStatus() {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int status = NppCommandTest.run(out, err, "doctor");
        String text = out.toString();
        for (String key : new String[]{"java:", "tribuo:", "djl:", "libtorch:", "onnxruntime:", "instruction sets:",
                "libtorch intra-op:", "onnxruntime providers:", "conv 3x3, 3 output channels: input gradient",
                "layer norm", "softmax", "matmul"}) {
            assertTrue(text.contains(key), key + " missing in:\n" + text);
        }
        String last = text.strip().lines().reduce((a, b) -> b).orElse("");
        // the project's own paths must be right on any machine the tests run on
        assertEquals("doctor: ok", last, text);
        assertEquals(0, status);
    }
}
