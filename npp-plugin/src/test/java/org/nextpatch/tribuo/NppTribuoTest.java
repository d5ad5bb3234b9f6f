package org.nextpatch.tribuo;

import com.oracle.labs.mlrg.olcut.config.ConfigurationManager;
import com.oracle.labs.mlrg.olcut.provenance.ProvenanceUtil;
import com.oracle.labs.mlrg.olcut.provenance.primitives.IntProvenance;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.cli.ProvenanceCommand;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.tensor.Tensor;
import org.tribuo.Model;
import org.tribuo.MutableDataset;
import org.tribuo.Prediction;
import org.tribuo.Trainer;
import org.tribuo.impl.ArrayExample;
import org.tribuo.provenance.ModelProvenance;
import org.tribuo.provenance.TrainerProvenance;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Tribuo integration end to end on a tiny model (d 32, 1 layer, 4x4 grids, 16 tokens, 3
 * classes, CPU): train through {@code Trainer.train} on a {@code MutableDataset}, generate through
 * {@code Model.predict}, evaluate, save/load, retrain from provenance.
 */
class NppTribuoTest {

    static MutableDataset<TokenGrid> train;
    static NppTrainer trainer;
    static NppModel model;

    /**
     * Structured data a model can learn: class k's grids are mostly token (5k + column) with a few
     * random tokens, so the evaluation has something to measure.
     */
    static MutableDataset<TokenGrid> data(int n, long seed) {
        MutableDataset<TokenGrid> ds = NppModelTest.data(0, seed);
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        for (int i = 0; i < n; i++) {
            int k = i % 3;
            int[] t = new int[16];
            for (int j = 0; j < 16; j++) {
                t[j] = r.nextDouble() < 0.2 ? r.nextInt(16) : (5 * k + j % 4) % 16;
            }
            ds.add(ClassCondition.example(TokenGrid.of(t), k));
        }
        return ds;
    }

    @BeforeAll
    static void trainOnce() {
        ConfigurationManager.addFileFormatFactory(new com.oracle.labs.mlrg.olcut.config.json.JsonConfigFactory());
        train = data(24, 11);
        trainer = (NppTrainer) new ConfigurationManager(NppTrainerConfigTest.XML).lookup("npp-trainer");
        model = trainer.train(train, Map.of());
    }

    @AfterAll
    static void free() {
        model.close();
    }

    @Test
    void trainsThroughTribuoWithFullProvenance() {
        ModelProvenance p = model.getProvenance();
        assertEquals(NppModel.class.getName(), p.getClassName());
        assertEquals(NppTrainer.class.getName(), p.getTrainerProvenance().getClassName());
        assertEquals(0, ((IntProvenance) p.getTrainerProvenance().getInstanceValues()
                .get(TrainerProvenance.TRAIN_INVOCATION_COUNT)).getValue());
        Map<String, ?> inst = p.getInstanceProvenance().getMap();
        for (String key : List.of(NppTraining.DJL_VERSION, NppTraining.PYTORCH_VERSION, NppTraining.DEVICE,
                NppTraining.RUN_SEED, NppTraining.STEPS, NppTraining.FINAL_LOSS)) {
            assertTrue(inst.containsKey(key), key + " in " + inst.keySet());
        }
        assertTrue(inst.get(NppTraining.PYTORCH_VERSION).toString().contains("2.5.1"), inst.toString());
        assertFalse(p.getJavaVersion().isEmpty());
        assertEquals(train.getProvenance(), p.getDatasetProvenance());
        assertEquals(1, trainer.getInvocationCount());
        // 24 grids, batch 4, 4 epochs: 24 optimizer steps.
        assertEquals(24L, ((com.oracle.labs.mlrg.olcut.provenance.primitives.LongProvenance) inst.get(NppTraining.STEPS)).getValue());
        // what was trained, resolved from the data (the trainer's fields hold the request, -1)
        assertEquals(model.getGptConfig().vocabSize(), ((com.oracle.labs.mlrg.olcut.provenance.primitives.LongProvenance)
                inst.get(NppTraining.VOCAB_SIZE)).getValue());
        assertEquals(3L, ((com.oracle.labs.mlrg.olcut.provenance.primitives.LongProvenance) inst.get(NppTraining.NUM_CLASSES)).getValue());
        assertEquals(4L, ((com.oracle.labs.mlrg.olcut.provenance.primitives.LongProvenance) inst.get(NppTraining.GRID_SIDE)).getValue());
        assertEquals(org.nextpatch.util.BuildInfo.version(), inst.get(NppTraining.NPP_VERSION).toString().replaceAll(".*=", ""));
        assertTrue(org.nextpatch.util.BuildInfo.version().contains("."), org.nextpatch.util.BuildInfo.version());
        assertTrue(inst.get(NppTraining.GIT_COMMIT).toString().matches(".*([0-9a-f]{40}(-dirty)?|unknown)"), inst.toString());
        // the output domain describes what the model produces
        TokenGridInfo out = (TokenGridInfo) model.getOutputIDInfo();
        assertEquals(4, out.getGridSide());
        assertEquals(model.getGptConfig().vocabSize(), out.getVocabularySeen());
        // every class is a feature Tribuo sees, class 0 included
        for (int k = 0; k < 3; k++) {
            assertEquals(8, train.getFeatureMap().get("class@" + k).getCount(), "class@" + k);
        }
    }

