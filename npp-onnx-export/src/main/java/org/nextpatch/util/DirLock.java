package org.nextpatch.util;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * An exclusive lock on an output folder, held while a command writes there, so two processes (or
 * two runs in one JVM) never write one code directory or results folder at once. The lock is the
 * operating system's lock on {@code DIR/.npp.lock}: it goes away with the process, so a killed run
 * never leaves a stale lock behind.
 */
public final class DirLock implements AutoCloseable {
    /** Name of the lock file inside the folder. */
    public static final String FILE = ".npp.lock";

    private final FileChannel channel;
    private final FileLock lock;

    private DirLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /**
     * Creates the folder if needed and locks it.
     *
     * @param what the flag and folder for messages, e.g. {@code "--code-path /data/codes"}
     * @throws NppException if another process (or another run in this one) holds it, or it cannot be created
     */
    public static DirLock acquire(Path dir, String what) {
        FileChannel ch = null;
        try {
            Files.createDirectories(dir);
            Path file = dir.resolve(FILE);
            if (Files.exists(file, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                // opening a FIFO to write blocks until someone reads it: only a regular lock file is opened
                String kind = RegularFiles.kind(file);
                if (kind != null) {
                    throw new NppException(what + ": " + file + " is " + kind + ", not a regular lock file; remove it");
                }
            }
            ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock l = ch.tryLock();
            if (l == null) {
                throw busy(what);
            }
            return new DirLock(ch, l);
        } catch (OverlappingFileLockException e) {
            close(ch);
            throw busy(what);
        } catch (IOException e) {
            close(ch);
            throw new NppException(what + ": cannot lock " + dir.resolve(FILE) + ": " + AtomicFiles.reason(e), e);
        } catch (NppException e) {
            close(ch);
            throw e;
        }
    }

    private static NppException busy(String what) {
        return new NppException(what + ": another npp run is writing there (it holds " + FILE
                + "); wait for it to finish or choose another folder");
    }

    private static void close(FileChannel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // reporting the lock failure matters more
            }
        }
    }

    @Override
    public void close() {
        try {
            lock.release();
            channel.close();
        } catch (IOException ignored) {
            // the lock goes with the channel anyway
        }
    }
}
