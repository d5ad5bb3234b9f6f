package org.nextpatch.util;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/**
 * The project version and the git commit these classes were built from, as the build recorded them
 * in {@code org/nextpatch/build.properties}. Model provenance and ONNX manifests carry both, so a file
 * says which code made it.
 */
public final class BuildInfo {
    private static final Properties PROPS = load();

    private BuildInfo() {}

    /** The project version (e.g. {@code 0.1.0-SNAPSHOT}); "unknown" when the classes were not built by Maven. */
    public static String version() {
        return PROPS.getProperty("version", "unknown");
    }

    /** The git commit (40 hex digits, "-dirty" with uncommitted changes), or "unknown". */
    public static String commit() {
        return PROPS.getProperty("commit", "unknown");
    }

    private static Properties load() {
        Properties p = new Properties();
        try (InputStream in = BuildInfo.class.getResourceAsStream("/org/nextpatch/build.properties")) {
            if (in != null) {
                p.load(in);
            }
        } catch (IOException e) {
            // no record: "unknown"
        }
        return p;
    }
}
