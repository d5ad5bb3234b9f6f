package org.nextpatch.cli;

import org.nextpatch.util.AtomicFiles;
import org.nextpatch.util.NppException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Checks of a command's outputs made before any work: an output is never one of the inputs, and its
 * folder can be written (the operating system's reason when not), so a refusal costs nothing and
 * leaves nothing behind.
 */
final class Outputs {
    private Outputs() {}

    /**
     * Refuses an output path that is one of the inputs.
     *
     * @param out    the output
     * @param flag   its flag, for the message
     * @param inputs pairs of (flag, path); null paths are skipped
     */
    static void notAnInput(Path out, String flag, Object... inputs) {
        Path o = canonical(out);
        for (int i = 0; i < inputs.length; i += 2) {
            if (inputs[i + 1] == null) {
                continue;
            }
            Path in = canonical((Path) inputs[i + 1]);
            if (o.equals(in)) {
                throw new NppCommand.UsageException(flag + " " + out + " is the same file as " + inputs[i] + " "
                        + inputs[i + 1] + "; refusing to write over an input");
            }
        }
    }

    /** The real path when the file exists (links resolved), else the absolute normalized one. */
    static Path canonical(Path p) {
        try {
            return p.toRealPath();
        } catch (IOException e) {
            Path abs = p.toAbsolutePath().normalize();
            Path parent = abs.getParent();
            if (parent != null && Files.exists(parent)) {
                try {
                    return parent.toRealPath().resolve(abs.getFileName());
                } catch (IOException ignored) {
                    // fall through
                }
            }
            return abs;
        }
    }

    /** A file output: not a directory, and its folder exists (or can be made) and takes new files. */
    static void writableFile(Path out, String flag) {
        if (Files.isDirectory(out)) {
            throw new NppException(flag + " " + out + ": is a directory");
        }
        Path parent = out.toAbsolutePath().getParent();
        if (parent != null) {
            writableDir(parent, flag + " " + out);
        }
    }

    /**
     * A folder output: it, or the nearest folder above it that exists (where it would be created),
     * takes a new file. Nothing is left behind: the probe file is deleted and no folder is created.
     */
    static void writableDir(Path dir, String flag) {
        Path d = dir.toAbsolutePath().normalize();
        while (d != null && !Files.exists(d)) {
            d = d.getParent();
        }
        if (d == null) {
            return;
        }
        if (!Files.isDirectory(d)) {
            throw new NppException(flag + " " + dir + ": " + (d.equals(dir.toAbsolutePath().normalize())
                    ? "not a directory" : d + " is not a directory"));
        }
        try {
            Path probe = AtomicFiles.createTemp(d, "write-check");
            Files.delete(probe);
        } catch (IOException e) {
            throw new NppException(flag + " " + dir + ": cannot write in " + d + ": " + AtomicFiles.reason(e), e);
        }
    }

    /**
     * Removes the temporary files and folders a killed run left where it writes: only names that
     * this project alone uses ({@link AtomicFiles#TEMP_PREFIX}, e.g. {@code .npp-tmp-tokens.npy.123.tmp}),
     * never a user's own {@code .*.tmp}. Call it under the folder's {@link org.nextpatch.util.DirLock},
     * so no live run owns them.
     */
    static void removeLeftovers(Path dir, String flag, java.io.PrintWriter report) {
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (java.util.stream.Stream<Path> files = Files.list(dir)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                if (AtomicFiles.isTemporary(f) && !Files.isSymbolicLink(f)) {
                    deleteTree(f);
                    report.println("removed " + f + ", left by an interrupted run");
                    report.flush();
                }
            }
        } catch (IOException e) {
            throw new NppException(flag + " " + dir + ": cannot remove leftovers of an interrupted run: "
                    + AtomicFiles.reason(e), e);
        }
    }

    /** Deletes a file, or a folder with everything in it (links are removed, never followed). */
    static void deleteTree(Path p) throws IOException {
        if (Files.isDirectory(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            try (java.util.stream.Stream<Path> s = Files.list(p)) {
                for (Path c : (Iterable<Path>) s::iterator) {
                    deleteTree(c);
                }
            }
        }
        Files.deleteIfExists(p);
    }
}
