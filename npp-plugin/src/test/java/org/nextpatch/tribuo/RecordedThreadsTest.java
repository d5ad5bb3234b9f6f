package org.nextpatch.tribuo;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.oracle.labs.mlrg.olcut.provenance.primitives.LongProvenance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.cli.NppCommandTest;
import org.nextpatch.model.EngineThreads;
import org.tribuo.ImmutableFeatureMap;
import org.tribuo.MutableDataset;
import org.tribuo.provenance.DatasetProvenance;
import org.tribuo.provenance.ModelProvenance;

import java.io.StringWriter;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A model trained at another libtorch thread count than this process's says so: weights are
 * bit-identical only at the same count, so a reproduction from the provenance warns, and
 * {@code npp provenance} adds a note on stderr (stdout stays the JSON).
 */
class RecordedThreadsTest {

    static ModelProvenance provenance(MutableDataset<TokenGrid> ds, long threads) {
        return new ModelProvenance(NppModel.class.getName(), OffsetDateTime.now(), (DatasetProvenance) ds.getProvenance(),
                NppTrainer.customSize(32, 1, 2).getProvenance(),
                Map.of(NppTraining.INTRA_OP_THREADS, new LongProvenance(NppTraining.INTRA_OP_THREADS, threads)));
    }

    @Test
    void aReproductionAtAnotherCountIsFlagged() {
        MutableDataset<TokenGrid> ds = NppModelTest.data(3, 1);
        int now = EngineThreads.current();
        assertEquals(Optional.empty(), RecordedThreads.check(provenance(ds, now), "m was trained"));
        Optional<String> note = RecordedThreads.check(provenance(ds, now + 1), "m was trained");
        assertTrue(note.isPresent());
        assertTrue(note.get().contains("m was trained with " + (now + 1) + " intra-op thread(s), this process uses " + now)
                && note.get().contains("NPP_THREADS=" + (now + 1)), note.get());
        // nothing recorded (another Tribuo model, an import): nothing to compare
        try (NppModel plain = NppModelTest.model(ds)) {
            assertEquals(0, RecordedThreads.of(plain.getProvenance()));
        }
    }

    @Test
    void theProvenanceCommandAddsANoteOnStderr(@TempDir Path dir) throws Exception {
        MutableDataset<TokenGrid> ds = NppModelTest.data(3, 1);
        int other = EngineThreads.current() + 1;
        Path file = dir.resolve("m.model");
        try (NppModel m = new NppModel("tiny", provenance(ds, other), new ImmutableFeatureMap(ds.getFeatureMap()),
                ds.getOutputIDInfo(), NppModelTest.TINY, NppModelTest.weights(7), "class", 42, NppModel.defaultSampling(),
                NppModel.DEFAULT_SEED_KEY, "cpu", 4)) {
            m.serializeToFile(file);
        }
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        assertEquals(0, NppCommandTest.run(out, err, "provenance", file.toString()), err.toString());
        assertEquals(other, new ObjectMapper().readTree(out.toString()).path("instance-values").path("intra-op-threads").asLong(),
                out.toString());
        assertTrue(err.toString().startsWith("note: model " + file + " was trained with " + other + " intra-op thread(s)"),
                err.toString());
    }
}
