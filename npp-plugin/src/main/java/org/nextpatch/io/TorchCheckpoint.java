package org.nextpatch.io;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.NonFinite;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.tensor.ZipArchive;
import org.nextpatch.tensor.ZipArchiveWriter;
import org.nextpatch.util.NppException;
import org.nextpatch.util.Progress;
import org.nextpatch.util.RegularFiles;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * Reads and writes PyTorch checkpoints in the zip format of {@code torch.save} (PyTorch 1.6 and
 * later): a pickle program {@code PREFIX/data.pkl} whose tensors refer by persistent id to storages
 * stored as {@code PREFIX/data/KEY} entries.
 * <p>
 * Reading never executes Python: the pickle is interpreted by {@link Unpickler}, tensors are rebuilt
 * from {@code torch._utils._rebuild_tensor_v2} calls, and any other class becomes an inert
 * {@link PickleObject}. Contiguous tensors are memory-mapped views of the file (a 5.6 GB checkpoint
 * is not copied onto the heap); non-contiguous views are copied into a contiguous buffer.
 * <p>
 * Value mapping: dict/OrderedDict -> LinkedHashMap, list -> ArrayList, tuple -> {@link PickleTuple},
 * int -> Long, float -> Double, str -> String, bool -> Boolean, None -> null, tensor -> {@link Tensor}.
 * <p>
 * A hostile file costs time and memory in proportion to its size, whatever it claims: the pickle
 * program is bounded ({@link Unpickler}), element and byte counts are checked for overflow, views
 * that would copy more than the file holds are refused, a compressed storage is inflated only as far
 * as its tensors reach (and refused if they do not use all of it), and each storage is read once to
 * check its CRC-32 and count NaN/infinite values. Non-finite weights are refused unless
 * {@link Options#allowNonFinite()}. Each refusal is one line naming the file and the entry.
 */
public final class TorchCheckpoint {
    private static final Logger LOG = LogManager.getLogger(TorchCheckpoint.class);

    /** Record prefix of written archives ({@code torch.save} uses the file's stem; any name is accepted). */
    private static final String ARCHIVE_PREFIX = "archive/";
    private static final long PROGRESS_BYTES = 256L << 20;

    /** Largest pickle program read (real ones are kilobytes; the tensors are separate entries). */
    static final long MAX_PICKLE_BYTES = 256L << 20;

    private static volatile boolean allowNonFiniteByDefault;

    private TorchCheckpoint() {}

    /**
     * How a checkpoint is loaded.
     *
     * @param verifyData     read every storage once to check its CRC-32 and count non-finite values
     * @param allowNonFinite load weights holding NaN or infinity instead of refusing them
     */
    public record Options(boolean verifyData, boolean allowNonFinite) {
        /** Verify, and refuse non-finite weights unless {@link #allowNonFiniteByDefault} was set. */
        public static Options defaults() {
            return new Options(true, allowNonFiniteByDefault);
        }
    }

    /**
     * Whether {@link #load(Path)} accepts non-finite weights (the command line's
     * {@code --allow-non-finite}); off unless set.
     */
    public static void allowNonFiniteByDefault(boolean allow) {
        allowNonFiniteByDefault = allow;
    }

    /** Whether non-finite weights are accepted by default (the command line's {@code --allow-non-finite}). */
    public static boolean allowsNonFiniteByDefault() {
        return allowNonFiniteByDefault;
    }

    /** What reading the storages found: per entry, its first tensor's name and its non-finite count. */
    public record StorageReport(String entry, String tensor, DType dtype, long elements, long nonFinite) {}

    /** A loaded checkpoint: its tree and, when verified, what each storage holds. */
    public record Loaded(Object root, List<StorageReport> storages) {}

    /** A storage reference from a persistent id: element type, zip entry and element count. */
    private record Storage(String key, DType dtype, long numel, ZipArchive.Entry entry) {}

    /**
     * Loads a checkpoint, verifying every storage's CRC and refusing non-finite weights (unless
     * {@link #allowNonFiniteByDefault} is set).
     *
     * @return the unpickled tree (usually a Map)
     * @throws NppException naming the file if it is missing, in the legacy format, truncated or corrupt
     */
    public static Object load(Path path) {
        return load(path, Options.defaults()).root();
    }

    /**
     * Loads a checkpoint with the given options and reports its storages.
     *
     * @throws NppException naming the file (and entry) if it is missing, not a regular file, unreadable,
     *                      in the legacy format, truncated, corrupt, hostile, or holds refused non-finite values
     */
    public static Loaded load(Path path, Options options) {
        checkReadableFile(path);
        checkNotLegacy(path);
        try (ZipArchive zip = ZipArchive.open(path)) {
            String pkl = null;
            for (String name : zip.entries().keySet()) {
                if ((name.endsWith("/data.pkl") || name.equals("data.pkl"))
                        && (pkl == null || name.length() < pkl.length())) {
                    pkl = name;
                }
            }
            if (pkl == null) {
                throw new NppException(path + ": zip archive has no data.pkl entry; not a torch.save checkpoint");
            }
            String prefix = pkl.substring(0, pkl.length() - "data.pkl".length());
            boolean bigEndian = false;
            ZipArchive.Entry bo = zip.entry(prefix + "byteorder");
            if (bo != null && bo.size() > 16) {
                throw new NppException(path + ": entry " + bo.name() + " of " + bo.size() + " bytes is not a byte order");
            }
            if (bo != null) {
                String order = StandardCharsets.US_ASCII.decode(zip.read(bo)).toString().strip();
                if (!order.equals("little") && !order.equals("big")) {
                    throw new NppException(path + ": unknown byte order '" + order + "' in " + bo.name());
                }
                bigEndian = order.equals("big");
            }
            ZipArchive.Entry pklEntry = zip.entry(pkl);
            if (pklEntry.size() > MAX_PICKLE_BYTES) {
                throw new NppException(path + ": entry " + pkl + " declares " + pklEntry.size()
                        + " bytes, more than the " + (MAX_PICKLE_BYTES >> 20) + " MiB a pickle program may have here");
            }
            ByteBuffer program = zip.read(pklEntry);
            TensorHooks hooks = new TensorHooks(path, zip, prefix, bigEndian);
            Object root = new Unpickler(program, path + " (" + pkl + ")", hooks).load();
            List<StorageReport> reports = hooks.finish(root, options);
            LOG.debug("loaded {} ({} entries)", path, zip.entries().size());
            return new Loaded(root, reports);
        }
    }

    /** A path that is a readable regular file, or one line saying why not (with the system's reason). */
    static void checkReadableFile(Path path) {
        RegularFiles.requireRegular(path, "checkpoint");
        try (InputStream in = Files.newInputStream(path)) {
            in.read();
        } catch (AccessDeniedException e) {
            throw new NppException(path + ": cannot read: permission denied");
        } catch (IOException e) {
            throw new NppException(path + ": cannot read: " + org.nextpatch.util.AtomicFiles.reason(e), e);
        }
    }

    /**
     * Saves a checkpoint that {@code torch.load} (also with {@code weights_only=True}) opens, atomically.
     * <p>
     * The tree may hold Maps (a non-empty map whose values are all tensors is written as a
     * {@code collections.OrderedDict}, like a state dict; other maps as plain dicts), Lists,
     * {@link PickleTuple}s, Long/Integer, Double/Float, String, Boolean, null and {@link Tensor}s.
     * Upstream's layout is {@code {"model": state dict, "steps": int, "args": dict of primitives}}.
     *
     * @throws NppException if a value cannot be saved or the file cannot be written (the target is left untouched)
     */
    public static void save(Path path, Map<String, Object> root) {
        TorchPickler pickler = new TorchPickler(path.toString());
        byte[] program = pickler.pickle(root);
        String prefix = ARCHIVE_PREFIX;
        long start = System.nanoTime();
        long bytes = 0;
        try (ZipArchiveWriter zip = new ZipArchiveWriter(path)) {
            zip.entry(prefix + "data.pkl", program);
            zip.entry(prefix + "byteorder", "little".getBytes(StandardCharsets.US_ASCII));
            List<Tensor> tensors = pickler.tensors();
            long total = 0;
            for (Tensor t : tensors) {
                total += t.numel() * t.dtype().bytes();
            }
            // a GPT-XXL checkpoint takes a minute or more to write: show progress for large ones
            Progress progress = total >= PROGRESS_BYTES ? Progress.start("save " + path.getFileName(), total >> 20, "MB") : null;
            try {
                for (int i = 0; i < tensors.size(); i++) {
                    Tensor t = tensors.get(i);
                    ByteBuffer data = t.data();
                    zip.beginEntry(prefix + "data/" + i, data.remaining());
                    long before = bytes >> 20;
                    bytes += data.remaining();
                    zip.write(data);
                    zip.endEntry();
                    if (progress != null) {
                        progress.step((bytes >> 20) - before);
                    }
                }
            } finally {
                if (progress != null) {
                    progress.close();
                }
            }
            zip.entry(prefix + "version", "3\n".getBytes(StandardCharsets.US_ASCII));
            zip.commit();
        }
        LOG.debug("saved {}: {} tensors, {} bytes in {} ms", path, pickler.tensors().size(), bytes,
                (System.nanoTime() - start) / 1_000_000);
    }

    /** Pre-1.6 checkpoints are a bare pickle stream (or a tar file): explain how to convert them. */
    private static void checkNotLegacy(Path path) {
        byte[] head;
        try (InputStream in = Files.newInputStream(path)) {
            head = in.readNBytes(512);
        } catch (NoSuchFileException e) {
            throw new NppException(path + ": file not found");
        } catch (AccessDeniedException e) {
            throw new NppException(path + ": cannot read: permission denied");
        } catch (IOException e) {
            throw new NppException(path + ": cannot read: " + org.nextpatch.util.AtomicFiles.reason(e), e);
        }
        if (head.length >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
            return;
        }
        boolean pickle = head.length >= 2 && (head[0] & 0xff) == 0x80 && head[1] >= 2 && head[1] <= 5;
        boolean tar = head.length >= 262 && new String(head, 257, 5, StandardCharsets.US_ASCII).equals("ustar");
        if (pickle || tar) {
            throw new NppException(path + ": legacy (pre-1.6) PyTorch checkpoint format is not supported; re-save it"
                    + " with a newer PyTorch: torch.save(torch.load(OLD), NEW)");
        }
        if (head.length < 4) {
            throw new NppException(path + ": file is empty or truncated (" + head.length + " bytes); not a PyTorch checkpoint");
        }
        throw new NppException(path + ": not a PyTorch checkpoint (no zip or pickle signature at the start)");
    }

    /** Storage element types by the name torch pickles ({@code torch.FloatStorage} ...). */
    static DType storageType(String name) {
        return switch (name) {
            case "FloatStorage" -> DType.FLOAT32;
            case "HalfStorage" -> DType.FLOAT16;
            case "BFloat16Storage" -> DType.BFLOAT16;
            case "DoubleStorage" -> DType.FLOAT64;
            case "LongStorage" -> DType.INT64;
            case "IntStorage" -> DType.INT32;
            case "ShortStorage" -> DType.INT16;
            case "CharStorage" -> DType.INT8;
            case "ByteStorage", "UntypedStorage" -> DType.UINT8;
            case "BoolStorage" -> DType.BOOL;
            default -> null;
        };
    }

    /** The name torch pickles for a storage of an element type. */
    static String storageName(DType t) {
        return switch (t) {
            case FLOAT32 -> "FloatStorage";
            case FLOAT16 -> "HalfStorage";
            case BFLOAT16 -> "BFloat16Storage";
            case FLOAT64 -> "DoubleStorage";
            case INT64 -> "LongStorage";
            case INT32 -> "IntStorage";
            case INT16 -> "ShortStorage";
            case INT8 -> "CharStorage";
            case UINT8 -> "ByteStorage";
            case BOOL -> "BoolStorage";
        };
    }

    /** Resolves storages and rebuilds tensors for the unpickler. */
    private static final class TensorHooks implements Unpickler.Hooks {
        private final Path path;
        private final ZipArchive zip;
        private final String prefix;
        private final boolean bigEndian;
        private final Map<String, Storage> storages = new LinkedHashMap<>();
        private final Map<String, ByteBuffer> mapped = new HashMap<>();
        private final Map<String, Inflating> inflating = new HashMap<>();
        private final IdentityHashMap<Tensor, Storage> tensorStorage = new IdentityHashMap<>();
        /** Bytes that copies of strided views may still take: twice the file, so a view cannot multiply it. */
        private long copyBudget;

        TensorHooks(Path path, ZipArchive zip, String prefix, boolean bigEndian) {
            this.path = path;
            this.zip = zip;
            this.prefix = prefix;
            this.bigEndian = bigEndian;
            long size;
            try {
                size = Files.size(path);
            } catch (IOException e) {
                size = 0;
            }
            this.copyBudget = 2 * size + (1 << 20);
        }

        private NppException bad(String entry, String what) {
            return new NppException(path + ": entry " + entry + ": " + what);
        }

        /**
         * After the pickle: compressed storages must have been used whole; then each storage is read
         * once for its CRC and its non-finite values, which are refused unless allowed.
         */
        List<StorageReport> finish(Object root, Options options) {
            for (Storage s : storages.values()) {
                Inflating inf = inflating.get(s.entry.name());
                if (!s.entry.isStored() && (inf == null || inf.filled < s.entry.size())) {
                    throw bad(s.entry.name(), "compressed storage of " + s.entry.size() + " bytes, of which its tensors use only "
                            + (inf == null ? 0 : inf.filled) + "; refused rather than inflated");
                }
            }
            if (!options.verifyData()) {
                return List.of();
            }
            Map<String, String> names = tensorNames(root);
            List<StorageReport> out = new ArrayList<>();
            for (Storage s : storages.values()) {
                ZipArchive.Entry e = s.entry;
                long nonFinite;
                if (e.isStored()) {
                    nonFinite = scanStored(s);
                } else {
                    Inflating inf = inflating.get(e.name());
                    inf.finish();
                    nonFinite = NonFinite.count(ByteBuffer.wrap(inf.buf, 0, (int) inf.filled), s.dtype,
                            bigEndian ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
                }
                String tensor = names.getOrDefault(s.key, "(unnamed)");
                if (nonFinite > 0 && !options.allowNonFinite()) {
                    throw bad(e.name(), "tensor '" + tensor + "' holds " + nonFinite + " NaN or infinite value"
                            + (nonFinite == 1 ? "" : "s") + " (of " + e.size() / s.dtype.bytes()
                            + "); pass --allow-non-finite to load it anyway");
                }
                out.add(new StorageReport(e.name(), tensor, s.dtype, e.size() / s.dtype.bytes(), nonFinite));
            }
            return out;
        }

        /**
         * A compressed storage inflated on demand: the buffer grows with the furthest byte a tensor asks
         * for, so a small file declaring a huge storage costs only what its tensors use.
         */
        private final class Inflating {
            private final ZipArchive.Entry entry;
            private InputStream in;
            byte[] buf = new byte[0];
            long filled;

            Inflating(ZipArchive.Entry entry) {
                this.entry = entry;
            }

            void ensure(long end) {
                if (end <= filled) {
                    return;
                }
                if (end > Integer.MAX_VALUE - 8) {
                    throw bad(entry.name(), "compressed storage of " + entry.size() + " bytes is too large to inflate"
                            + " (store storages uncompressed, as torch.save does)");
                }
                if (end > buf.length) {
                    buf = Arrays.copyOf(buf, (int) Math.min(Math.max(end, Math.min(2L * buf.length, entry.size())),
                            Integer.MAX_VALUE - 8));
                }
                try {
                    if (in == null) {
                        in = zip.openStream(entry);
                    }
                    int n = in.readNBytes(buf, (int) filled, (int) (end - filled));
                    filled += n;
                    if (filled < end) {
                        throw bad(entry.name(), "compressed storage ends after " + filled + " bytes");
                    }
                } catch (IOException e) {
                    throw bad(entry.name(), "cannot inflate: " + e.getMessage());
                }
            }

            /** Reads to the end of the entry, which checks its length and CRC. */
            void finish() {
                try {
                    if (in == null) {
                        in = zip.openStream(entry);
                    }
                    if (in.read() >= 0) {
                        throw bad(entry.name(), "compressed storage holds more than its tensors use");
                    }
                    in.close();
                } catch (IOException e) {
                    throw bad(entry.name(), "cannot inflate: " + e.getMessage());
                }
            }
        }

        /** One pass over a stored entry, in mapped windows: CRC-32 and non-finite count. */
        private long scanStored(Storage s) {
            ZipArchive.Entry e = s.entry;
            CRC32 crc = new CRC32();
            long nonFinite = 0;
            long window = 1L << 28;
            ByteOrder order = bigEndian ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN;
            for (long off = 0; off < e.size(); off += window) {
                long len = Math.min(window, e.size() - off);
                ByteBuffer b = zip.map(e, off, len);
                crc.update(b.duplicate());
                // whole elements only: a storage's bytes are a multiple of its element size
                nonFinite += NonFinite.count(b.slice(0, (int) (len - len % s.dtype.bytes())), s.dtype, order);
            }
            if (crc.getValue() != e.crc()) {
                throw bad(e.name(), "CRC mismatch: the storage's bytes were changed or damaged");
            }
            return nonFinite;
        }

        /** Storage key -> the dotted name of the first tensor found viewing it (iterative, identity-visited). */
        private Map<String, String> tensorNames(Object root) {
            Map<String, String> names = new HashMap<>();
            IdentityHashMap<Object, Boolean> seen = new IdentityHashMap<>();
            Deque<Object[]> todo = new ArrayDeque<>();
            todo.push(new Object[]{root, ""});
            while (!todo.isEmpty()) {
                Object[] item = todo.pop();
                Object v = item[0];
                String name = (String) item[1];
                if (v instanceof Tensor t) {
                    Storage s = tensorStorage.get(t);
                    if (s != null) {
                        names.putIfAbsent(s.key, name);
                    }
                    continue;
                }
                if (v == null || seen.put(v, Boolean.TRUE) != null) {
                    continue;
                }
                if (v instanceof Map<?, ?> m) {
                    List<Object[]> kids = new ArrayList<>();
                    for (Map.Entry<?, ?> en : m.entrySet()) {
                        kids.add(new Object[]{en.getValue(), (name.isEmpty() ? "" : name + ".") + en.getKey()});
                    }
                    for (int i = kids.size() - 1; i >= 0; i--) {
                        todo.push(kids.get(i));
                    }
                } else if (v instanceof List<?> l) {
                    for (int i = l.size() - 1; i >= 0; i--) {
                        todo.push(new Object[]{l.get(i), (name.isEmpty() ? "" : name + ".") + i});
                    }
                }
            }
            return names;
        }

        @Override
        public Object persistentLoad(Object pid) {
            if (!(pid instanceof PickleTuple t) || t.size() < 5 || !"storage".equals(t.get(0))) {
                throw new NppException(path + ": unsupported persistent id " + Unpickler.brief(pid) + " (expected a tensor storage)");
            }
            if (!(t.get(1) instanceof Unpickler.Global g) || !(t.get(2) instanceof String key) || !(t.get(4) instanceof Long numel)) {
                throw new NppException(path + ": malformed storage reference " + Unpickler.brief(pid));
            }
            Storage cached = storages.get(key);
            if (cached != null) {
                return cached;
            }
            DType dtype = storageType(g.name());
            if (dtype == null) {
                throw new NppException(path + ": storage type " + g + " is not supported (supported: float32, float16,"
                        + " bfloat16, float64, int64, int32, int16, int8, uint8, bool)");
            }
            String entryName = prefix + "data/" + key;
            ZipArchive.Entry e = zip.entry(entryName);
            if (e == null) {
                throw new NppException(path + ": storage entry " + entryName + " is missing (truncated or corrupt checkpoint)");
            }
            long need;
            try {
                need = numel < 0 ? -1 : Math.multiplyExact(numel, dtype.bytes());
            } catch (ArithmeticException ex) {
                need = -1;
            }
            if (need < 0) {
                throw bad(entryName, "storage of " + numel + " elements of " + dtype + " is not a valid size");
            }
            if (e.size() < need) {
                throw bad(entryName, "storage has " + e.size() + " bytes, but " + numel + " elements of " + dtype
                        + " need " + need);
            }
            if (!e.isStored() && e.size() != need) {
                throw bad(entryName, "compressed storage inflates to " + e.size() + " bytes, but " + numel
                        + " elements of " + dtype + " need " + need);
            }
            Storage s = new Storage(key, dtype, numel, e);
            storages.put(key, s);
            return s;
        }

        @Override
        public Object call(Unpickler.Global g, PickleTuple args) {
            if (g.module().equals("torch._utils")) {
                switch (g.name()) {
                    case "_rebuild_tensor_v2", "_rebuild_tensor" -> {
                        return rebuild(args);
                    }
                    case "_rebuild_parameter", "_rebuild_parameter_with_state" -> {
                        if (args.isEmpty() || !(args.get(0) instanceof Tensor data)) {
                            throw new NppException(path + ": " + g + " without a tensor argument");
                        }
                        return data;
                    }
                    default -> {
                        return Unpickler.UNHANDLED;
                    }
                }
            }
            if (g.is("torch._tensor", "_rebuild_from_type_v2") && args.size() >= 3
                    && args.get(0) instanceof Unpickler.Global f && args.get(2) instanceof PickleTuple fArgs) {
                // tensors with Python attributes / subclasses: rebuild the plain tensor, drop the type and attributes
                Object t = call(f, fArgs);
                return t instanceof Tensor ? t : Unpickler.UNHANDLED;
            }
            if (g.is("torch", "Size") && args.size() == 1 && args.get(0) instanceof List<?> dims) {
                return new PickleTuple(dims);
            }
            return Unpickler.UNHANDLED;
        }

        private long[] longs(Object o, String what) {
            if (!(o instanceof List<?> l)) {
                throw new NppException(path + ": tensor " + what + " is " + Unpickler.typeName(o) + ", not a tuple");
            }
            if (l.size() > 64) {
                throw new NppException(path + ": tensor " + what + " has " + l.size() + " dimensions (at most 64)");
            }
            long[] out = new long[l.size()];
            for (int i = 0; i < out.length; i++) {
                if (!(l.get(i) instanceof Long v)) {
                    throw new NppException(path + ": tensor " + what + " " + Unpickler.brief(l) + " is not a tuple of integers");
                }
                out[i] = v;
            }
            return out;
        }

        private Tensor rebuild(PickleTuple a) {
            if (a.size() < 4 || !(a.get(0) instanceof Storage s) || !(a.get(1) instanceof Long offset)) {
                throw new NppException(path + ": malformed tensor record " + Unpickler.brief(a));
            }
            long[] size = longs(a.get(2), "size");
            long[] stride = longs(a.get(3), "stride");
            String desc = "tensor of size " + Arrays.toString(size) + ", stride " + Arrays.toString(stride)
                    + ", offset " + offset + " in storage " + s.entry.name() + " (" + s.numel + " elements)";
            Tensor t = rebuild(s, offset, size, stride, desc);
            tensorStorage.put(t, s);
            return t;
        }

        private Tensor rebuild(Storage s, long offset, long[] size, long[] stride, String desc) {
            if (size.length != stride.length) {
                throw new NppException(path + ": " + desc + ": size and stride differ in rank");
            }
            long numel;
            try {
                numel = Tensor.numel(size);
            } catch (ArithmeticException | NppException e) {
                throw new NppException(path + ": " + desc + ": invalid size");
            }
            int es = s.dtype.bytes();
            if (offset < 0 || offset > s.numel) {
                throw new NppException(path + ": " + desc + ": offset out of bounds of the storage");
            }
            if (numel == 0) {
                return new Tensor(s.dtype, size, ByteBuffer.allocate(0));
            }
            long last = offset;
            for (int i = 0; i < size.length; i++) {
                if (stride[i] < 0) {
                    throw new NppException(path + ": " + desc + ": negative stride");
                }
                try {
                    last = Math.addExact(last, Math.multiplyExact(size[i] - 1, stride[i]));
                } catch (ArithmeticException e) {
                    last = -1;
                    break;
                }
            }
            if (last >= s.numel || last < 0) {
                throw new NppException(path + ": " + desc + ": shape/stride out of bounds of the storage");
            }
            if (numel > Integer.MAX_VALUE || numel * es > Integer.MAX_VALUE) {
                throw new NppException(path + ": " + desc + ": " + numel + " elements of " + es
                        + " bytes exceed the 2 GiB limit of one tensor");
            }
            boolean contiguous = true;
            long expect = 1;
            for (int i = size.length - 1; i >= 0; i--) {
                if (size[i] != 1 && stride[i] != expect) {
                    contiguous = false;
                }
                expect *= size[i];
            }
            if (contiguous && !bigEndian) {
                return new Tensor(s.dtype, size, region(s, offset * es, numel * es));
            }
            // Non-contiguous view (or foreign byte order): copy the elements in C order, within a budget,
            // since a view with zero or overlapping strides can ask for far more bytes than the file has.
            copyBudget -= numel * es;
            if (copyBudget < 0) {
                throw new NppException(path + ": " + desc + ": strided views would copy more bytes than twice the file"
                        + " holds (zero or overlapping strides); refused");
            }
            ByteBuffer src = region(s, offset * es, (last - offset + 1) * es);
            ByteBuffer dst = ByteBuffer.allocate((int) (numel * es)).order(ByteOrder.LITTLE_ENDIAN);
            copyStrided(src, dst, size, stride, es);
            dst.flip();
            if (bigEndian && es > 1) {
                swapInPlace(dst, es);
            }
            return new Tensor(s.dtype, size, dst);
        }

        /** Bytes [from, from + len) of a storage: a slice of one mapping of the whole storage when it fits. */
        private ByteBuffer region(Storage s, long from, long len) {
            ZipArchive.Entry e = s.entry;
            if (!e.isStored()) {
                // inflate only as far as this tensor reaches; finish() refuses storages not used whole
                Inflating inf = inflating.computeIfAbsent(e.name(), n -> new Inflating(e));
                inf.ensure(from + len);
                return ByteBuffer.wrap(inf.buf, (int) from, (int) len).slice().order(ByteOrder.LITTLE_ENDIAN);
            }
            if (e.size() <= Integer.MAX_VALUE) {
                ByteBuffer all = mapped.computeIfAbsent(e.name(), n -> zip.map(e, 0, e.size()));
                return all.slice((int) from, (int) len).order(ByteOrder.LITTLE_ENDIAN);
            }
            // storages over 2 GiB: map just the tensor's bytes
            return zip.map(e, from, len);
        }
    }

    /** Copies a strided view (src positioned at its first element) to dst in C order. */
    static void copyStrided(ByteBuffer src, ByteBuffer dst, long[] size, long[] stride, int es) {
        int rank = size.length;
        if (rank == 0) {
            dst.put(src.slice(0, es));
            return;
        }
        long[] idx = new long[rank];
        int inner = rank - 1;
        long innerLen = size[inner];
        boolean innerContig = stride[inner] == 1;
        while (true) {
            long base = 0;
            for (int i = 0; i < inner; i++) {
                base += idx[i] * stride[i];
            }
            if (innerContig) {
                dst.put(src.slice((int) (base * es), (int) (innerLen * es)));
            } else {
                for (long j = 0; j < innerLen; j++) {
                    dst.put(src.slice((int) ((base + j * stride[inner]) * es), es));
                }
            }
            int d = inner - 1;
            while (d >= 0) {
                if (++idx[d] < size[d]) {
                    break;
                }
                idx[d] = 0;
                d--;
            }
            if (d < 0) {
                return;
            }
        }
    }

    private static void swapInPlace(ByteBuffer b, int es) {
        byte[] tmp = new byte[es];
        for (int p = 0; p < b.limit(); p += es) {
            b.get(p, tmp);
            for (int i = 0; i < es; i++) {
                b.put(p + i, tmp[es - 1 - i]);
            }
        }
    }
}
