package org.nextpatch.cli;

import org.nextpatch.util.AtomicFiles;
import org.nextpatch.util.NppException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

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
                    AtomicFiles.deleteTree(f);
                    report.println("removed " + f + ", left by an interrupted run");
                    report.flush();
                }
            }
        } catch (IOException e) {
            throw new NppException(flag + " " + dir + ": cannot remove leftovers of an interrupted run: "
                    + AtomicFiles.reason(e), e);
        }
    }

    /** Names of the files a {@code sample} run writes (the PNGs only with a tokenizer). */
    private static final java.util.regex.Pattern RUN_FILE =
            java.util.regex.Pattern.compile("tokens\\.npy|labels\\.npy|samples\\.npz|grid\\.png|sample_\\d+\\.png");

    /** A fresh folder inside {@code out} to write a run into ({@code .npp-tmp-run.NNN}, removed by {@link #removeLeftovers}). */
    static Path runFolder(Path out, String flag) {
        try {
            Path run = Files.createTempDirectory(out, AtomicFiles.TEMP_PREFIX + "run.");
            AtomicFiles.readableByAll(run);
            return run;
        } catch (IOException e) {
            throw new NppException(flag + " " + out + ": cannot create a folder for the run: " + AtomicFiles.reason(e), e);
        }
    }

    /**
     * Replaces an earlier run's results in {@code out} by the complete run in {@code run}, by deletes
     * and renames only: first every file of the earlier run ({@code tokens.npy} first), then the new
     * files moved in ({@code tokens.npy} last). A run killed in between leaves files of one run only,
     * and {@code tokens.npy} only when that run is all there.
     *
     * @return how many files of the earlier run were removed
     */
    static int replaceRun(Path out, Path run, String flag) {
        try {
            int removed = Files.deleteIfExists(out.resolve("tokens.npy")) ? 1 : 0;
            try (java.util.stream.Stream<Path> files = Files.list(out)) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    if (RUN_FILE.matcher(f.getFileName().toString()).matches() && Files.deleteIfExists(f)) {
                        removed++;
                    }
                }
            }
            List<Path> fresh;
            try (java.util.stream.Stream<Path> files = Files.list(run)) {
                fresh = files.sorted(java.util.Comparator.comparing((Path f) -> f.getFileName().toString().equals("tokens.npy"))
                        .thenComparing(Path::toString)).toList();
            }
            for (Path f : fresh) {
                Files.move(f, out.resolve(f.getFileName().toString()), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            }
            return removed;
        } catch (IOException e) {
            throw new NppException(flag + " " + out + ": cannot move the run's results in place: " + AtomicFiles.reason(e), e);
        }
    }

    /** Removes a run folder after success or failure; a folder left behind goes with the next run's {@link #removeLeftovers}. */
    static void removeQuietly(Path run) {
        try {
            AtomicFiles.deleteTree(run);
        } catch (IOException ignored) {
            // best effort: a .npp-tmp- folder, removed by the next run
        }
    }
}
