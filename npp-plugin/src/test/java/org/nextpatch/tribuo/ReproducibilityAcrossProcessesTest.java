package org.nextpatch.tribuo;

import com.oracle.labs.mlrg.olcut.config.ConfigurationManager;
import com.oracle.labs.mlrg.olcut.provenance.ProvenanceUtil;
import com.oracle.labs.mlrg.olcut.provenance.primitives.IntProvenance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.tensor.Tensor;
import org.tribuo.Model;
import org.tribuo.Trainer;
import org.tribuo.provenance.TrainerProvenance;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The realistic reproduction: a model file is saved, and another JVM loads it, rebuilds the trainer
 * from the provenance alone and retrains on the same data; the weights must be bit-identical (CPU, the
 * same libtorch thread count, which the child checks against the provenance).
 */
class ReproducibilityAcrossProcessesTest {

    @Test
    void anotherProcessRetrainsIdenticalWeightsFromTheModelFile(@TempDir Path dir) throws Exception {
        NppTrainer trainer = (NppTrainer) new ConfigurationManager(NppTrainerConfigTest.XML).lookup("npp-trainer");
        trainer.train(NppTribuoTest.data(24, 11)).close();   // invocation 0; the saved model is invocation 1
        Path file = dir.resolve("m.tribuo");
        try (NppModel m = trainer.train(NppTribuoTest.data(24, 11))) {
            m.serializeToFile(file);
        }
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "-Dai.djl.offline=true",
                Child.class.getName(), file.toString()));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("OPT_OUT_TRACKING", "true");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "child timed out");
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("IDENTICAL 1"), out);
        assertTrue(out.contains("THREADS same"), "the child runs at the recorded thread count: " + out);
    }

    /** The other process: load, rebuild from provenance, retrain, compare. */
    public static final class Child {
        public static void main(String[] args) throws Exception {
            NppModel saved = (NppModel) Model.deserializeFromFile(Path.of(args[0]));
            // bit-identical only at the recorded thread count: say so when this process differs
            System.out.println("THREADS " + RecordedThreads.check(saved.getProvenance(), "the model was trained").orElse("same"));
            ConfigurationManager cm = new ConfigurationManager();
            cm.addConfiguration(ProvenanceUtil.extractConfiguration(saved.getProvenance()));
            @SuppressWarnings("unchecked")
            Trainer<TokenGrid> t = (Trainer<TokenGrid>) cm.lookup(cm.listAll(NppTrainer.class).get(0));
            int n = ((IntProvenance) saved.getProvenance().getTrainerProvenance().getInstanceValues()
                    .get(TrainerProvenance.TRAIN_INVOCATION_COUNT)).getValue();
            try (NppModel again = (NppModel) t.train(NppTribuoTest.data(24, 11), Map.of(), n)) {
                for (Map.Entry<String, Tensor> e : saved.getWeights().entrySet()) {
                    if (!e.getValue().contentEquals(again.getWeights().get(e.getKey()))) {
                        System.out.println("DIFFERENT " + e.getKey());
                        System.exit(3);
                    }
                }
            }
            System.out.println("IDENTICAL " + n);
            System.exit(0);
        }
    }
}
