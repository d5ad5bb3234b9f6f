package org.nextpatch.util;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Writes files atomically: the content goes to a temporary file beside the target, which is renamed
 * over the target only once it is complete. A killed process leaves either the old file or the new
 * one, never half of one.
 */
public final class AtomicFiles {

    /** Writes the content of a file through an output stream. */
    @FunctionalInterface
    public interface Writer {
        void write(OutputStream out) throws IOException;
    }

    /**
     * Prefix of every temporary file and folder this project creates beside its outputs
     * ({@code .npp-tmp-NAME.NNN.tmp}): a name only this project uses, so cleaning up after a killed
     * run ({@link #isTemporary}) never touches a user's own {@code .*.tmp} files.
     */
    public static final String TEMP_PREFIX = ".npp-tmp-";

    private AtomicFiles() {}

    /**
     * Creates an empty temporary file for {@code target} in {@code dir}, named
     * {@code .npp-tmp-TARGET.NNN.tmp} (owner-only until {@link #readableByAll}).
     */
    public static Path createTemp(Path dir, String target) throws IOException {
        return Files.createTempFile(dir, TEMP_PREFIX + target + ".", ".tmp");
    }

    /**
     * Deletes a file, or a folder with everything in it; links are removed, never followed. For the
     * temporary folders this project makes.
     */
    public static void deleteTree(Path p) throws IOException {
        if (Files.isDirectory(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            try (java.util.stream.Stream<Path> s = Files.list(p)) {
                for (Path c : (Iterable<Path>) s::iterator) {
                    deleteTree(c);
                }
            }
        }
        Files.deleteIfExists(p);
    }

    /** Whether a file or folder name is one of this project's temporary names ({@link #TEMP_PREFIX}). */
    public static boolean isTemporary(Path file) {
        Path name = file.getFileName();
        return name != null && name.toString().startsWith(TEMP_PREFIX);
    }

    /**
     * Writes {@code target} atomically.
     *
     * @param target the file to create or replace
     * @param writer writes the whole content to the stream it is given
     */
    public static void write(Path target, Writer writer) {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        Path tmp = null;
        if (Files.isDirectory(abs)) {
            throw new NppException("cannot write " + target + ": is a directory");
        }
        try {
            if (dir != null) {
                Files.createDirectories(dir);
            }
            tmp = createTemp(dir, abs.getFileName().toString());
            readableByAll(tmp);
            try (OutputStream out = new java.io.BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16)) {
                writer.write(out);
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
        } catch (IOException e) {
            throw new NppException("cannot write " + target + ": " + reason(e), e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // best effort: the temporary file is hidden, project-named and removed by the next run
                }
            }
        }
    }

    /**
     * The operating system's reason for an I/O failure in words ("permission denied", "is a
     * directory", "no space left on device"), where Java's message would be only a path.
     */
    public static String reason(IOException e) {
        if (e instanceof java.nio.file.AccessDeniedException) {
            return "permission denied" + (e.getMessage() != null ? " (" + e.getMessage() + ")" : "");
        }
        if (e instanceof java.nio.file.NoSuchFileException) {
            return "no such file or directory (" + e.getMessage() + ")";
        }
        if (e instanceof java.nio.file.NotDirectoryException) {
            return "not a directory (" + e.getMessage() + ")";
        }
        if (e instanceof java.nio.file.FileAlreadyExistsException) {
            return "already exists (" + e.getMessage() + ")";
        }
        if (e instanceof java.nio.file.DirectoryNotEmptyException) {
            return "is a non-empty directory (" + e.getMessage() + ")";
        }
        if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null) {
            return f.getReason().toLowerCase(java.util.Locale.ROOT) + " (" + f.getFile() + ")";
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    /**
     * Temporary files are created owner-only (0600); the finished file should be an ordinary one
     * (0644), like a file written directly, so other users and tools can read results.
     */
    public static void readableByAll(Path file) {
        try {
            Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        } catch (UnsupportedOperationException | IOException ignored) {
            // not a POSIX file system: keep its defaults
        }
    }

    /** Writes bytes to {@code target} atomically. */
    public static void write(Path target, byte[] bytes) {
        write(target, out -> out.write(bytes));
    }

    /** Writes UTF-8 text to {@code target} atomically. */
    public static void writeString(Path target, String text) {
        write(target, text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

}
