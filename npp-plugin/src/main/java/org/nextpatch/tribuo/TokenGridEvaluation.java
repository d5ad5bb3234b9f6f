package org.nextpatch.tribuo;

import org.tribuo.evaluation.Evaluation;

import java.util.Set;

/**
 * Teacher-forced evaluation of a token-grid model, in the style of Tribuo's {@code LabelEvaluation}:
 * negative log-likelihood per token (nats), bits per token and next-token accuracy, over all tokens
 * and per class.
 */
public interface TokenGridEvaluation extends Evaluation<TokenGrid> {

    /** Mean negative log-likelihood per token over all tokens, in nats. */
    double nll();

    /** Mean negative log-likelihood per token of one class's grids. */
    double nll(int classIndex);

    /** Mean bits per token over all tokens. */
    double bitsPerToken();

    /** Mean bits per token of one class's grids. */
    double bitsPerToken(int classIndex);

    /** Share of tokens whose argmax prediction is the true token. */
    double accuracy();

    /** Next-token accuracy for one class. */
    double accuracy(int classIndex);

    /** Mean negative log-likelihood per token, averaged over classes. */
    double macroAveragedNll();

    /** Next-token accuracy averaged over classes. */
    double macroAveragedAccuracy();

    /** Number of tokens scored. */
    long tokenCount();

    /** Number of tokens scored for one class (0 if the class did not occur). */
    long tokenCount(int classIndex);

    /** The classes that occurred, in order. */
    Set<Integer> classes();
}
