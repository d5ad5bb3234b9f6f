// Train, generate with, evaluate, save and reproduce an NPP model through the Tribuo API, and export
// its ONNX graph folder (with manifest.json) for OnnxDeploymentExample.
// A complete program: a project that depends on org.nextpatch:npp-plugin compiles and runs it (the
// consumer test in integration-tests does exactly that). From a clone, after `./npp --help` built the jar:
//   java -cp "npp-plugin/target/npp-plugin.jar:npp-plugin/target/lib/*" docs/examples/TribuoExample.java [ONNX_DIR]
import com.oracle.labs.mlrg.olcut.config.ConfigurationManager;
import com.oracle.labs.mlrg.olcut.provenance.ProvenanceUtil;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.tribuo.ClassCondition;
import org.nextpatch.tribuo.NppModel;
import org.nextpatch.tribuo.NppTrainer;
import org.nextpatch.tribuo.TokenGrid;
import org.nextpatch.tribuo.TokenGridEvaluation;
import org.nextpatch.tribuo.TokenGridEvaluator;
import org.nextpatch.tribuo.TokenGridFactory;
import org.tribuo.Model;
import org.tribuo.MutableDataset;
import org.tribuo.Trainer;
import org.tribuo.provenance.SimpleDataSourceProvenance;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

public class TribuoExample {
    public static void main(String[] args) throws Exception {
        System.setProperty("ai.djl.offline", "true");

        // 1. Data: token grids (outputs) with the class as a feature class@K = 1 (Tribuo's columnar naming).
        //    Here 4x4 grids over 16 tokens whose layout depends on the class; real data comes from
        //    a code directory (see CodeDirectorySource) or any Tribuo DataSource.
        TokenGridFactory factory = new TokenGridFactory();
        MutableDataset<TokenGrid> data = new MutableDataset<>(new SimpleDataSourceProvenance("toy grids", factory), factory);
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < 48; i++) {
            int k = i % 3;
            int[] t = new int[16];
            for (int j = 0; j < 16; j++) {
                t[j] = r.nextDouble() < 0.2 ? r.nextInt(16) : (5 * k + j % 4) % 16;
            }
            data.add(ClassCondition.example(TokenGrid.of(t), k));
        }

        // 2. A trainer: a tiny custom size with NPP (patch level 2 = patches of 2x2 tokens first,
        //    then single tokens) and the per-stage learning-rate cycle. Every setting is a @Config
        //    field, so the same trainer can come from an XML or JSON configuration file.
        NppTrainer trainer = NppTrainer.customSize(32, 1, 2)
                .setMultipleOf(32).setEpochs(6).setPatchLevel(2).setEpochRate(0.5).setScheduler(true)
                .setLr(3e-3).setGlobalBatchSize(8).setAllDropouts(0.0);
        NppModel model = trainer.train(data);
        System.out.println("Trained: " + model);

        // 3. Generate: one grid per request; the request's class is its class@K feature. A new model
        //    guides with scale 2.0 (NppModel.defaultSampling(), upstream's FID setting); set it explicitly:
        model.setSamplingSettings(new SamplingSettings(2.0, -1, 1.0, 0, 1.0, false)); // CFG 2, temperature 1
        for (int k = 0; k < 3; k++) {
            TokenGrid g = model.predict(ClassCondition.request(k)).getOutput();
            System.out.println("class " + k + ": " + g.getSerializableForm(true));
        }

        // 4. Evaluate teacher-forced: NLL, bits per token, next-token accuracy, per class.
        TokenGridEvaluation ev = new TokenGridEvaluator().evaluateTeacherForced(model, data);
        System.out.println(ev);

        // 5. Save and load (Tribuo protobuf model file), print the provenance.
        Path file = Files.createTempFile("npp", ".model");
        model.serializeToFile(file);
        NppModel loaded = (NppModel) Model.deserializeFromFile(file);
        System.out.println(ProvenanceUtil.formattedProvenanceString(loaded.getProvenance()));

        // 6. Rebuild the trainer from the model's provenance and retrain: identical weights on CPU.
        ConfigurationManager cm = new ConfigurationManager();
        cm.addConfiguration(ProvenanceUtil.extractConfiguration(loaded.getProvenance()));
        @SuppressWarnings("unchecked")
        Trainer<TokenGrid> again = (Trainer<TokenGrid>) cm.lookup(cm.listAll(NppTrainer.class).get(0));
        NppModel retrained = (NppModel) again.train(data, java.util.Map.of(), 0);
        boolean same = model.getWeights().entrySet().stream()
                .allMatch(e -> e.getValue().contentEquals(retrained.getWeights().get(e.getKey())));
        System.out.println("Retrained from provenance, identical weights: " + same);
        if (!same) {
            throw new IllegalStateException("retraining from provenance gave other weights");
        }

        // 7. The ONNX graph folder (graphs + manifest.json) that OnnxSampler.open and
        //    `npp sample --engine onnx --onnx-dir` take; OnnxDeploymentExample samples it without DJL.
        Path onnxDir = args.length > 0 ? Path.of(args[0]) : Files.createTempDirectory("npp-onnx");
        System.out.println("ONNX folder: " + model.exportOnnxGraphs(onnxDir, false));
        model.close();
        loaded.close();
        retrained.close();
        Files.delete(file);
    }
}
