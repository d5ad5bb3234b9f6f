package org.nextpatch.tribuo;

import org.nextpatch.util.NppException;

import java.nio.file.Path;

/**
 * One-line errors for a Tribuo model file that cannot be read: they name the file and say what is
 * wrong, also when the failure comes from deep inside Tribuo's or OLCUT's readers (a flipped byte in
 * the provenance gives an {@code ArrayIndexOutOfBoundsException} or a {@code ClassNotFoundException}
 * with an empty message there).
 */
public final class ModelFileErrors {
    private ModelFileErrors() {}

    /**
     * The error to report for {@code e}, thrown while reading {@code file}: the project's own message
     * when there is one (with the file's name in front when it lacks it), else a description of the
     * innermost cause.
     */
    public static NppException unreadable(Path file, Throwable e) {
        Throwable root = e;
        for (Throwable c = e; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof NppException n) {
                return n.getMessage() != null && n.getMessage().contains(file.toString()) ? n
                        : new NppException(file + ": " + n.getMessage(), n);
            }
            root = c;
        }
        return new NppException(file + " is corrupt or was written by incompatible code: " + describe(root), e);
    }

    private static String describe(Throwable root) {
        String msg = root.getMessage() == null ? "" : root.getMessage().strip();
        if (root instanceof ClassNotFoundException) {
            return msg.isEmpty() ? "it names a class with an empty name" : "it names a class that does not exist, '" + msg + "'";
        }
        if (root instanceof IndexOutOfBoundsException) {
            return "a reference inside it points outside its table (" + (msg.isEmpty() ? root.getClass().getSimpleName() : msg) + ")";
        }
        return root.getClass().getSimpleName() + (msg.isEmpty() ? "" : ": " + msg);
    }
}
