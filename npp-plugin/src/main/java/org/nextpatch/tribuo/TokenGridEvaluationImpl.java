package org.nextpatch.tribuo;

import org.tribuo.Prediction;
import org.tribuo.evaluation.metrics.MetricID;
import org.tribuo.evaluation.metrics.MetricTarget;
import org.tribuo.provenance.EvaluationProvenance;

import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/** The {@link TokenGridEvaluation} made by {@link TokenGridEvaluator}. */
final class TokenGridEvaluationImpl implements TokenGridEvaluation {

    private final Map<MetricID<TokenGrid>, Double> results;
    private final TokenGridMetric.Context context;
    private final EvaluationProvenance provenance;

    TokenGridEvaluationImpl(Map<MetricID<TokenGrid>, Double> results, TokenGridMetric.Context context,
                            EvaluationProvenance provenance) {
        this.results = Collections.unmodifiableMap(results);
        this.context = context;
        this.provenance = provenance;
    }

    private double micro(TokenGridMetric.Kind kind) {
        return get(new MetricID<>(MetricTarget.<TokenGrid>microAverageTarget(), kind.metricName()));
    }

    private double macro(TokenGridMetric.Kind kind) {
        return get(new MetricID<>(MetricTarget.<TokenGrid>macroAverageTarget(), kind.metricName()));
    }

    private double perClass(TokenGridMetric.Kind kind, int classIndex) {
        MetricID<TokenGrid> id = new MetricID<>(MetricTarget.<TokenGrid>microAverageTarget(),
                TokenGridMetric.classMetricName(kind, classIndex));
        Double v = results.get(id);
        if (v == null) {
            throw new IllegalArgumentException("class " + classIndex + " did not occur in the evaluated data");
        }
        return v;
    }

    @Override
    public double nll() {
        return micro(TokenGridMetric.Kind.NLL);
    }

    @Override
    public double nll(int classIndex) {
        return perClass(TokenGridMetric.Kind.NLL, classIndex);
    }

    @Override
    public double bitsPerToken() {
        return micro(TokenGridMetric.Kind.BITS_PER_TOKEN);
    }

    @Override
    public double bitsPerToken(int classIndex) {
        return perClass(TokenGridMetric.Kind.BITS_PER_TOKEN, classIndex);
    }

    @Override
    public double accuracy() {
        return micro(TokenGridMetric.Kind.ACCURACY);
    }

    @Override
    public double accuracy(int classIndex) {
        return perClass(TokenGridMetric.Kind.ACCURACY, classIndex);
    }

    @Override
    public double macroAveragedNll() {
        return macro(TokenGridMetric.Kind.NLL);
    }

    @Override
    public double macroAveragedAccuracy() {
        return macro(TokenGridMetric.Kind.ACCURACY);
    }

    @Override
    public long tokenCount() {
        return context.total().tokens();
    }

    @Override
    public long tokenCount(int classIndex) {
        TokenGridMetric.Totals t = context.perClass().get(classIndex);
        return t == null ? 0 : t.tokens();
    }

    @Override
    public Set<Integer> classes() {
        return Collections.unmodifiableSet(new TreeSet<>(context.perClass().keySet()));
    }

    @Override
    public Map<MetricID<TokenGrid>, Double> asMap() {
        return results;
    }

    @Override
    public List<Prediction<TokenGrid>> getPredictions() {
        return context.getPredictions();
    }

    @Override
    public EvaluationProvenance getProvenance() {
        return provenance;
    }

    /** A table like LabelEvaluation's: one row per class, then the overall and macro rows. */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-10s%10s%12s%12s%16s%n", "Class", "grids", "nll", "bits/tok",
                "next-tok acc"));
        for (Map.Entry<Integer, TokenGridMetric.Totals> e : context.perClass().entrySet()) {
            int k = e.getKey();
            sb.append(String.format(Locale.ROOT, "%-10d%10d%12.4f%12.4f%16.4f%n", k, e.getValue().grids(),
                    nll(k), bitsPerToken(k), accuracy(k)));
        }
        sb.append(String.format(Locale.ROOT, "%-10s%10d%12.4f%12.4f%16.4f%n", "Total", context.total().grids(),
                nll(), bitsPerToken(), accuracy()));
        sb.append(String.format(Locale.ROOT, "%-10s%10s%12.4f%12.4f%16.4f%n", "Macro", "",
                macroAveragedNll(), macro(TokenGridMetric.Kind.BITS_PER_TOKEN), macroAveragedAccuracy()));
        sb.append(String.format(Locale.ROOT, "Tokens scored: %d (teacher-forced)%n", tokenCount()));
        return sb.toString();
    }
}