    @Test
    void predictGeneratesAGridForTheExampleClass() {
        Prediction<TokenGrid> p = model.predict(ClassCondition.request(2));
        TokenGrid g = p.getOutput();
        assertEquals(4, g.side());
        assertTrue(g.maxToken() < 16);
        assertTrue(g.score() < 0 && Double.isFinite(g.score()), "log-likelihood " + g.score());
        // Deterministic: the same example gives the same grid; a seed offset in the metadata changes it.
        assertEquals(g, model.predict(ClassCondition.request(2)).getOutput());
        List<TokenGrid> seeds = new ArrayList<>();
        for (int s = 0; s < 3; s++) {
            ArrayExample<TokenGrid> ex = ClassCondition.request(2);
            ex.setMetadataValue(NppModel.DEFAULT_SEED_KEY, (long) s);
            seeds.add(model.predict(ex).getOutput());
        }
        assertEquals(g, seeds.get(0), "metadata seed 0 = no offset");
        assertTrue(seeds.stream().distinct().count() > 1, "different seeds give different grids: " + seeds);
        // Batch prediction equals one-by-one prediction.
        List<org.tribuo.Example<TokenGrid>> reqs = new ArrayList<>(List.of(ClassCondition.request(0), ClassCondition.request(2)));
        List<Prediction<TokenGrid>> batch = model.predict(reqs);
        assertTrue(batch.get(1).getOutput().fullEquals(g, 1e-9));
        assertEquals(model.predict(reqs.get(0)).getOutput(), batch.get(0).getOutput());
    }

    @Test
    void generateMatchesPredictSeedConvention() {
        List<TokenGrid> gen = model.generate(new int[]{0, 1, 2}, model.getSeed());
        assertEquals(model.predict(ClassCondition.request(0)).getOutput(), gen.get(0), "image 0 of the model seed");
        assertEquals(3, gen.size());
    }

    @Test
    void evaluatorMeasuresTheLearnedStructure() {
        MutableDataset<TokenGrid> test = data(9, 99);
        TokenGridEvaluation ev = new TokenGridEvaluator().evaluateTeacherForced(model, test);
        assertEquals(9 * 16, ev.tokenCount());
        assertEquals(ev.nll() / Math.log(2), ev.bitsPerToken(), 1e-12);
        // Uniform guessing over 16 tokens costs ln 16 = 2.77 nats; the trained model must beat it.
        assertTrue(ev.nll() < Math.log(16), ev.toString());
        for (int k = 0; k < 3; k++) {
            assertTrue(ev.accuracy(k) >= 0 && ev.accuracy(k) <= 1);
        }
        // Tribuo's usual entry point (generation first) gives the same teacher-forced numbers.
        MutableDataset<TokenGrid> small = data(3, 98);
        assertEquals(new TokenGridEvaluator().evaluateTeacherForced(model, small).asMap(),
                small.getOutputFactory().getEvaluator().evaluate(model, small).asMap());
    }

