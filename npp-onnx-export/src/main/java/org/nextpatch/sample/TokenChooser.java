package org.nextpatch.sample;

import java.util.Arrays;

/**
 * Chooses one token from a row of (guided) logits with a given uniform number: the engine-independent
 * draw of this project. Every step is float32 so the ONNX graph that mirrors it gets the same tokens.
 * <ol>
 *   <li>{@code x = logits / max(temperature, 1e-5)}.</li>
 *   <li>top-k (k &gt; 0, clamped to V): entries smaller than the k-th largest value become -inf (ties
 *       with it are kept).</li>
 *   <li>top-p (p &lt; 1): sort descending (stable: equal values keep index order), cumulative softmax
 *       in sorted order, remove the sorted entries whose cumulative probability exceeds p, shifted
 *       right by one so the first entry that crosses p is kept (entry 0 always kept).</li>
 *   <li>{@code p = softmax(x)} (max-subtracted, float32).</li>
 *   <li>token = the smallest index i whose float32 running sum p_0 + ... + p_i (index order)
 *       exceeds u; if none does (rounding), the largest index with p &gt; 0.</li>
 * </ol>
 * Greedy = the argmax of the logits (lowest index on ties). Upstream draws with
 * {@code torch.multinomial}, which depends on torch's generator; the inverse-CDF draw has the same
 * distribution and is reproducible across engines.
 * <p>
 * Not thread-safe (it keeps scratch arrays); use one per thread.
 */
public final class TokenChooser {
    private final SamplingSettings settings;
    private float[] x = new float[0];
    private float[] sorted = new float[0];
    private long[] keys = new long[0];

    public TokenChooser(SamplingSettings settings) {
        this.settings = settings;
    }

    /** The settings. */
    public SamplingSettings settings() {
        return settings;
    }

    /** Chooses a token from {@code logits[offset .. offset+vocab)} with uniform {@code u} in [0, 1). */
    public int choose(float[] logits, int offset, int vocab, float u) {
        if (settings.greedy()) {
            return argmax(logits, offset, vocab);
        }
        float[] p = probabilities(logits, offset, vocab);
        return inverseCdf(p, vocab, u);
    }

    /** Chooses a token from a whole row. */
    public int choose(float[] logits, float u) {
        return choose(logits, 0, logits.length, u);
    }

    /** Argmax with the lowest index on ties (NaN never wins). */
    public static int argmax(float[] logits, int offset, int vocab) {
        int best = 0;
        float bv = Float.NEGATIVE_INFINITY;
        boolean found = false;
        for (int i = 0; i < vocab; i++) {
            float v = logits[offset + i];
            if (!found ? v >= bv : v > bv) {
                best = i;
                bv = v;
                found = true;
            }
        }
        return best;
    }

    /**
     * The filtered, renormalised distribution (steps 1-4) as a new array of length {@code vocab}:
     * what a draw follows. Exposed for tests and for the ONNX parity checks.
     */
    public float[] probabilities(float[] logits, int offset, int vocab) {
        if (x.length != vocab) {
            x = new float[vocab];
        }
        float div = settings.temperatureDivisor();
        for (int i = 0; i < vocab; i++) {
            x[i] = logits[offset + i] / div;
        }
        int k = settings.topK();
        if (k > 0 && k < vocab) {
            float kth = kthLargest(x, k);
            for (int i = 0; i < vocab; i++) {
                if (x[i] < kth) {
                    x[i] = Float.NEGATIVE_INFINITY;
                }
            }
        }
        if (settings.topP() < 1.0) {
            topP(vocab, (float) settings.topP());
        }
        return softmax(x, vocab);
    }

    private float kthLargest(float[] v, int k) {
        if (sorted.length != v.length) {
            sorted = new float[v.length];
        }
        System.arraycopy(v, 0, sorted, 0, v.length);
        Arrays.sort(sorted);
        return sorted[v.length - k];
    }

    private void topP(int vocab, float topP) {
        if (keys.length < vocab) {
            keys = new long[vocab];
        }
        // Sort keys: high 32 bits order the values descending (an order-preserving int image of the
        // float, complemented), low 32 bits hold the index, so equal values keep ascending index order
        // (a stable descending sort). Entries already at -inf (top-k) have probability 0 and would sort
        // last: leaving them out changes nothing and makes the sort k long instead of V.
        int n = 0;
        for (int i = 0; i < vocab; i++) {
            float v = x[i];
            if (v == Float.NEGATIVE_INFINITY) {
                continue;
            }
            int bits = Float.floatToIntBits(v + 0.0f); // -0 + 0 = +0: equal logits tie, as in IEEE comparison
            bits ^= (bits >> 31) & 0x7fffffff;
            keys[n++] = ((long) ~bits << 32) | i;
        }
        if (n == 0) {
            return;
        }
        Arrays.sort(keys, 0, n);
        float[] sortedLogits = new float[n];
        for (int j = 0; j < n; j++) {
            sortedLogits[j] = x[(int) keys[j]];
        }
        float[] sp = softmax(sortedLogits, n);
        float cum = 0f;
        boolean prevExceeds = false;
        for (int j = 0; j < n; j++) {
            cum += sp[j];
            boolean exceeds = cum > topP;
            // Shifted right by one: entry j is removed when entry j-1's cumulative sum exceeded p.
            if (j > 0 && prevExceeds) {
                x[(int) keys[j]] = Float.NEGATIVE_INFINITY;
            }
            prevExceeds = exceeds;
        }
    }

    /** Max-subtracted float32 softmax of the first {@code n} entries (-inf entries get 0). */
    static float[] softmax(float[] v, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, v[i]);
        }
        float[] p = new float[n];
        float sum = 0f;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(v[i] - max);
            p[i] = e;
            sum += e;
        }
        for (int i = 0; i < n; i++) {
            p[i] = p[i] / sum;
        }
        return p;
    }

    /** Inverse CDF in index order with a float32 running sum. */
    static int inverseCdf(float[] p, int n, float u) {
        float cum = 0f;
        int lastPositive = 0;
        for (int i = 0; i < n; i++) {
            cum += p[i];
            if (p[i] > 0) {
                lastPositive = i;
            }
            if (cum > u) {
                return i;
            }
        }
        return lastPositive;
    }
}
