package org.nextpatch.util;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Inputs are opened only when they are regular files, and read within bounds: opening a FIFO blocks
 * until some other process writes to it, and a device such as {@code /dev/zero} never ends, so either
 * would hang a command or fill the heap. {@link #requireRegular} refuses anything else in one line
 * that names the file and what it is; {@link #kind} says it without throwing, for folders whose odd
 * entries are skipped; {@link #readBounded} reads a small file whole, never past its bound.
 */
public final class RegularFiles {
    private RegularFiles() {}

    /**
     * The path, when it is a regular file (links followed).
     *
     * @param what how to name it in the message, e.g. {@code "--labels-path"} or {@code "GPT config"}
     *             (null: the path alone)
     * @throws NppException naming the file and what it is instead: missing, a directory, a FIFO, a
     *                      device, a socket, a symbolic-link loop
     */
    public static Path requireRegular(Path path, String what) {
        String kind = kind(path);
        if (kind == null) {
            return path;
        }
        String prefix = what == null || what.isEmpty() ? "" : what + " ";
        if (kind.equals(DIRECTORY)) {
            throw new NppException(prefix + path + " is a directory, not a file");
        }
        if (kind.startsWith(NOT_FOUND) || kind.startsWith("a symbolic link to") || kind.startsWith("a loop")
                || kind.startsWith("cannot") || kind.startsWith("permission")) {
            throw new NppException(prefix + path + ": " + kind);
        }
        throw new NppException(prefix + path + " is not a regular file: " + kind);
    }

    private static final String DIRECTORY = "a directory";
    private static final String NOT_FOUND = "file not found";

    /**
     * What a path is when it is not a regular file ("a FIFO (named pipe)", "a directory", "a
     * character device", "a loop of symbolic links", "file not found", ...), or null for a regular
     * file. Never opens the file.
     */
    public static String kind(Path path) {
        BasicFileAttributes a;
        try {
            a = Files.readAttributes(path, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            return Files.isSymbolicLink(path) ? "a symbolic link to a missing file" : NOT_FOUND;
        } catch (AccessDeniedException e) {
            return "permission denied";
        } catch (FileSystemException e) {
            String r = e.getReason() == null ? "" : e.getReason().toLowerCase(java.util.Locale.ROOT);
            return r.contains("symbolic links") ? "a loop of symbolic links (" + e.getReason() + ")"
                    : "cannot be read (" + AtomicFiles.reason(e) + ")";
        } catch (IOException e) {
            return "cannot be read (" + AtomicFiles.reason(e) + ")";
        }
        if (a.isRegularFile()) {
            return null;
        }
        if (a.isDirectory()) {
            return DIRECTORY;
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

    /**
     * The whole content of a regular file of at most {@code max} bytes; a larger file (or one that
     * grows while read) is refused without reading past {@code max + 1} bytes.
     */
    public static byte[] readBounded(Path file, long max, String what) {
        requireRegular(file, what);
        String prefix = what == null || what.isEmpty() ? "" : what + " ";
        byte[] b;
        try {
            long size = Files.size(file);
            if (size > max) {
                throw new NppException(prefix + file + " has " + size + " bytes, more than the " + max
                        + " such a file may have");
            }
            try (InputStream in = Files.newInputStream(file)) {
                b = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, max + 1));
            }
        } catch (IOException e) {
            throw new NppException(prefix + file + ": cannot read: " + AtomicFiles.reason(e), e);
        }
        if (b.length > max) {
            throw new NppException(prefix + file + " has more than the " + max + " bytes such a file may have");
        }
        return b;
    }
}
