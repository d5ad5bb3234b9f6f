package org.nextpatch.util;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * SHA-256, the one content hash of the project (checkpoints, weights files, tokenizers, exports,
 * feature models): lower-case hex, files read in chunks so multi-GB files need no heap.
 */
public final class Sha256 {
    private static final int CHUNK = 1 << 20;

    private Sha256() {}

    /** A new SHA-256 digest. */
    public static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is not available in this JVM", e);
        }
    }

    /** The digest's value as lower-case hex (finishes the digest). */
    public static String hex(MessageDigest md) {
        return HexFormat.of().formatHex(md.digest());
    }

    /** SHA-256 of everything left in a stream. */
    public static String of(InputStream in) throws IOException {
        MessageDigest md = digest();
        byte[] buf = new byte[CHUNK];
        for (int n; (n = in.read(buf)) > 0; ) {
            md.update(buf, 0, n);
        }
        return hex(md);
    }

    /** SHA-256 of a whole channel from position 0, read through one direct buffer. */
    public static String of(FileChannel ch) throws IOException {
        MessageDigest md = digest();
        ByteBuffer buf = ByteBuffer.allocateDirect(8 * CHUNK);
        long pos = 0;
        for (int n; (n = ch.read(buf.clear(), pos)) >= 0; ) {
            pos += n;
            md.update(buf.flip());
        }
        return hex(md);
    }

    /** SHA-256 of a file; one-line {@link NppException} naming the file and the system's reason. */
    public static String ofFile(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return of(ch);
        } catch (IOException e) {
            throw new NppException(file + ": cannot read: " + AtomicFiles.reason(e), e);
        }
    }
}
