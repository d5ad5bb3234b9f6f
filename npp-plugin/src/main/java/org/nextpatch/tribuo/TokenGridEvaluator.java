package org.nextpatch.tribuo;

import org.tribuo.Dataset;
import org.tribuo.Example;
import org.tribuo.Model;
import org.tribuo.Prediction;
import org.tribuo.evaluation.AbstractEvaluator;
import org.tribuo.evaluation.metrics.MetricID;
import org.tribuo.provenance.EvaluationProvenance;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Evaluates a token-grid model teacher-forced, in the style of Tribuo's {@code LabelEvaluator}.
 * <p>
 * The statistics come from each prediction's example: its ground-truth grid is scored by the model
 * ({@link TeacherForcedScorer}), so the predicted grids themselves do not enter the metrics.
 * {@link #evaluate(Model, Dataset)} (Tribuo's usual entry point) first generates a grid per
 * example, which is costly and not needed; {@link #evaluateTeacherForced} skips the generation.
 */
public final class TokenGridEvaluator
        extends AbstractEvaluator<TokenGrid, TokenGridMetric.Context, TokenGridEvaluation, TokenGridMetric> {

    /**
     * Evaluates without generating: each example becomes a prediction of its own ground-truth grid.
     *
     * @param model   a model that scores grids teacher-forced (an {@code NppModel})
     * @param dataset examples with known grids and a class feature
     */
    public TokenGridEvaluation evaluateTeacherForced(Model<TokenGrid> model, Dataset<TokenGrid> dataset) {
        List<Prediction<TokenGrid>> predictions = new ArrayList<>(dataset.size());
        for (Example<TokenGrid> ex : dataset) {
            predictions.add(new Prediction<>(ex.getOutput(), ex.size(), ex));
        }
        return evaluate(model, predictions, dataset.getProvenance());
    }

    @Override
    protected Set<TokenGridMetric> createMetrics(Model<TokenGrid> model) {
        // The classes are only known from the data, so per-class metrics are added in computeResults.
        Set<TokenGridMetric> metrics = new HashSet<>();
        for (TokenGridMetric.Kind kind : TokenGridMetric.Kind.values()) {
            metrics.add(TokenGridMetric.micro(kind));
            metrics.add(TokenGridMetric.macro(kind));
        }
        return metrics;
    }

    @Override
    protected Map<MetricID<TokenGrid>, Double> computeResults(TokenGridMetric.Context ctx,
                                                            Set<? extends org.tribuo.evaluation.metrics.EvaluationMetric<TokenGrid, TokenGridMetric.Context>> metrics) {
        Set<TokenGridMetric> all = new HashSet<>();
        for (var m : metrics) {
            all.add((TokenGridMetric) m);
        }
        for (int k : ctx.perClass().keySet()) {
            for (TokenGridMetric.Kind kind : TokenGridMetric.Kind.values()) {
                all.add(TokenGridMetric.forClass(kind, k));
            }
        }
        return super.computeResults(ctx, all);
    }

    @Override
    protected TokenGridMetric.Context createContext(Model<TokenGrid> model, List<Prediction<TokenGrid>> predictions) {
        return new TokenGridMetric.Context(model, predictions);
    }

    @Override
    protected TokenGridEvaluation createEvaluation(TokenGridMetric.Context context,
                                                   Map<MetricID<TokenGrid>, Double> results,
                                                   EvaluationProvenance provenance) {
        return new TokenGridEvaluationImpl(results, context, provenance);
    }
}
