package org.nextpatch.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.Fixtures;

import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code npp inspect-ckpt} on the fixture checkpoints and on bad input. */
class InspectCkptCommandTest {
    @TempDir
    Path dir;

    private static List<String> lines(StringWriter w) {
        return w.toString().lines().toList();
    }

    @Test
    void gptCheckpoint() {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        assertEquals(0, NppCommandTest.run(out, err, "inspect-ckpt", Fixtures.file("gpt.pt").toString()), err.toString());
        List<String> l = lines(out);
        String text = out.toString();
        // element count of the 18 tensors, from gpt-config.json (see TorchCheckpointFixtureTest)
        assertEquals("parameters: 164864", l.get(l.size() - 1));
        assertTrue(text.matches("(?s).*\\n  model +dict \\(18 entries, 18 tensors\\)\\n.*"), text);
        assertTrue(text.matches("(?s).*\\n  steps +int 7\\n.*"), text);
        assertTrue(text.matches("(?s).*\\n  args +argparse\\.Namespace \\(7 fields\\)\\n.*"), text);
        assertTrue(text.contains("state dict 'model': 18 tensors"), text);
        assertTrue(text.matches("(?s).*\\n  tok_embeddings\\.weight +float32 +\\[256, 64\\]\\n.*"), text);
    }

    @Test
    void vqCheckpoint() {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        assertEquals(0, NppCommandTest.run(out, err, "inspect-ckpt", Fixtures.file("vq.pt").toString()), err.toString());
        List<String> l = lines(out);
        assertEquals("parameters: 1061611", l.get(l.size() - 1));
    }

    @Test
    void badFileIsOneLineError() throws Exception {
        Path junk = dir.resolve("junk.pt");
        Files.writeString(junk, "definitely not a checkpoint");
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        assertEquals(1, NppCommandTest.run(out, err, "inspect-ckpt", junk.toString()));
        String e = err.toString().strip();
        assertEquals(1, e.lines().count(), e);
        assertTrue(e.contains("junk.pt") && e.contains("not a PyTorch checkpoint"), e);

        err = new StringWriter();
        assertEquals(1, NppCommandTest.run(out, err, "inspect-ckpt", dir.resolve("none.pt").toString()));
        assertTrue(err.toString().contains("none.pt: file not found"), err.toString());
        assertEquals(2, NppCommandTest.run(out, new StringWriter(), "inspect-ckpt"));
    }
}
