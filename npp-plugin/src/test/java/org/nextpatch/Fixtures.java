package org.nextpatch;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * Locates {@code shared/fixtures/llamagen-tiny}: the reference outputs of the upstream PyTorch code.
 * The project's checkout sits beside {@code shared/}, so the directory is found by walking up from
 * the working directory; {@code -Dnpp.fixtures=DIR} overrides.
 */
public final class Fixtures {
    private Fixtures() {}

    /** The llamagen-tiny fixture directory. */
    public static Path dir() {
        String override = System.getProperty("npp.fixtures");
        if (override != null) {
            return Paths.get(override);
        }
        Path p = Paths.get("").toAbsolutePath();
        while (p != null) {
            Path c = p.resolve("shared/fixtures/llamagen-tiny");
            if (Files.isDirectory(c)) {
                return c;
            }
            p = p.getParent();
        }
        throw new IllegalStateException("shared/fixtures/llamagen-tiny not found above " + Paths.get("").toAbsolutePath()
                + "; set -Dnpp.fixtures=DIR");
    }

    /** A file of the fixture directory. */
    public static Path file(String name) {
        return dir().resolve(name);
    }
}
