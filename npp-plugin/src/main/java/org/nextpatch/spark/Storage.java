package org.nextpatch.spark;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;
import org.nextpatch.util.NppException;
import org.nextpatch.util.Sha256;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.HashSet;
import java.util.Set;

/**
 * Inputs and outputs of the Spark jobs through Hadoop {@link FileSystem} paths ({@code file://},
 * {@code hdfs://}, {@code s3a://} where the cluster has the connector), so executors read and write
 * shared storage. A path without a scheme is a local path. Local paths use the raw local file
 * system (no {@code .crc} side files), so a {@code file://} output is byte for byte what the plain
 * command writes.
 */
public final class Storage {
    private Storage() {}

    /** One configuration per JVM: building one parses Hadoop's XML resources (milliseconds, per file written). */
    private static volatile Configuration conf;
    private static final java.util.Map<String, FileSystem> FILE_SYSTEMS = new java.util.concurrent.ConcurrentHashMap<>();

    /** The Hadoop configuration: the cluster's {@code core-site.xml} where one is on the class path. */
    static Configuration conf() {
        Configuration c = conf;
        if (c == null) {
            synchronized (Storage.class) {
                if (conf == null) {
                    conf = new Configuration();
                }
                c = conf;
            }
        }
        return c;
    }

    /** A path given on the command line as a fully qualified URI string. */
    public static String qualify(String path) {
        URI u = URI.create(path.replace(" ", "%20"));
        if (u.getScheme() == null || u.getScheme().length() == 1) {
            return java.nio.file.Path.of(path).toAbsolutePath().normalize().toUri().toString();
        }
        return path;
    }

    /** Whether a (qualified) path is on the local file system. */
    public static boolean isLocal(String uri) {
        return "file".equals(URI.create(uri).getScheme());
    }

    /** The local path of a {@code file:} URI. */
    public static java.nio.file.Path local(String uri) {
        return java.nio.file.Path.of(URI.create(uri));
    }

    static Path path(String uri) {
        return new Path(URI.create(uri));
    }

    /** The file system of a path; {@code what} names the flag in the error. */
    static FileSystem fs(String uri, String what) {
        URI u = URI.create(uri);
        String key = u.getScheme() + "://" + (u.getAuthority() == null ? "" : u.getAuthority());
        FileSystem cached = FILE_SYSTEMS.get(key);
        if (cached != null) {
            return cached;
        }
        try {
            FileSystem fs = path(uri).getFileSystem(conf());
            fs = fs instanceof LocalFileSystem l ? l.getRaw() : fs;
            FILE_SYSTEMS.put(key, fs);
            return fs;
        } catch (IOException | RuntimeException e) {
            throw new NppException(what + " " + uri + ": cannot reach its file system: " + e.getMessage(), e);
        }
    }

    /** Whether a file or directory exists. */
    public static boolean exists(String uri, String what) {
        try {
            return fs(uri, what).exists(path(uri));
        } catch (IOException e) {
            throw new NppException(what + " " + uri + ": " + e.getMessage(), e);
        }
    }

    /** Whether a path is a regular file. */
    public static boolean isFile(String uri, String what) {
        try {
            return fs(uri, what).getFileStatus(path(uri)).isFile();
        } catch (FileNotFoundException e) {
            return false;
        } catch (IOException e) {
            throw new NppException(what + " " + uri + ": " + e.getMessage(), e);
        }
    }

    /** Fails with one line unless {@code uri} is an existing file. */
    public static void requireFile(String uri, String what) {
        if (!isFile(uri, what)) {
            throw new NppException(what + " " + uri + ": file not found");
        }
    }

    /** Names of the entries of a directory; empty when it does not exist. */
    public static Set<String> list(String dirUri, String what) {
        Set<String> out = new HashSet<>();
        try {
            FileSystem fs = fs(dirUri, what);
            if (!fs.exists(path(dirUri))) {
                return out;
            }
            for (FileStatus s : fs.listStatus(path(dirUri))) {
                out.add(s.getPath().getName());
            }
            return out;
        } catch (IOException e) {
            throw new NppException(what + " " + dirUri + ": cannot list: " + e.getMessage(), e);
        }
    }

    /** The entries of a directory with their status. */
    static FileStatus[] listStatus(String dirUri, String what) {
        try {
            return fs(dirUri, what).listStatus(path(dirUri));
        } catch (IOException e) {
            throw new NppException(what + " " + dirUri + ": cannot list: " + e.getMessage(), e);
        }
    }

    /** Creates a directory and its parents. */
    public static void mkdirs(String uri, String what) {
        try {
            fs(uri, what).mkdirs(path(uri));
        } catch (IOException e) {
            throw new NppException(what + " " + uri + ": cannot create: " + e.getMessage(), e);
        }
    }

    /** Deletes a file or directory tree when present. */
    public static void delete(String uri, String what) {
        try {
            fs(uri, what).delete(path(uri), true);
        } catch (IOException e) {
            throw new NppException(what + " " + uri + ": cannot delete: " + e.getMessage(), e);
        }
    }