    @Test
    void saveLoadRoundTripGivesEqualProvenanceAndIdenticalGenerations(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("npp.model");
        model.serializeToFile(file);
        try (NppModel back = (NppModel) Model.deserializeFromFile(file)) {
            assertEquals(model.getProvenance(), back.getProvenance());
            List<TokenGrid> a = model.generate(new int[]{0, 1, 2}, 5);
            List<TokenGrid> b = back.generate(new int[]{0, 1, 2}, 5);
            for (int k = 0; k < 3; k++) {
                assertTrue(a.get(k).fullEquals(b.get(k)), a.get(k) + " vs " + b.get(k));
            }
            String json = ProvenanceCommand.toJson(back, false);
            assertTrue(json.contains(NppTraining.PYTORCH_VERSION), json);
        }
    }

    @Test
    void copyAndSamplingSettings() {
        Model<TokenGrid> c = model.copy();
        assertEquals(model.getProvenance(), c.getProvenance());
        assertTrue(model.getExcuse(ClassCondition.request(0)).isEmpty());
        NppModel greedy = (NppModel) model.copy();
        greedy.setSamplingSettings(SamplingSettings.greedy(1.0));
        TokenGrid a = greedy.predict(ClassCondition.request(1)).getOutput();
        ArrayExample<TokenGrid> other = ClassCondition.request(1);
        other.setMetadataValue(NppModel.DEFAULT_SEED_KEY, 17L);
        assertEquals(a, greedy.predict(other).getOutput(), "greedy decoding ignores the seed");
        greedy.close();
    }

    @Test
    void retrainingFromProvenanceGivesIdenticalWeights() {
        ModelProvenance p = model.getProvenance();
        ConfigurationManager cm = new ConfigurationManager();
        cm.addConfiguration(ProvenanceUtil.extractConfiguration(p));
        String name = cm.listAll(NppTrainer.class).get(0);
        @SuppressWarnings("unchecked")
        Trainer<TokenGrid> rebuilt = (Trainer<TokenGrid>) cm.lookup(name);
        int invocation = ((IntProvenance) p.getTrainerProvenance().getInstanceValues()
                .get(TrainerProvenance.TRAIN_INVOCATION_COUNT)).getValue();
        try (NppModel again = (NppModel) rebuilt.train(train, Map.of(), invocation)) {
            assertEquals(p.getTrainerProvenance(), again.getProvenance().getTrainerProvenance());
            for (Map.Entry<String, Tensor> e : model.getWeights().entrySet()) {
                assertTrue(e.getValue().contentEquals(again.getWeights().get(e.getKey())), "bit-identical " + e.getKey());
            }
        }
        // The next invocation draws another run seed: different weights.
        try (NppModel next = (NppModel) rebuilt.train(train, Collections.emptyMap())) {
            assertNotEquals(model.getSeed(), next.getSeed());
        }
    }

    @Test
    void clearErrorsForMissingOrUnknownClasses() {
        ArrayExample<TokenGrid> none = new ArrayExample<>(TokenGrid.UNKNOWN);
        none.add("colour", 1.0);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> model.predict(none));
        assertTrue(e.getMessage().contains("no class feature"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> model.predict(ClassCondition.request(3)));
        assertEquals("unknown class 3: the model knows classes 0..2", e.getMessage());

        MutableDataset<TokenGrid> bad = NppModelTest.data(0, 1);
        ArrayExample<TokenGrid> ex = new ArrayExample<>(TokenGrid.of(new int[16]));
        ex.add("colour", 2.0);
        bad.add(ex);
        e = assertThrows(IllegalArgumentException.class, () -> trainer.train(bad));
        assertTrue(e.getMessage().startsWith("example 0: example has no class feature"), e.getMessage());
    }
}
