package org.nextpatch.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.Fixtures;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The writer's checkpoints read back identically (values, types, order, tensors of every dtype). */
class TorchCheckpointRoundTripTest {
    @TempDir
    Path dir;

    static Tensor random(DType t, long... shape) {
        int n = (int) Tensor.numel(shape);
        byte[] b = new byte[n * t.bytes()];
        new Random(t.ordinal() + 17L * n).nextBytes(b);
        if (t == DType.BOOL) {
            for (int i = 0; i < b.length; i++) {
                b[i] &= 1;
            }
        }
        return Tensor.ofBytes(t, shape, b);
    }

    /** Deep equality where tensors compare by content. */
    static void assertTreeEquals(Object a, Object b, String path) {
        if (a instanceof Tensor ta) {
            Tensor tb = assertInstanceOf(Tensor.class, b, path);
            assertTrue(ta.contentEquals(tb), path + ": " + ta + " vs " + tb);
        } else if (a instanceof Map<?, ?> ma) {
            Map<?, ?> mb = assertInstanceOf(Map.class, b, path);
            assertEquals(new ArrayList<>(ma.keySet()), new ArrayList<>(mb.keySet()), path);
            for (Object k : ma.keySet()) {
                assertTreeEquals(ma.get(k), mb.get(k), path + "." + k);
            }
        } else if (a instanceof List<?> la) {
            List<?> lb = assertInstanceOf(List.class, b, path);
            assertEquals(la instanceof PickleTuple, lb instanceof PickleTuple, path + " tuple-ness");
            assertEquals(la.size(), lb.size(), path);
            for (int i = 0; i < la.size(); i++) {
                assertTreeEquals(la.get(i), lb.get(i), path + "[" + i + "]");
            }
        } else if (a instanceof Integer i) {
            assertEquals((long) i, b, path);
        } else if (a instanceof Float f) {
            assertEquals((double) f, b, path);
        } else {
            assertEquals(a, b, path);
        }
    }

    @Test
    void writesAndReadsBackIdentically() throws java.io.IOException {
        LinkedHashMap<String, Object> model = new LinkedHashMap<>();
        for (DType t : DType.values()) {
            model.put("w." + t.name().toLowerCase(), random(t, 3, 4));
        }
        model.put("scalar", random(DType.FLOAT32));
        model.put("empty", random(DType.FLOAT32, 0, 5));
        model.put("big.int", Tensor.ofLongs(new long[]{3}, new long[]{Long.MIN_VALUE, -1, Long.MAX_VALUE}));

        Map<String, Object> args = new LinkedHashMap<>();
        args.put("gpt_model", "GPT-B");
        args.put("lr", 1e-4);
        args.put("epochs", 300L);
        args.put("big", 1L << 40);
        args.put("neg", -70000L);
        args.put("flag", true);
        args.put("none", null);
        args.put("unicode", "é→🙂");
        args.put("list", new ArrayList<>(List.of(1L, 2.5, "x")));
        args.put("tuple", PickleTuple.of(1L, 2L, 3L, 4L));
        args.put("pair", PickleTuple.of(0.9, 0.95));

        // optimizer-like: int keys, nested dicts and lists of tensors
        Map<Object, Object> state = new LinkedHashMap<>();
        state.put(0L, new LinkedHashMap<>(Map.of("step", random(DType.FLOAT32), "exp_avg", random(DType.FLOAT32, 3, 4))));
        Map<String, Object> opt = new LinkedHashMap<>();
        opt.put("state", state);
        opt.put("param_groups", List.of(new LinkedHashMap<>(Map.of("lr", 1e-3, "params", List.of(0L, 1L)))));
        List<Object> many = new ArrayList<>();
        for (long i = 0; i < 2500; i++) {
            many.add(i); // more than one APPENDS batch
        }
        opt.put("many", many);

        Map<String, Object> root = new LinkedHashMap<>();
        root.put("model", model);
        root.put("steps", 1234L);
        root.put("args", args);
        root.put("optimizer", opt);

        Path p = dir.resolve("ck.pt");
        TorchCheckpoint.save(p, root);
        Object back = TorchCheckpoint.load(p);
        assertTreeEquals(root, back, "root");
        // the state dict selects like an upstream checkpoint's
        assertEquals(model.keySet(), StateDicts.select(back, false).keySet());
        try (var files = Files.list(dir)) {
            assertEquals(List.of(p), files.toList(), "no temporary files left");
        }
        // an independent sequential reader (java.util.zip.ZipInputStream: local headers, CRC-32 of every entry)
        int entries = 0;
        try (var zin = new java.util.zip.ZipInputStream(Files.newInputStream(p))) {
            for (var e = zin.getNextEntry(); e != null; e = zin.getNextEntry()) {
                zin.readAllBytes(); // throws ZipException on a CRC mismatch
                entries++;
            }
        }
        assertEquals(3 + 15, entries); // data.pkl, byteorder, version + one storage per distinct tensor
    }

    @Test
    void tiedTensorsShareOneStorage() {
        Tensor w = random(DType.FLOAT32, 4, 2);
        Map<String, Object> sd = new LinkedHashMap<>();
        sd.put("tok_embeddings.weight", w);
        sd.put("output.weight", w);
        Path p = dir.resolve("tied.pt");
        TorchCheckpoint.save(p, Map.of("model", sd));
        try (var z = org.nextpatch.tensor.ZipArchive.open(p)) {
            assertEquals(List.of("archive/data.pkl", "archive/byteorder", "archive/data/0", "archive/version"), z.names());
        }
        Map<String, Tensor> back = StateDicts.select(TorchCheckpoint.load(p), false);
        assertTrue(w.contentEquals(back.get("output.weight")));
    }

    @Test
    void fixtureCheckpointRewritesIdentically() {
        // gpt.pt (from real PyTorch) -> save -> load: same tree; args (a Namespace) saved as a plain dict
        Map<?, ?> root = (Map<?, ?>) TorchCheckpoint.load(Fixtures.file("gpt.pt"));
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("model", root.get("model"));
        out.put("steps", root.get("steps"));
        out.put("args", new LinkedHashMap<>(((PickleObject) root.get("args")).attributes()));
        Path p = dir.resolve("gpt-copy.pt");
        TorchCheckpoint.save(p, out);
        assertTreeEquals(out, TorchCheckpoint.load(p), "root");
    }

    @Test
    void refusesUnsavableValuesWithoutWritingAnything() {
        Path p = dir.resolve("bad.pt");
        NppException e = assertThrows(NppException.class,
                () -> TorchCheckpoint.save(p, Map.of("args", new PickleObject("argparse", "Namespace", List.of(), Map.of()))));
        assertTrue(e.getMessage().contains("bad.pt") && e.getMessage().contains("argparse.Namespace"), e.getMessage());
        assertTrue(!Files.exists(p));
    }

    @Test
    void sameObjectDecodedOnceViaMemo() {
        // BINGET of a memoised list returns the same object, as Python would
        Object o = new Unpickler(java.nio.ByteBuffer.wrap(new byte[]{(byte) 0x80, 2, ']', 'q', 0, 'h', 0, (byte) 0x86, '.'}),
                "memo", null).load();
        PickleTuple t = assertInstanceOf(PickleTuple.class, o);
        assertSame(t.get(0), t.get(1));
    }
}
