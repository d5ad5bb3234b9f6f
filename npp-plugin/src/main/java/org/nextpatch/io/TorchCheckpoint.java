package org.nextpatch.io;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.tensor.ZipArchive;
import org.nextpatch.tensor.ZipArchiveWriter;
import org.nextpatch.util.NppException;
import org.nextpatch.util.Progress;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

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
 */
public final class TorchCheckpoint {
    private static final Logger LOG = LogManager.getLogger(TorchCheckpoint.class);

    /** Record prefix of written archives ({@code torch.save} uses the file's stem; any name is accepted). */
    private static final String ARCHIVE_PREFIX = "archive/";
    private static final long PROGRESS_BYTES = 256L << 20;

    private TorchCheckpoint() {}

    /** A storage reference from a persistent id: element type, zip entry and element count. */
    private record Storage(String key, DType dtype, long numel, ZipArchive.Entry entry) {}

    /**
     * Loads a checkpoint.
     *
     * @return the unpickled tree (usually a Map)
     * @throws NppException naming the file if it is missing, in the legacy format, truncated or corrupt
     */
    public static Object load(Path path) {
        if (!Files.exists(path)) {
            throw new NppException(path + ": file not found");
        }
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
            if (bo != null) {
                String order = StandardCharsets.US_ASCII.decode(zip.read(bo)).toString().strip();
                if (!order.equals("little") && !order.equals("big")) {
                    throw new NppException(path + ": unknown byte order '" + order + "' in " + bo.name());
                }
                bigEndian = order.equals("big");
            }
            ByteBuffer program = zip.read(pkl);
            Object root = new Unpickler(program, path + " (" + pkl + ")", new TensorHooks(path, zip, prefix, bigEndian)).load();
            LOG.debug("loaded {} ({} entries)", path, zip.entries().size());
            return root;
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
        } catch (IOException e) {
            throw new NppException(path + ": cannot read: " + e.getMessage(), e);
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
        private final Map<String, Storage> storages = new HashMap<>();
        private final Map<String, ByteBuffer> mapped = new HashMap<>();

        TensorHooks(Path path, ZipArchive zip, String prefix, boolean bigEndian) {
            this.path = path;
            this.zip = zip;
            this.prefix = prefix;
            this.bigEndian = bigEndian;
        }

        @Override
        public Object persistentLoad(Object pid) {
            if (!(pid instanceof PickleTuple t) || t.size() < 5 || !"storage".equals(t.get(0))) {
                throw new NppException(path + ": unsupported persistent id " + pid + " (expected a tensor storage)");
            }
            if (!(t.get(1) instanceof Unpickler.Global g) || !(t.get(2) instanceof String key) || !(t.get(4) instanceof Long numel)) {
                throw new NppException(path + ": malformed storage reference " + pid);
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
            if (numel < 0 || e.size() < numel * dtype.bytes()) {
                throw new NppException(path + ": storage entry " + entryName + " has " + e.size() + " bytes, but "
                        + numel + " elements of " + dtype + " need " + numel * dtype.bytes());
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
            long[] out = new long[l.size()];
            for (int i = 0; i < out.length; i++) {
                if (!(l.get(i) instanceof Long v)) {
                    throw new NppException(path + ": tensor " + what + " " + l + " is not a tuple of integers");
                }
                out[i] = v;
            }
            return out;
        }

        private Tensor rebuild(PickleTuple a) {
            if (a.size() < 4 || !(a.get(0) instanceof Storage s) || !(a.get(1) instanceof Long offset)) {
                throw new NppException(path + ": malformed tensor record " + a);
            }
            long[] size = longs(a.get(2), "size");
            long[] stride = longs(a.get(3), "stride");
            String desc = "tensor of size " + Arrays.toString(size) + ", stride " + Arrays.toString(stride)
                    + ", offset " + offset + " in storage " + s.entry.name() + " (" + s.numel + " elements)";
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
                last += (size[i] - 1) * stride[i];
            }
            if (last >= s.numel || last < 0) {
                throw new NppException(path + ": " + desc + ": shape/stride out of bounds of the storage");
            }
            if (numel * es > Integer.MAX_VALUE) {
                throw new NppException(path + ": " + desc + ": tensor of " + numel * es
                        + " bytes exceeds the 2 GiB limit of one tensor");
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
            // Non-contiguous view (or foreign byte order): copy the elements in C order.
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
                ByteBuffer all = mapped.computeIfAbsent(e.name(), n -> zip.read(e));
                return all.slice((int) from, (int) len).order(ByteOrder.LITTLE_ENDIAN);
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