    /** {@code dir/name} as a URI string. */
    public static String child(String dirUri, String name) {
        return new Path(path(dirUri), name).toUri().toString();
    }

    /** The whole content of a file. */
    public static byte[] read(String uri, String what) {
        try (InputStream in = fs(uri, what).open(path(uri))) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new NppException(what + " " + uri + ": cannot read: " + e.getMessage(), e);
        }
    }

    /**
     * Writes a file so that it appears complete or not at all: the bytes go to a temporary file
     * named after the task attempt under {@code tmpDirUri}, which is then renamed into place. A retry
     * or a speculative copy that loses the race finds the file already there (with the same content:
     * the jobs are deterministic) and drops its own copy.
     */
    static void writeAtomic(String uri, byte[] data, String tmpDirUri, String attempt, String what) {
        Path dst = path(uri);
        Path tmp = new Path(path(tmpDirUri), attempt + "-" + dst.getName());
        if (isLocal(uri) && isLocal(tmpDirUri)) {
            // local files through java.nio: through Hadoop's local file system, writing 2,000 code and
            // label files took 8.5 s of a 17 s local[1] extraction (about 4 ms per create + rename)
            java.nio.file.Path t = local(tmp.toUri().toString());
            try {
                Files.write(t, data);
                Files.move(t, local(uri), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                throw new NppException(what + " " + uri + ": cannot write: " + e.getMessage(), e);
            }
            return;
        }
        try {
            FileSystem fs = fs(uri, what);
            try (FSDataOutputStream out = fs.create(tmp, true)) {
                out.write(data);
            }
            if (!fs.rename(tmp, dst)) {
                if (fs.exists(dst)) {
                    fs.delete(tmp, false);
                } else {
                    throw new IOException("cannot rename " + tmp + " to " + dst);
                }
            }
        } catch (IOException e) {
            throw new NppException(what + " " + uri + ": cannot write: " + e.getMessage(), e);
        }
    }

    /** Writes a small text file atomically (temporary name beside it, then rename). */
    public static void writeString(String uri, String text, String what) {
        Path dst = path(uri);
        writeAtomic(uri, text.getBytes(StandardCharsets.UTF_8), dst.getParent().toUri().toString(),
                "." + Long.toHexString(System.nanoTime()), what);
    }

    /** Copies a local file to {@code uri} (temporary name, then rename); a local destination is moved. */
    static void put(java.nio.file.Path localFile, String uri, String what) {
        try {
            if (isLocal(uri)) {
                Files.move(localFile, local(uri), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                return;
            }
            FileSystem fs = fs(uri, what);
            Path dst = path(uri);
            Path tmp = new Path(dst.getParent(), org.nextpatch.util.AtomicFiles.TEMP_PREFIX + dst.getName() + ".tmp");
            fs.copyFromLocalFile(true, true, new Path(localFile.toUri()), tmp);
            fs.delete(dst, false);
            if (!fs.rename(tmp, dst)) {
                throw new IOException("cannot rename " + tmp + " to " + dst);
            }
        } catch (IOException e) {
            throw new NppException(what + " " + uri + ": cannot write: " + e.getMessage(), e);
        }
    }

    /** SHA-256 of a file's content, hex. */
    public static String sha256(String uri, String what) {
        try (InputStream in = fs(uri, what).open(path(uri))) {
            return Sha256.of(in);
        } catch (FileNotFoundException e) {
            throw new NppException(what + " " + uri + ": file not found");
        } catch (IOException e) {
            throw new NppException(what + " " + uri + ": cannot read: " + e.getMessage(), e);
        }
    }

    /**
     * A local copy of a file to hand to code that reads local files (checkpoints, archives, ONNX
     * models): the file itself for {@code file:} paths, else one copy per JVM under the temporary
     * directory, keyed by the path and {@code version} (a content hash or modification time).
     */
    static synchronized java.nio.file.Path localCopy(String uri, String version, String what) {
        if (isLocal(uri)) {
            return local(uri);
        }
        try {
            java.security.MessageDigest md = Sha256.digest();
            md.update((uri + "|" + version).getBytes(StandardCharsets.UTF_8));
            String key = Sha256.hex(md).substring(0, 24);
            java.nio.file.Path dir = java.nio.file.Path.of(System.getProperty("java.io.tmpdir"), "npp-spark-cache", key);
            java.nio.file.Path file = dir.resolve(path(uri).getName());
            if (Files.isRegularFile(file)) {
                return file;
            }
            Files.createDirectories(dir);
            java.nio.file.Path tmp = org.nextpatch.util.AtomicFiles.createTemp(dir, "part");
            try (InputStream in = fs(uri, what).open(path(uri))) {
                Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
            return file;
        } catch (FileNotFoundException e) {
            throw new NppException(what + " " + uri + ": file not found");
        } catch (IOException e) {
            throw new NppException(what + " " + uri + ": cannot copy to local disk: " + e.getMessage(), e);
        }
    }
}
