package org.nextpatch.tribuo;

import org.tribuo.Example;

import java.util.List;

/**
 * A model that scores ground-truth token grids teacher-forced: every token is predicted from the
 * true tokens before it and the example's class. {@link TokenGridEvaluator} needs one.
 */
public interface TeacherForcedScorer {

    /**
     * Scores each example's ground-truth grid.
     *
     * @param examples examples with a known {@link TokenGrid} output and a class feature
     * @return one score per example, in order
     */
    List<Score> scoreTeacherForced(List<? extends Example<TokenGrid>> examples);

    /**
     * The teacher-forced statistics of one grid.
     *
     * @param classIndex the example's class
     * @param nll        summed negative log-likelihood of the tokens, in nats
     * @param correct    tokens whose most likely prediction (argmax) was the true token
     * @param tokens     number of tokens scored
     */
    record Score(int classIndex, double nll, long correct, long tokens) {
    }
}
