package org.nextpatch.tribuo;

import org.junit.jupiter.api.Test;
import org.tribuo.Example;
import org.tribuo.ImmutableFeatureMap;
import org.tribuo.Model;
import org.tribuo.MutableDataset;
import org.tribuo.Prediction;
import org.tribuo.Excuse;
import org.tribuo.provenance.ModelProvenance;
import org.tribuo.provenance.SimpleDataSourceProvenance;
import org.tribuo.provenance.impl.EmptyTrainerProvenance;
import org.tribuo.provenance.DatasetProvenance;
import com.oracle.labs.mlrg.olcut.util.Pair;

import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The evaluator's arithmetic against an independent computation: a test model with a known
 * per-class token distribution (a unigram model, no dependence on earlier tokens), so the
 * teacher-forced NLL and accuracy can be summed by hand. Tolerance 1e-12 (double sums).
 */
class TokenGridEvaluatorTest {

    /** p(token | class), vocabulary 3. */
    private static final double[][] P = {{0.5, 0.3, 0.2}, {0.1, 0.1, 0.8}};

    @Test
    void teacherForcedMetricsOverallAndPerClass() {
        MutableDataset<TokenGrid> ds = new MutableDataset<>(new SimpleDataSourceProvenance("eval", new TokenGridFactory()),
                new TokenGridFactory());
        int[][] grids = {{0, 1, 2, 0}, {0, 0, 0, 2}, {2, 2, 1, 0}};
        int[] classes = {0, 0, 1};
        for (int i = 0; i < grids.length; i++) {
            ds.add(ClassCondition.example(TokenGrid.of(grids[i]), classes[i]));
        }
        UnigramModel model = new UnigramModel(ds);

        // Independent sums.
        double[] nll = new double[2];
        long[] correct = new long[2];
        long[] n = new long[2];
        for (int i = 0; i < grids.length; i++) {
            int k = classes[i];
            for (int t : grids[i]) {
                nll[k] -= Math.log(P[k][t]);
                correct[k] += t == argmax(P[k]) ? 1 : 0;
                n[k]++;
            }
        }
        TokenGridEvaluation ev = new TokenGridEvaluator().evaluateTeacherForced(model, ds);
        double tol = 1e-12;
        assertEquals((nll[0] + nll[1]) / 12, ev.nll(), tol);
        assertEquals((nll[0] + nll[1]) / 12 / Math.log(2), ev.bitsPerToken(), tol);
        assertEquals((correct[0] + correct[1]) / 12.0, ev.accuracy(), tol);
        assertEquals(nll[0] / n[0], ev.nll(0), tol);
        assertEquals(nll[1] / n[1], ev.nll(1), tol);
        assertEquals(nll[1] / n[1] / Math.log(2), ev.bitsPerToken(1), tol);
        assertEquals((double) correct[0] / n[0], ev.accuracy(0), tol);
        assertEquals((double) correct[1] / n[1], ev.accuracy(1), tol);
        assertEquals((nll[0] / n[0] + nll[1] / n[1]) / 2, ev.macroAveragedNll(), tol);
        assertEquals(12, ev.tokenCount());
        assertEquals(8, ev.tokenCount(0));
        assertEquals(List.of(0, 1), new ArrayList<>(ev.classes()));
        assertTrue(ev.toString().contains("Total"), ev.toString());
        assertThrows(IllegalArgumentException.class, () -> ev.nll(5));

        // Tribuo's usual entry point (through predict) gives the same teacher-forced numbers.
        TokenGridEvaluation viaPredict = new TokenGridFactory().getEvaluator().evaluate(model, ds);
        assertEquals(ev.asMap(), viaPredict.asMap());
    }

    @Test
    void emptyDatasetIsAnErrorNotNaN() {
        MutableDataset<TokenGrid> ds = new MutableDataset<>(new SimpleDataSourceProvenance("eval", new TokenGridFactory()),
                new TokenGridFactory());
        ds.add(ClassCondition.example(TokenGrid.of(new int[] {0, 1, 2, 0}), 0));
        UnigramModel model = new UnigramModel(ds);
        MutableDataset<TokenGrid> empty = new MutableDataset<>(new SimpleDataSourceProvenance("empty", new TokenGridFactory()),
                new TokenGridFactory());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new TokenGridEvaluator().evaluateTeacherForced(model, empty));
        assertTrue(e.getMessage().contains("empty dataset"), e.getMessage());
    }

    private static int argmax(double[] p) {
        int best = 0;
        for (int i = 1; i < p.length; i++) {
            if (p[i] > p[best]) {
                best = i;
            }
        }
        return best;
    }

    /** A test model with a fixed token distribution per class. */
    static final class UnigramModel extends Model<TokenGrid> implements TeacherForcedScorer {
        private static final long serialVersionUID = 1L;

        UnigramModel(MutableDataset<TokenGrid> ds) {
            super("unigram", new ModelProvenance(UnigramModel.class.getName(), OffsetDateTime.now(),
                            (DatasetProvenance) ds.getProvenance(), new EmptyTrainerProvenance()),
                    new ImmutableFeatureMap(ds.getFeatureMap()), ds.getOutputIDInfo(), false);
        }

        private UnigramModel(UnigramModel m, ModelProvenance p) {
            super(m.name, p, m.featureIDMap, m.outputIDInfo, false);
        }

        @Override
        public List<Score> scoreTeacherForced(List<? extends Example<TokenGrid>> examples) {
            List<Score> out = new ArrayList<>();
            for (Example<TokenGrid> ex : examples) {
                int k = ClassCondition.classOf(ex, "class", P.length);
                double nll = 0;
                long correct = 0;
                for (int t : ex.getOutput().tokens()) {
                    nll -= Math.log(P[k][t]);
                    correct += t == argmax(P[k]) ? 1 : 0;
                }
                out.add(new Score(k, nll, correct, ex.getOutput().size()));
            }
            return out;
        }

        @Override
        public Prediction<TokenGrid> predict(Example<TokenGrid> example) {
            int k = ClassCondition.classOf(example, "class", P.length);
            int[] t = new int[4];
            java.util.Arrays.fill(t, argmax(P[k]));
            return new Prediction<>(new TokenGrid(2, t, 4 * Math.log(P[k][t[0]])), example.size(), example);
        }

        @Override
        public Map<String, List<Pair<String, Double>>> getTopFeatures(int n) {
            return Collections.emptyMap();
        }

        @Override
        public Optional<Excuse<TokenGrid>> getExcuse(Example<TokenGrid> example) {
            return Optional.empty();
        }

        @Override
        protected UnigramModel copy(String newName, ModelProvenance newProvenance) {
            return new UnigramModel(this, newProvenance);
        }
    }
}
