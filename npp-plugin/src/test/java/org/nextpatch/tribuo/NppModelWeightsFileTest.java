package org.nextpatch.tribuo;

import com.oracle.labs.mlrg.olcut.provenance.PrimitiveProvenance;
import com.oracle.labs.mlrg.olcut.provenance.Provenance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.cli.ProvenanceCommand;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Half;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;
import org.tribuo.Model;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The NPP model file's two layouts: weights inline (version 0, also what older versions wrote) and
 * weights in {@code MODEL.weights} beside the model file (version 1), with the checks on load.
 */
class NppModelWeightsFileTest {

    private static NppModel model() {
        return NppModelTest.model(NppModelTest.data(6, 1));
    }

    private static void assertSameWeights(NppModel a, NppModel b) {
        assertEquals(a.getWeights().keySet(), b.getWeights().keySet());
        for (Map.Entry<String, Tensor> e : a.getWeights().entrySet()) {
            assertTrue(e.getValue().contentEquals(b.getWeights().get(e.getKey())), e.getKey());
        }
    }

    private static String sha256(Path p) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p)));
    }

    private static Map<String, ? extends Provenance> instance(Model<?> m) {
        return m.getProvenance().getInstanceProvenance().getMap();
    }

    /** An instance value of the provenance. */
    static Object value(Model<?> m, String key) {
        Provenance p = m.getProvenance().getInstanceProvenance().getMap().get(key);
        return p == null ? null : ((PrimitiveProvenance<?>) p).getValue();
    }

    @Test
    void smallModelsStayInline(@TempDir Path dir) throws Exception {
        try (NppModel m = model()) {
            Path f = dir.resolve("m.tribuo");
            m.serializeToFile(f);
            assertFalse(Files.exists(dir.resolve("m.tribuo.weights")));
            NppModel back = (NppModel) Model.deserializeFromFile(f);
            assertSameWeights(m, back);
            assertEquals(m.getProvenance(), back.getProvenance());
        }
    }

    @Test
    void externalWeightsRoundTripWithHashInProtoAndProvenance(@TempDir Path dir) throws Exception {
        try (NppModel m = model()) {
            Path f = dir.resolve("m.tribuo");
            m.save(f, null, NppModel.WeightsLayout.EXTERNAL);
            Path w = dir.resolve("m.tribuo.weights");
            assertTrue(Files.isRegularFile(w));
            long weightBytes = m.getWeights().values().stream().mapToLong(t -> t.numel() * 4).sum();
            assertTrue(Files.size(w) >= weightBytes && Files.size(w) < weightBytes + 64L * m.getWeights().size());
            assertTrue(Files.size(f) < weightBytes / 4, "model file " + Files.size(f) + " bytes: weights not inline");
            // only the pair remains: no temporary files
            try (var s = Files.list(dir)) {
                assertEquals(2, s.count());
            }

            NppModel back = NppModel.load(f);
            assertSameWeights(m, back);
            assertEquals(m.getGptConfig(), back.getGptConfig());
            assertEquals(m.getSamplingSettings(), back.getSamplingSettings());
            assertEquals("m.tribuo.weights", value(back, NppModel.PROV_WEIGHTS_FILE));
            assertEquals(Files.size(w), value(back, NppModel.PROV_WEIGHTS_BYTES));
            assertEquals(sha256(w), value(back, NppModel.PROV_WEIGHTS_SHA256));
            assertEquals("float32", value(back, NppModel.PROV_WEIGHTS_DTYPE));
            // the trainer's provenance is kept
            assertEquals(m.getProvenance().getTrainerProvenance(), back.getProvenance().getTrainerProvenance());
            assertEquals(m.getProvenance().getDatasetProvenance(), back.getProvenance().getDatasetProvenance());
            // the provenance command finds the weights beside the file from any working directory
            assertTrue(ProvenanceCommand.toJson(ProvenanceCommand.load(f), false).contains(sha256(w)));

            // generation is identical from the mapped weights
            assertEquals(m.generate(new int[]{0, 2}, 5), back.generate(new int[]{0, 2}, 5));

            // a re-save inline drops the weights file's name and the now unreferenced weights file
            back.save(f, null, NppModel.WeightsLayout.INLINE);
            assertFalse(Files.exists(w));
            NppModel inline = NppModel.load(f);
            assertSameWeights(m, inline);
            assertFalse(instance(inline).containsKey(NppModel.PROV_WEIGHTS_FILE));
            assertEquals(inlineSha256(m), value(inline, NppModel.PROV_WEIGHTS_SHA256));
            back.close();
            inline.close();
        }
    }

    /** SHA-256 of the tensors' little-endian bytes one after the other, computed here from the floats. */
    static String inlineSha256(NppModel m) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        for (Tensor t : m.getWeights().values()) {
            ByteBuffer b = ByteBuffer.allocate((int) t.numel() * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            for (float v : t.toFloatArray()) {
                b.putFloat(v);
            }
            md.update(b.array());
        }
        return HexFormat.of().formatHex(md.digest());
    }

    @Test
    void inlineWeightsAreChecksummedAndFlippedBytesFailNamingTheFile(@TempDir Path dir) throws Exception {
        try (NppModel m = model()) {
            Path f = dir.resolve("m.tribuo");
            m.save(f, null, NppModel.WeightsLayout.INLINE);
            NppModel back = NppModel.load(f);
            assertSameWeights(m, back);
            assertEquals(inlineSha256(m), value(back, NppModel.PROV_WEIGHTS_SHA256));
            assertEquals(m.getWeights().values().stream().mapToLong(t -> t.numel() * 4).sum(),
                    value(back, NppModel.PROV_WEIGHTS_BYTES));
            assertEquals("float32", value(back, NppModel.PROV_WEIGHTS_DTYPE));
            // NppModel.load maps the file: the inline weights are not copied onto the heap
            assertTrue(back.getWeights().get("output.weight").data().isDirect());
            back.close();

            // four flipped bytes inside the output head's weights (found by their content)
            byte[] file = Files.readAllBytes(f);
            ByteBuffer head = m.getWeights().get("output.weight").data();
            byte[] needle = new byte[64];
            head.get(needle);
            // ISO-8859-1 maps each byte to one char: a byte search
            int at = new String(file, java.nio.charset.StandardCharsets.ISO_8859_1)
                    .indexOf(new String(needle, java.nio.charset.StandardCharsets.ISO_8859_1));
            assertTrue(at > 0, "the output head's bytes are in the file");
            for (int i = 20; i < 24; i++) {
                file[at + i] ^= (byte) 0x5a;
            }
            Path bad = dir.resolve("flipped.tribuo");
            Files.write(bad, file);
            NppException e = assertThrows(NppException.class, () -> NppModel.load(bad));
            assertTrue(e.getMessage().contains(bad.toString()) && e.getMessage().contains("SHA-256")
                    && e.getMessage().contains("corrupted"), e.getMessage());
            assertEquals(1, e.getMessage().lines().count());
            // Tribuo's own reader refuses it too
            Exception t = assertThrows(Exception.class, () -> Model.deserializeFromFile(bad));
            Throwable root = t;
            while (root.getCause() != null) {
                root = root.getCause();
            }
            assertTrue(root.getMessage().contains("SHA-256"), root.getMessage());
        }
    }

    /** The streamed inline file holds the same message as serialize() builds in memory, for each storage type. */
    @Test
    void savedInlineFileIsTheMessageSerializeBuilds(@TempDir Path dir) throws Exception {
        try (NppModel m = model()) {
            for (DType dtype : new DType[]{null, DType.FLOAT16}) {
                Path f = dir.resolve("m.tribuo");
                m.save(f, dtype, NppModel.WeightsLayout.INLINE);
                org.tribuo.protos.core.ModelProto file = org.tribuo.protos.core.ModelProto.parseFrom(Files.readAllBytes(f));
                org.tribuo.protos.core.ModelProto memory = new NppModelFile(m).inlineProto(dtype);
                assertEquals(memory.getVersion(), file.getVersion());
                assertEquals(memory.getClassName(), file.getClassName());
                assertEquals(NppProtos.unpack(memory.getSerializedData(), NppProtos.NPP_MODEL),
                        NppProtos.unpack(file.getSerializedData(), NppProtos.NPP_MODEL), String.valueOf(dtype));
            }
        }
    }

    @Test
    void automaticLayoutKeepsWeightsInlineUpToTheLimit(@TempDir Path dir) throws Exception {
        try (NppModel m = model()) {
            long bytes = m.getWeights().values().stream().mapToLong(t -> t.numel() * 4).sum();
            Path f = dir.resolve("m.tribuo");
            m.save(f, null, NppModel.WeightsLayout.AUTO, bytes);
            assertFalse(Files.exists(dir.resolve("m.tribuo.weights")));
            assertTrue(Files.size(f) > bytes);
            m.save(f, null, NppModel.WeightsLayout.AUTO, bytes - 1);
            assertTrue(Files.isRegularFile(dir.resolve("m.tribuo.weights")));
            assertTrue(Files.size(f) < bytes);
            assertSameWeights(m, NppModel.load(f));
            // the real limit: protobuf's 2 GiB less room for the rest of the model
            assertEquals((1L << 31) - (64L << 20), NppModel.MAX_INLINE_BYTES);
            assertThrows(NppException.class, () -> m.save(dir.resolve("x.tribuo"), null, NppModel.WeightsLayout.INLINE, bytes - 1));
        }
    }

    @Test
    void movedPairLoadsThroughNppModelAndTribuoFindsTheSavedPath(@TempDir Path dir) throws Exception {
        try (NppModel m = model()) {
            Path f = dir.resolve("a").resolve("m.tribuo");
            m.save(f, null, NppModel.WeightsLayout.EXTERNAL);
            // Tribuo's own reader: the weights are found where they were saved
            assertSameWeights(m, (NppModel) Model.deserializeFromFile(f));
            Path g = Files.createDirectories(dir.resolve("b")).resolve("m.tribuo");
            Files.move(f, g);
            Files.move(dir.resolve("a").resolve("m.tribuo.weights"), dir.resolve("b").resolve("m.tribuo.weights"));
            assertSameWeights(m, NppModel.load(g));
            // Tribuo's own reader cannot know where the moved pair is: its error says what to call instead
            Exception e = assertThrows(Exception.class, () -> Model.deserializeFromFile(g));
            Throwable root = e;
            while (root.getCause() != null) {
                root = root.getCause();
            }
            assertTrue(root.getMessage().contains("NppModel.load(path)") && root.getMessage().contains("m.tribuo.weights"),
                    root.getMessage());
        }
    }

    @Test
    void missingTruncatedOrAlteredWeightsFailWithOneLineNamingTheFile(@TempDir Path dir) throws Exception {
        try (NppModel m = model()) {
            Path f = dir.resolve("m.tribuo");
            Path w = dir.resolve("m.tribuo.weights");
            m.save(f, null, NppModel.WeightsLayout.EXTERNAL);
            byte[] good = Files.readAllBytes(w);

            byte[] altered = good.clone();
            altered[altered.length / 2] ^= 1;
            Files.write(w, altered);
            NppException e = assertThrows(NppException.class, () -> NppModel.load(f));
            assertTrue(e.getMessage().contains(w.toString()) && e.getMessage().contains("SHA-256"), e.getMessage());
            assertEquals(1, e.getMessage().lines().count());

            try (FileChannel ch = FileChannel.open(w, StandardOpenOption.WRITE)) {
                ch.write(ByteBuffer.wrap(good), 0);
                ch.truncate(good.length - 10);
            }
            e = assertThrows(NppException.class, () -> NppModel.load(f));
            assertTrue(e.getMessage().contains(w.toString()) && e.getMessage().contains("truncated"), e.getMessage());

            Files.delete(w);
            e = assertThrows(NppException.class, () -> NppModel.load(f));
            assertTrue(e.getMessage().contains(w.toString()) && e.getMessage().contains("missing"), e.getMessage());
            // the same through Tribuo's reader (the saved path is gone too): the cause names the file
            Exception t = assertThrows(Exception.class, () -> Model.deserializeFromFile(f));
            Throwable root = t;
            while (root.getCause() != null) {
                root = root.getCause();
            }
            assertTrue(root.getMessage().contains("m.tribuo.weights"), root.getMessage());
            // and through the command line's reader, as one line
            e = assertThrows(NppException.class, () -> ProvenanceCommand.load(f));
            assertTrue(e.getMessage().contains(w.toString()) && e.getMessage().contains("missing"), e.getMessage());
        }
    }

    @Test
    void halfPrecisionStorageHalvesTheFileAndRoundsEachWeight(@TempDir Path dir) throws Exception {
        try (NppModel m = model()) {
            for (DType dtype : List.of(DType.FLOAT16, DType.BFLOAT16)) {
                Path f = dir.resolve(dtype + ".tribuo");
                m.save(f, dtype, NppModel.WeightsLayout.EXTERNAL);
                NppModel back = NppModel.load(f);
                long floats = m.getWeights().values().stream().mapToLong(Tensor::numel).sum();
                assertTrue(Files.size(dir.resolve(dtype + ".tribuo.weights")) < floats * 2 + 64L * m.getWeights().size());
                assertEquals(dtype.name().toLowerCase(), value(back, NppModel.PROV_WEIGHTS_DTYPE));
                for (Map.Entry<String, Tensor> e : m.getWeights().entrySet()) {
                    Tensor got = back.getWeights().get(e.getKey());
                    assertEquals(dtype, got.dtype());
                    float[] want = e.getValue().toFloatArray();
                    float[] have = got.toFloatArray();
                    for (int i = 0; i < want.length; i++) {
                        // independent rounding: Half for float16; bfloat16 keeps 8 significant bits
                        float expect = dtype == DType.FLOAT16 ? Half.toFloat(Half.fromFloat(want[i])) : want[i];
                        float tol = dtype == DType.FLOAT16 ? 0f : Math.abs(want[i]) * 0x1p-8f;
                        assertEquals(expect, have[i], tol, e.getKey() + "[" + i + "]");
                    }
                }
                // inline half storage loads to the same values
                Path g = dir.resolve(dtype + "-inline.tribuo");
                m.save(g, dtype, NppModel.WeightsLayout.INLINE);
                NppModel inline = NppModel.load(g);
                for (Map.Entry<String, Tensor> e : back.getWeights().entrySet()) {
                    assertTrue(e.getValue().contentEquals(inline.getWeights().get(e.getKey())), e.getKey());
                }
                // the engine runs on float32 converted from the stored halves
                assertEquals(2, back.generate(new int[]{1, 1}, 3).size());
                back.close();
                inline.close();
            }
        }
    }

    @Test
    void bfloat16RoundsToNearestEven() {
        assertEquals((short) 0x3f80, ModelWeightsFile.toBfloat16(1f));
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1)
        assertEquals((short) 0x3f80, ModelWeightsFile.toBfloat16(1f + 0x1p-8f));
        // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: ties to even (1 + 2^-6)
        assertEquals((short) 0x3f82, ModelWeightsFile.toBfloat16(1f + 3 * 0x1p-8f));
        assertEquals((short) 0x3f81, ModelWeightsFile.toBfloat16(1f + 0x1p-8f + 0x1p-20f));
        assertTrue(Float.isNaN(Float.intBitsToFloat(ModelWeightsFile.toBfloat16(Float.NaN) << 16)));
    }

    /**
     * {@code npp-model-v0.tribuo} was written by the version before external weights existed
     * (commit 70f08cc, {@code NppModelTest.model} settings): it still loads, with the same weights.
     * Those weights came from the random streams of that time (before issue 20), so they are compared
     * with the SHA-256 over every tensor's name and bytes that training with those streams gave.
     */
    @Test
    void modelFilesOfThePreviousVersionLoad() throws Exception {
        Path old = Path.of(NppModelWeightsFileTest.class.getResource("npp-model-v0.tribuo").toURI());
        NppModel back = NppModel.load(old);
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        for (Map.Entry<String, Tensor> e : back.getWeights().entrySet()) {
            md.update(e.getKey().getBytes(java.nio.charset.StandardCharsets.UTF_8));
            md.update(e.getValue().toByteArray());
        }
        assertEquals(V0_WEIGHTS_SHA256, HexFormat.of().formatHex(md.digest()));
        try (NppModel m = model()) {
            assertEquals(m.getGptConfig(), back.getGptConfig());
            assertEquals(m.getSeed(), back.getSeed());
        }
        back.close();
    }

    private static final String V0_WEIGHTS_SHA256 = "1bf0e5c0bf8e40cd527d1ed30bb2972a5afc9bc40ace4e5b0c617eb04f0db440";

    @Test
    void notAnNppModelOrNotAModelIsOneLine(@TempDir Path dir) throws Exception {
        Path junk = dir.resolve("junk.tribuo");
        Files.write(junk, new byte[]{1, 2, 3, 4, 5});
        NppException e = assertThrows(NppException.class, () -> NppModel.load(junk));
        assertTrue(e.getMessage().contains(junk.toString()), e.getMessage());
        e = assertThrows(NppException.class, () -> NppModel.load(dir.resolve("none.tribuo")));
        assertTrue(e.getMessage().contains("not found"), e.getMessage());
        assertArrayEquals(new byte[]{1, 2, 3, 4, 5}, Files.readAllBytes(junk));
    }
}
