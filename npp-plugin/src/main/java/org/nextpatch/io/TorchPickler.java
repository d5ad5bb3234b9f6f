package org.nextpatch.io;

import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.io.ByteArrayOutputStream;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes the pickle program of a checkpoint (protocol 2) using only what
 * {@code torch.load(weights_only=True)} accepts: dicts, {@code collections.OrderedDict}, lists,
 * tuples, ints, floats, strings, booleans, None and tensors rebuilt by
 * {@code torch._utils._rebuild_tensor_v2} from storages referenced by persistent id.
 * <p>
 * Tensors are collected in order; the caller writes each one's bytes as entry {@code data/KEY}. The
 * same Tensor object reached twice (tied weights) is written once and shares its storage.
 */
final class TorchPickler {
    private static final int BATCH = 1000; // as Python's pickler batches SETITEMS/APPENDS

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final IdentityHashMap<Tensor, String> keys = new IdentityHashMap<>();
    private final List<Tensor> tensors = new ArrayList<>();
    private final String where;

    TorchPickler(String where) {
        this.where = where;
    }

    /** The program for {@code root}. */
    byte[] pickle(Object root) {
        out.reset();
        op(0x80);
        op(2); // PROTO 2
        value(root, "root");
        op('.'); // STOP
        return out.toByteArray();
    }

    /** Tensors in storage-key order ("0", "1", ...). */
    List<Tensor> tensors() {
        return tensors;
    }

    private void op(int b) {
        out.write(b);
    }

    private void le(long v, int n) {
        for (int i = 0; i < n; i++) {
            out.write((int) (v >>> (8 * i)) & 0xff);
        }
    }

    private void global(String module, String name) {
        op('c');
        out.writeBytes((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
    }

    private void string(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        op('X'); // BINUNICODE
        le(b.length, 4);
        out.writeBytes(b);
    }

    private void integer(long v) {
        if (v >= 0 && v < 256) {
            op('K');
            le(v, 1);
        } else if (v >= 0 && v < 65536) {
            op('M');
            le(v, 2);
        } else if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) {
            op('J');
            le(v, 4);
        } else {
            bigInteger(BigInteger.valueOf(v));
        }
    }

    private void bigInteger(BigInteger v) {
        byte[] be = v.toByteArray(); // two's complement, minimal
        if (be.length > 255) {
            throw new NppException(where + ": integer too large to save");
        }
        op(0x8a); // LONG1
        le(be.length, 1);
        for (int i = be.length - 1; i >= 0; i--) {
            out.write(be[i]);
        }
    }

    private void value(Object v, String path) {
        if (v == null) {
            op('N');
        } else if (v instanceof Boolean b) {
            op(b ? 0x88 : 0x89);
        } else if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
            integer(((Number) v).longValue());
        } else if (v instanceof BigInteger bi) {
            if (bi.bitLength() < 64) {
                integer(bi.longValue());
            } else {
                bigInteger(bi);
            }
        } else if (v instanceof Double || v instanceof Float) {
            op('G'); // BINFLOAT, big-endian
            out.writeBytes(ByteBuffer.allocate(8).putDouble(((Number) v).doubleValue()).array());
        } else if (v instanceof String s) {
            string(s);
        } else if (v instanceof Tensor t) {
            tensor(t);
        } else if (v instanceof Map<?, ?> m) {
            map(m, path);
        } else if (v instanceof PickleTuple t) {
            tuple(t, path);
        } else if (v instanceof List<?> l) {
            op(']'); // EMPTY_LIST
            items(l, path, 'e');
        } else {
            throw new NppException(where + ": cannot save " + path + " of type " + Unpickler.typeName(v)
                    + " (checkpoints hold dicts, lists, tuples, numbers, strings, booleans, None and tensors)");
        }
    }

    private void tuple(List<?> t, String path) {
        switch (t.size()) {
            case 0 -> op(')');
            case 1, 2, 3 -> {
                for (int i = 0; i < t.size(); i++) {
                    value(t.get(i), path + "[" + i + "]");
                }
                op(0x84 + t.size()); // TUPLE1..3
            }
            default -> {
                op('(');
                for (int i = 0; i < t.size(); i++) {
                    value(t.get(i), path + "[" + i + "]");
                }
                op('t');
            }
        }
    }

    private void items(Collection<?> l, String path, int batchOp) {
        int i = 0;
        List<?> list = new ArrayList<>(l);
        while (i < list.size()) {
            int end = Math.min(list.size(), i + BATCH);
            op('(');
            for (int j = i; j < end; j++) {
                value(list.get(j), path + "[" + j + "]");
            }
            op(batchOp); // APPENDS
            i = end;
        }
    }

    private void map(Map<?, ?> m, String path) {
        boolean stateDict = !m.isEmpty() && m.values().stream().allMatch(x -> x instanceof Tensor);
        if (stateDict) {
            // a state dict: collections.OrderedDict(), as torch's state_dict() returns
            global("collections", "OrderedDict");
            op(')');
            op('R');
        } else {
            op('}');
        }
        List<Map.Entry<?, ?>> entries = new ArrayList<>(m.entrySet());
        int i = 0;
        while (i < entries.size()) {
            int end = Math.min(entries.size(), i + BATCH);
            op('(');
            for (int j = i; j < end; j++) {
                Object k = entries.get(j).getKey();
                if (!(k instanceof String || k instanceof Long || k instanceof Integer || k instanceof Boolean
                        || k instanceof Double || k == null || k instanceof PickleTuple)) {
                    throw new NppException(where + ": cannot save dict key " + k + " in " + path);
                }
                value(k, path + ".key");
                value(entries.get(j).getValue(), path + "." + k);
            }
            op('u'); // SETITEMS
            i = end;
        }
    }

    private void tensor(Tensor t) {
        String key = keys.get(t);
        if (key == null) {
            key = Integer.toString(tensors.size());
            keys.put(t, key);
            tensors.add(t);
        }
        global("torch._utils", "_rebuild_tensor_v2");
        op('(');
        // persistent id: ('storage', storage type, key, location, numel)
        op('(');
        string("storage");
        global("torch", TorchCheckpoint.storageName(t.dtype()));
        string(key);
        string("cpu");
        integer(t.numel());
        op('t');
        op('Q'); // BINPERSID
        integer(0); // storage offset
        long[] shape = t.shape();
        long[] stride = new long[shape.length];
        long s = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            stride[i] = s;
            s *= shape[i];
        }
        tuple(boxed(shape), "size");
        tuple(boxed(stride), "stride");
        op(0x89); // requires_grad False
        global("collections", "OrderedDict"); // backward hooks: OrderedDict()
        op(')');
        op('R');
        op('t');
        op('R');
    }

    private static List<Long> boxed(long[] a) {
        List<Long> l = new ArrayList<>(a.length);
        for (long x : a) {
            l.add(x);
        }
        return l;
    }
}
