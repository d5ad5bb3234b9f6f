package org.nextpatch.data;

import org.nextpatch.util.NppException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A class-names file: one name per line, the line's index the class index, as {@code npp extract-codes}
 * writes {@value #FILE} beside the code folders. Blank lines are skipped.
 */
public final class ClassNames {
    /** Name of the class-names file in a code directory. */
    public static final String FILE = "classes.txt";
    /** The most bytes read (one short name per class). */
    private static final long MAX_BYTES = 16L << 20;

    private ClassNames() {
    }

    /**
     * The names in {@code file} for a model of {@code classes} classes: one per class.
     *
     * @param what how to name the file in messages (e.g. "--class-names"), or null
     * @throws NppException naming the file when it cannot be read or names another number of classes
     */
    public static List<String> read(Path file, String what, int classes) {
        List<String> names = read(file, what);
        if (names.size() != classes) {
            throw new NppException((what == null ? "" : what + " ") + file + ": " + names.size() + " names for a model of "
                    + classes + " classes (one name per line, in class order)");
        }
        return names;
    }

    /**
     * The names in {@code file}, in class order.
     *
     * @param what how to name the file in messages (e.g. "--class-names"), or null
     * @return the names (empty when the file holds none)
     * @throws NppException naming the file when it is missing, too large or unreadable
     */
    public static List<String> read(Path file, String what) {
        String name = (what == null ? "" : what + " ") + file;
        try {
            if (!Files.isRegularFile(file)) {
                throw new NppException(name + ": file not found");
            }
            if (Files.size(file) > MAX_BYTES) {
                throw new NppException(name + ": " + Files.size(file) + " bytes, more than a class-names file can need ("
                        + MAX_BYTES + ")");
            }
            return Files.readAllLines(file, StandardCharsets.UTF_8).stream().filter(l -> !l.isBlank()).toList();
        } catch (IOException e) {
            throw new NppException(name + ": cannot read: " + e.getMessage(), e);
        }
    }

    /** The names in a code directory's {@value #FILE}, or an empty list when it has none. */
    public static List<String> inCodeDirectory(Path codePath) {
        Path f = codePath.resolve(FILE);
        return Files.isRegularFile(f) ? read(f, null) : List.of();
    }
}
