package org.nextpatch.util;

import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Inputs are opened only when they are regular files: opening a FIFO blocks until some other process
 * writes to it, and a device such as {@code /dev/zero} never ends, so either would hang a command
 * or fill the heap. {@link #requireRegular} refuses anything else in one line that names the file
 * and what it is; {@link #kind} says it without throwing, for folders whose odd entries are skipped.
 */
public final class RegularFiles {
    private RegularFiles() {}

    /**
     * The path, when it is a regular file (links followed).
     *
     * @param what how to name it in the message, e.g. {@code "--labels-path"}
     * @throws NppException naming the file and what it is instead: missing, a directory, a FIFO, a
     *                      device, a socket, a symbolic-link loop
     */
    public static Path requireRegular(Path path, String what) {
        String kind = kind(path);
        if (kind != null) {
            throw new NppException((what == null || what.isEmpty() ? "" : what + " ") + path + ": " + kind
                    + (kind.startsWith("not found") ? "" : ", not a regular file"));
        }
        return path;
    }

    /**
     * What a path is when it is not a regular file ("a FIFO (named pipe)", "a directory", "a
     * character device", "a symbolic-link loop", "not found", ...), or null for a regular file.
     * Never opens the file.
     */
    public static String kind(Path path) {
        BasicFileAttributes a;
        try {
            a = Files.readAttributes(path, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            return Files.isSymbolicLink(path) ? "a symbolic link to a missing file" : "not found";
        } catch (FileSystemException e) {
            String r = e.getReason() == null ? "" : e.getReason().toLowerCase(java.util.Locale.ROOT);
            return r.contains("symbolic links") ? "a symbolic-link loop" : "cannot be read (" + AtomicFiles.reason(e) + ")";
        } catch (IOException e) {
            return "cannot be read (" + AtomicFiles.reason(e) + ")";
        }
        if (a.isRegularFile()) {
            return null;
        }
        if (a.isDirectory()) {
            return "a directory";
        }
        int type;
        try {
            type = (Integer) Files.getAttribute(path, "unix:mode") & 0170000;
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException | ClassCastException e) {
            type = 0; // no unix attributes here: the generic name below
        }
        return switch (type) {
            case 0010000 -> "a FIFO (named pipe)";
            case 0020000 -> "a character device";
            case 0060000 -> "a block device";
            case 0140000 -> "a socket";
            default -> "a device, pipe or socket";
        };
    }
}
