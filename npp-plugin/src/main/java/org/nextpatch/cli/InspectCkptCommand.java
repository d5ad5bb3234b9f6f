package org.nextpatch.cli;

import org.nextpatch.io.PickleObject;
import org.nextpatch.io.PickleTuple;
import org.nextpatch.io.StateDicts;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code npp inspect-ckpt FILE}: what a PyTorch checkpoint holds, without loading any model. Prints
 * the top-level keys and their types, a table (name, dtype, shape) for each state dict found (the
 * root or a top-level dict of tensors), and last the line {@code parameters: N}: the element count of
 * the main state dict ({@code model}, else {@code ema}, {@code module}, {@code state_dict}, else the
 * root dict).
 */
@Command(name = "inspect-ckpt", mixinStandardHelpOptions = true,
        description = {"Show a PyTorch checkpoint's top-level keys, its state dicts' tensors (name, dtype, shape) "
                + "and, last, 'parameters: N' for the main state dict (model, else ema, module, state_dict, else the root)."})
public final class InspectCkptCommand implements Runnable {

    @Parameters(index = "0", paramLabel = "FILE", description = "Checkpoint written by torch.save (PyTorch 1.6 or later).")
    Path file;

    @Option(names = "--headers-only", description = "Read the structure only: skip the pass over the tensors' bytes "
            + "that checks their CRC-32 and counts NaN/infinite values.")
    boolean headersOnly;

    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        TorchCheckpoint.Loaded loaded = TorchCheckpoint.load(file, new TorchCheckpoint.Options(!headersOnly, true));
        PrintWriter out = spec.commandLine().getOut();
        print(out, file, loaded.root(), loaded.storages(), !headersOnly);
        out.flush();
    }

    /** Writes the report for a loaded checkpoint. */
    static void print(PrintWriter out, Path file, Object root) {
        print(out, file, root, List.of(), false);
    }

    /** Writes the report, with the non-finite values found when the data were read. */
    static void print(PrintWriter out, Path file, Object root, List<TorchCheckpoint.StorageReport> storages, boolean verified) {
        printStructure(out, file, root);
        if (verified) {
            long bad = 0;
            for (TorchCheckpoint.StorageReport r : storages) {
                if (r.nonFinite() > 0) {
                    bad++;
                    out.printf(Locale.ROOT, "non-finite: %s (tensor '%s'): %,d of %,d values are NaN or infinite%n",
                            r.entry(), r.tensor(), r.nonFinite(), r.elements());
                }
            }
            out.println("data: CRC-32 verified for " + storages.size() + " storages; " + (bad == 0
                    ? "all values finite" : bad + " with non-finite values"));
        }
        out.println("parameters: " + parameters(root));
    }

    private static void printStructure(PrintWriter out, Path file, Object root) {
        out.printf(Locale.ROOT, "%s: %,d bytes%n", file, size(file));
        if (!(root instanceof Map<?, ?> map)) {
            out.println("content: " + describe(root));
            return;
        }
        out.println("top-level keys:");
        int w = map.keySet().stream().mapToInt(k -> String.valueOf(k).length()).max().orElse(0);
        for (Map.Entry<?, ?> e : map.entrySet()) {
            out.printf(Locale.ROOT, "  %-" + w + "s  %s%n", e.getKey(), describe(e.getValue()));
        }
        if (tensorCount(map) > 0) {
            table(out, "(root)", map);
        }
        for (Map.Entry<?, ?> e : map.entrySet()) {
            if (e.getValue() instanceof Map<?, ?> sub && tensorCount(sub) > 0) {
                table(out, String.valueOf(e.getKey()), sub);
            }
        }
    }

    private static long parameters(Object root) {
        if (!(root instanceof Map<?, ?> map)) {
            return 0;
        }
        long params = 0;
        for (Object v : StateDicts.container(map).values()) {
            if (v instanceof Tensor t) {
                params += t.numel();
            }
        }
        return params;
    }

    private static long size(Path file) {
        try {
            return Files.size(file);
        } catch (java.io.IOException e) {
            return -1;
        }
    }

    private static long tensorCount(Map<?, ?> m) {
        return m.values().stream().filter(v -> v instanceof Tensor).count();
    }

    private static void table(PrintWriter out, String name, Map<?, ?> sd) {
        List<String[]> rows = new ArrayList<>();
        long total = 0;
        for (Map.Entry<?, ?> e : sd.entrySet()) {
            if (e.getValue() instanceof Tensor t) {
                rows.add(new String[]{String.valueOf(e.getKey()), Npy.numpyName(t.dtype()), Arrays.toString(t.shape())});
                total += t.numel();
            }
        }
        out.printf(Locale.ROOT, "%nstate dict '%s': %d tensors, %,d elements%n", name, rows.size(), total);
        int w0 = Math.max(4, rows.stream().mapToInt(r -> r[0].length()).max().orElse(0));
        int w1 = Math.max(5, rows.stream().mapToInt(r -> r[1].length()).max().orElse(0));
        out.printf(Locale.ROOT, "  %-" + w0 + "s  %-" + w1 + "s  %s%n", "name", "dtype", "shape");
        for (String[] r : rows) {
            out.printf(Locale.ROOT, "  %-" + w0 + "s  %-" + w1 + "s  %s%n", r[0], r[1], r[2]);
        }
        out.println();
    }

    /** A short description of a value's type (and small content). */
    static String describe(Object v) {
        if (v == null) {
            return "None";
        }
        if (v instanceof Tensor t) {
            return "tensor " + Npy.numpyName(t.dtype()) + " " + Arrays.toString(t.shape());
        }
        if (v instanceof Map<?, ?> m) {
            long n = tensorCount(m);
            return "dict (" + m.size() + " entries" + (n > 0 ? ", " + n + " tensors" : "") + ")";
        }
        if (v instanceof PickleTuple t) {
            return "tuple (" + t.size() + " items)";
        }
        if (v instanceof List<?> l) {
            return "list (" + l.size() + " items)";
        }
        if (v instanceof PickleObject p) {
            int fields = p.attributes().size();
            return p.qualifiedName() + (fields > 0 ? " (" + fields + " fields)" : "");
        }
        if (v instanceof Long || v instanceof BigInteger) {
            return "int " + v;
        }
        if (v instanceof Double) {
            return "float " + v;
        }
        if (v instanceof Boolean) {
            return "bool " + v;
        }
        if (v instanceof String s) {
            return "str '" + (s.length() > 40 ? s.substring(0, 40) + "..." : s) + "'";
        }
        if (v instanceof byte[] b) {
            return "bytes (" + b.length + ")";
        }
        return v.getClass().getSimpleName();
    }
}
