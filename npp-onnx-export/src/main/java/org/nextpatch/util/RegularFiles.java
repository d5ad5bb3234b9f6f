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
 * Opening only regular files, with bounded reads: a FIFO, a device such as {@code /dev/zero}, a
 * directory or a symlink loop is refused in one line naming the file and what it is, before any read
 * that could block or never end.
 */
public final class RegularFiles {
    private RegularFiles() {}

    /**
     * Refuses anything but an existing regular file (symbolic links followed).
     *
     * @param what what the file should hold, e.g. "GPT config"; starts the message
     * @return the file's size in bytes
     */
    public static long requireRegular(Path file, String what) {
        BasicFileAttributes a;
        try {
            a = Files.readAttributes(file, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            throw new NppException(what + " " + file + ": file not found"
                    + (Files.isSymbolicLink(file) ? " (a symbolic link to a missing file)" : ""));
        } catch (AccessDeniedException e) {
            throw new NppException(what + " " + file + ": permission denied");
        } catch (FileSystemException e) {
            // e.g. ELOOP: "Too many levels of symbolic links", ENOTDIR
            throw new NppException(what + " " + file + ": " + (e.getReason() != null ? e.getReason() : e.toString()));
        } catch (IOException e) {
            throw new NppException(what + " " + file + ": cannot read: " + e);
        }
        if (a.isDirectory()) {
            throw new NppException(what + " " + file + " is a directory, not a file");
        }
        if (!a.isRegularFile()) {
            throw new NppException(what + " " + file + " is not a regular file (a pipe, device or socket)");
        }
        return a.size();
    }

    /**
     * The whole content of a regular file of at most {@code max} bytes; a larger file (or one that
     * grows while read) is refused without reading past {@code max + 1} bytes.
     */
    public static byte[] readBounded(Path file, long max, String what) {
        long size = requireRegular(file, what);
        if (size > max) {
            throw new NppException(what + " " + file + " has " + size + " bytes, more than the " + max + " such a file may have");
        }
        byte[] b;
        try (InputStream in = Files.newInputStream(file)) {
            b = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, max + 1));
        } catch (IOException e) {
            throw new NppException(what + " " + file + ": cannot read: " + e, e);
        }
        if (b.length > max) {
            throw new NppException(what + " " + file + " has more than the " + max + " bytes such a file may have");
        }
        return b;
    }
}
