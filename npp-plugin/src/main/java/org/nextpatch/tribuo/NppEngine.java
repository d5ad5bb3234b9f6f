package org.nextpatch.tribuo;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.nextpatch.model.Autograd;
import org.nextpatch.model.Gpt;

/**
 * The few engine calls the Tribuo model makes, over the project's DJL transformer: teacher-forced
 * scoring and generation through the project's sampler. Everything runs in a sub-manager of the
 * model's manager that is closed before returning, so no native memory outlives a call.
 */
final class NppEngine {

    private NppEngine() {
    }

    /**
     * Teacher-forced statistics of a batch.
     *
     * @param nll     summed negative log-likelihood per row (nats)
     * @param correct tokens per row whose argmax prediction equals the true token
     */
    record Scores(double[] nll, long[] correct) {
    }

    /**
     * Scores rows teacher-forced: plain next-token logits (patch side 1), eval mode, conditional
     * (no guidance, temperature 1).
     */
    static Scores score(Gpt gpt, long[][] tokens, int[] classes) {
        int b = tokens.length;
        int t = tokens[0].length;
        long[] flat = new long[b * t];
        long[] labels = new long[b];
        for (int i = 0; i < b; i++) {
            System.arraycopy(tokens[i], 0, flat, i * t, t);
            labels[i] = classes[i];
        }
        try (Autograd.Scope noGrad = Autograd.noGrad(); NDManager sub = gpt.manager().newSubManager()) {
            NDArray tok = sub.create(flat, new Shape(b, t));
            NDArray lab = sub.create(labels, new Shape(b));
            NDArray logits = gpt.logits(tok, lab, 1, false);              // [B, T, V] float32
            NDArray logp = logits.logSoftmax(-1);
            float[] picked = logp.gather(tok.expandDims(-1), -1).squeeze(-1).toFloatArray();
            long[] hits = logits.argMax(-1).toType(DataType.INT64, false).eq(tok)
                    .toType(DataType.INT64, false).sum(new int[]{1}).toLongArray();
            double[] nll = new double[b];
            for (int i = 0; i < b; i++) {
                double s = 0;
                for (int j = 0; j < t; j++) {
                    s -= picked[i * t + j];
                }
                nll[i] = s;
            }
            return new Scores(nll, hits);
        }
    }

    /** Log-likelihood per row under the conditional model (the score of generated grids). */
    static double[] logLikelihood(Gpt gpt, long[][] tokens, int[] classes) {
        double[] nll = score(gpt, tokens, classes).nll();
        double[] ll = new double[nll.length];
        for (int i = 0; i < ll.length; i++) {
            ll[i] = -nll[i];
        }
        return ll;
    }
}
