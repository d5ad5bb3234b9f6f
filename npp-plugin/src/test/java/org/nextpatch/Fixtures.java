package org.nextpatch;

import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * Locates the llamagen-tiny fixture: checkpoints written by real PyTorch and the outputs the upstream
 * code computed from them (see its README). The project keeps its own copy under
 * {@code src/test/resources/fixtures/llamagen-tiny}, so the tests need nothing outside the clone;
 * {@code -Dnpp.fixtures=DIR} points them at another copy.
 */
public final class Fixtures {
    private Fixtures() {}

    /** The llamagen-tiny fixture directory. */
    public static Path dir() {
        String override = System.getProperty("npp.fixtures");
        if (override != null) {
            return Paths.get(override);
        }
        URL readme = Fixtures.class.getResource("/fixtures/llamagen-tiny/README.md");
        if (readme == null || !"file".equals(readme.getProtocol())) {
            throw new IllegalStateException("fixtures/llamagen-tiny is not on the test class path as a folder");
        }
        try {
            Path dir = Paths.get(readme.toURI()).getParent();
            if (!Files.isDirectory(dir)) {
                throw new IllegalStateException("fixture folder missing: " + dir);
            }
            return dir;
        } catch (URISyntaxException e) {
            throw new IllegalStateException("bad fixture location " + readme, e);
        }
    }

    /** A file of the fixture directory. */
    public static Path file(String name) {
        return dir().resolve(name);
    }
}
