package org.nextpatch.tribuo;

import org.tribuo.Example;
import org.tribuo.Model;
import org.tribuo.Prediction;
import org.tribuo.evaluation.metrics.EvaluationMetric;
import org.tribuo.evaluation.metrics.MetricContext;
import org.tribuo.evaluation.metrics.MetricTarget;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * A teacher-forced metric of token grids: negative log-likelihood per token (nats), bits per token,
 * or next-token accuracy; over all tokens (micro), averaged over classes (macro), or for one class.
 * <p>
 * Per-class metrics use the micro target and put the class in the name ({@code nll[class=3]}),
 * because the class is a feature, not an output Tribuo could target.
 */
public final class TokenGridMetric implements EvaluationMetric<TokenGrid, TokenGridMetric.Context> {

    /** The quantity a metric computes. */
    public enum Kind {
        /** Mean negative log-likelihood per token, natural log. */
        NLL("nll"),
        /** Mean negative log-likelihood per token in bits: {@code nll / ln 2}. */
        BITS_PER_TOKEN("bits-per-token"),
        /** Share of tokens whose most likely teacher-forced prediction is the true token. */
        ACCURACY("next-token-accuracy");

        private final String metricName;

        Kind(String metricName) {
            this.metricName = metricName;
        }

        /** The metric's name in evaluation maps. */
        public String metricName() {
            return metricName;
        }
    }

    private final Kind kind;
    private final MetricTarget<TokenGrid> target;
    private final int classIndex;

    private TokenGridMetric(Kind kind, MetricTarget<TokenGrid> target, int classIndex) {
        this.kind = kind;
        this.target = target;
        this.classIndex = classIndex;
    }

    /** The metric over all tokens. */
    public static TokenGridMetric micro(Kind kind) {
        return new TokenGridMetric(kind, MetricTarget.microAverageTarget(), -1);
    }

    /** The metric averaged over the classes present. */
    public static TokenGridMetric macro(Kind kind) {
        return new TokenGridMetric(kind, MetricTarget.macroAverageTarget(), -1);
    }

    /** The metric over the tokens of one class. */
    public static TokenGridMetric forClass(Kind kind, int classIndex) {
        return new TokenGridMetric(kind, MetricTarget.microAverageTarget(), classIndex);
    }

    /** The metric name of a kind for one class. */
    public static String classMetricName(Kind kind, int classIndex) {
        return kind.metricName() + "[class=" + classIndex + "]";
    }

    @Override
    public double compute(Context ctx) {
        if (classIndex >= 0) {
            return value(kind, ctx.perClass().get(classIndex));
        }
        if (target.getAverageTarget().orElseThrow() == Average.MICRO) {
            return value(kind, ctx.total());
        }
        double sum = 0;
        for (Totals t : ctx.perClass().values()) {
            sum += value(kind, t);
        }
        return ctx.perClass().isEmpty() ? Double.NaN : sum / ctx.perClass().size();
    }

    private static double value(Kind kind, Totals t) {
        if (t == null || t.tokens == 0) {
            return Double.NaN;
        }
        switch (kind) {
            case NLL:
                return t.nll / t.tokens;
            case BITS_PER_TOKEN:
                return t.nll / t.tokens / Math.log(2);
            case ACCURACY:
                return (double) t.correct / t.tokens;
            default:
                throw new IllegalStateException(kind.toString());
        }
    }

    @Override
    public MetricTarget<TokenGrid> getTarget() {
        return target;
    }

    @Override
    public String getName() {
        return classIndex >= 0 ? classMetricName(kind, classIndex) : kind.metricName();
    }

    @Override
    public Context createContext(Model<TokenGrid> model, List<Prediction<TokenGrid>> predictions) {
        return new Context(model, predictions);
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof TokenGridMetric)) {
            return false;
        }
        TokenGridMetric m = (TokenGridMetric) o;
        return kind == m.kind && target.equals(m.target) && classIndex == m.classIndex;
    }

    @Override
    public int hashCode() {
        return Objects.hash(kind, target, classIndex);
    }

    @Override
    public String toString() {
        return "TokenGridMetric(" + getName() + ", " + target + ")";
    }

    /** Summed teacher-forced statistics. */
    public static final class Totals {
        double nll;
        long correct;
        long tokens;
        long grids;

        void add(TeacherForcedScorer.Score s) {
            nll += s.nll();
            correct += s.correct();
            tokens += s.tokens();
            grids++;
        }

        /** Summed negative log-likelihood in nats. */
        public double nll() {
            return nll;
        }

        /** Tokens predicted correctly. */
        public long correct() {
            return correct;
        }

        /** Tokens scored. */
        public long tokens() {
            return tokens;
        }

        /** Grids scored. */
        public long grids() {
            return grids;
        }
    }

    /**
     * The sufficient statistics: the ground-truth grid of every prediction's example, scored
     * teacher-forced by the model, summed overall and per class.
     */
    public static final class Context extends MetricContext<TokenGrid> {
        private final Totals total = new Totals();
        private final Map<Integer, Totals> perClass = new TreeMap<>();

        Context(Model<TokenGrid> model, List<Prediction<TokenGrid>> predictions) {
            super(model, predictions);
            if (!(model instanceof TeacherForcedScorer)) {
                throw new IllegalArgumentException("TokenGridEvaluator needs a model that scores token grids "
                        + "teacher-forced (an NppModel), got " + model.getClass().getName());
            }
            if (predictions.isEmpty()) {
                // Every metric would be 0/0: an error says so instead of a NaN that looks like a result.
                throw new IllegalArgumentException("cannot evaluate an empty dataset: no examples to score");
            }
            List<Example<TokenGrid>> examples = new ArrayList<>(predictions.size());
            for (int i = 0; i < predictions.size(); i++) {
                Example<TokenGrid> ex = predictions.get(i).getExample();
                if (ex.getOutput().isUnknown()) {
                    throw new IllegalArgumentException("example " + i + " has no ground-truth token grid to score");
                }
                examples.add(ex);
            }
            List<TeacherForcedScorer.Score> scores = ((TeacherForcedScorer) model).scoreTeacherForced(examples);
            for (TeacherForcedScorer.Score s : scores) {
                total.add(s);
                perClass.computeIfAbsent(s.classIndex(), k -> new Totals()).add(s);
            }
        }

        /** Statistics over every token. */
        public Totals total() {
            return total;
        }

        /** Statistics per class index, in class order. */
        public Map<Integer, Totals> perClass() {
            return Collections.unmodifiableMap(perClass);
        }
    }
}
