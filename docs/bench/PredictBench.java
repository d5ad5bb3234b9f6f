// NppModel.predict at batch 1 and 32 (median of 3 after a warm-up) for the shape of gpt-small.json,
// trained for one epoch on random grids (the weights do not change the cost). Run by threads.sh:
//   java -cp "npp-plugin/target/npp-plugin.jar:npp-plugin/target/lib/*" docs/bench/PredictBench.java
import org.nextpatch.tribuo.*;
import org.tribuo.*;
import org.tribuo.impl.ArrayExample;
import org.tribuo.provenance.SimpleDataSourceProvenance;
import java.util.*;

public class PredictBench {
    public static void main(String[] a) throws Exception {
        System.setProperty("ai.djl.offline", "true");
        TokenGridFactory f = new TokenGridFactory();
        MutableDataset<TokenGrid> data = new MutableDataset<>(new SimpleDataSourceProvenance("toy", f), f);
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < 32; i++) {
            int[] t = new int[64];
            for (int j = 0; j < 64; j++) t[j] = r.nextInt(1024);
            data.add(ClassCondition.example(TokenGrid.of(t), i % 10));
        }
        // gpt-small.json's shape: d 256, 4 layers, 4 heads, vocabulary 1024, 10 classes, 8x8 tokens
        NppTrainer tr = NppTrainer.customSize(256, 4, 4).setVocabSize(1024).setNumClasses(10).setEpochs(1)
                .setGlobalBatchSize(32).setAllDropouts(0.0);
        try (NppModel m = tr.train(data)) {
            m.setBatchSize(32);
            for (int b : new int[]{1, 32}) {
                List<Example<TokenGrid>> req = new ArrayList<>();
                for (int i = 0; i < b; i++) {
                    ArrayExample<TokenGrid> e = ClassCondition.request(i % 10);
                    e.setMetadataValue(NppModel.DEFAULT_SEED_KEY, (long) i);
                    req.add(e);
                }
                m.predict(req); // warm-up
                double[] s = new double[3];
                for (int k = 0; k < 3; k++) {
                    long t0 = System.nanoTime();
                    m.predict(req);
                    s[k] = (System.nanoTime() - t0) / 1e9;
                }
                Arrays.sort(s);
                System.out.printf(Locale.ROOT, "predict batch %d: median %.3f s per batch, %.2f images/s%n", b, s[1], b / s[1]);
            }
        }
    }
}
