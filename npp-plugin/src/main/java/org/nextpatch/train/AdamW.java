package org.nextpatch.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import org.nextpatch.io.PickleTuple;
import org.nextpatch.model.Autograd;
import org.nextpatch.model.NdTensors;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AdamW exactly as {@code torch.optim.AdamW} (single-tensor path) with upstream LlamaGen's two
 * parameter groups: decoupled weight decay on parameters with two or more dimensions, none on the
 * rest (norm gains). DJL's own AdamW decays everything and cannot save its state, hence this class.
 * <p>
 * Per parameter {@code p} with gradient {@code g}, at step {@code t} (from 1):
 * <pre>
 * p *= 1 - lr * wd                       (decay group only)
 * m  = beta1 * m + (1 - beta1) * g
 * v  = beta2 * v + (1 - beta2) * g * g
 * p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * </pre>
 * The state (steps, first and second moments) exports to, and imports from, the layout of torch's
 * {@code optimizer.state_dict()}: {@code {state: {i: {step, exp_avg, exp_avg_sq}}, param_groups: [...]}},
 * where {@code i} numbers the decay group's parameters first, then the others, each in the model's
 * parameter order, as torch numbers the groups upstream creates.
 * <p>
 * {@link #step} turns grad mode off on the calling thread (call it outside any {@code GradientCollector})
 * and updates parameters in place; gradient handles are closed as they are used.
 */
public final class AdamW implements AutoCloseable {
    private final List<String> names = new ArrayList<>();
    private final List<NDArray> params = new ArrayList<>();
    private final boolean[] decay;
    private final NDArray[] expAvg;
    private final NDArray[] expAvgSq;
    private final NDManager manager;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private long step;

    /**
     * @param parameters  the trainable parameters by state-dict name, in the model's order
     * @param beta1       first-moment decay
     * @param beta2       second-moment decay
     * @param eps         denominator epsilon
     * @param weightDecay decoupled weight decay for parameters with 2+ dimensions
     */
    public AdamW(Map<String, NDArray> parameters, double beta1, double beta2, double eps, double weightDecay) {
        if (parameters.isEmpty()) {
            throw new IllegalArgumentException("no parameters to optimise");
        }
        // torch numbers the parameters group by group: decay group (>= 2-D) first, then the rest.
        for (boolean wantDecay : new boolean[]{true, false}) {
            for (Map.Entry<String, NDArray> e : parameters.entrySet()) {
                if ((e.getValue().getShape().dimension() >= 2) == wantDecay) {
                    names.add(e.getKey());
                    params.add(e.getValue());
                }
            }
        }
        int n = params.size();
        this.decay = new boolean[n];
        this.expAvg = new NDArray[n];
        this.expAvgSq = new NDArray[n];
        this.manager = params.get(0).getManager().newSubManager();
        for (int i = 0; i < n; i++) {
            NDArray p = params.get(i);
            decay[i] = p.getShape().dimension() >= 2;
            expAvg[i] = manager.zeros(p.getShape(), DataType.FLOAT32, p.getDevice());
            expAvgSq[i] = manager.zeros(p.getShape(), DataType.FLOAT32, p.getDevice());
        }
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
    }

    /** Optimizer steps taken so far (torch's {@code state[i]['step']}). */
    public long steps() {
        return step;
    }

    /** The parameters in torch's numbering (decay group first). */
    public List<String> parameterOrder() {
        return List.copyOf(names);
    }

    /**
     * One update of every parameter with its current gradient, at learning rate {@code lr}.
     * Gradients are left in place (zero them before the next accumulation).
     */
    public void step(double lr) {
        step++;
        double bc1 = 1 - Math.pow(beta1, step);
        double bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, step));
        float stepSize = (float) (lr / bc1);
        float decayFactor = (float) (1 - lr * weightDecay);
        // in-place updates of leaves that require gradients: only with grad mode off on this thread
        try (Autograd.Scope noGrad = Autograd.noGrad()) {
            update(stepSize, decayFactor, bc2Sqrt);
        }
    }

    private void update(float stepSize, float decayFactor, double bc2Sqrt) {
        for (int i = 0; i < params.size(); i++) {
            NDArray p = params.get(i);
            try (NDArray g = p.getGradient()) {
                if (decay[i] && weightDecay != 0) {
                    p.muli(decayFactor);
                }
                NDArray m = expAvg[i];
                NDArray v = expAvgSq[i];
                try (NDArray gm = g.mul((float) (1 - beta1)); NDArray gg = g.mul(g)) {
                    m.muli((float) beta1).addi(gm);
                    v.muli((float) beta2).addi(gg.muli((float) (1 - beta2)));
                }
                try (NDArray denom = v.sqrt()) {
                    denom.divi((float) bc2Sqrt).addi((float) eps);
                    try (NDArray upd = m.div(denom)) {
                        p.subi(upd.muli(stepSize));
                    }
                }
            }
        }
    }

    /**
     * The optimizer state in torch's {@code state_dict()} layout: {@code state} maps the parameter
     * index to {@code step} (a float32 scalar tensor, as torch keeps it), {@code exp_avg} and
     * {@code exp_avg_sq}; {@code param_groups} holds the two groups' settings and member indices.
     *
     * @param lr the learning rate to record in the groups (torch records the current one)
     */
    public Map<String, Object> stateDict(double lr) {
        Map<Object, Object> state = new LinkedHashMap<>();
        if (step > 0) {
            for (int i = 0; i < params.size(); i++) {
                Map<String, Object> s = new LinkedHashMap<>();
                s.put("step", Tensor.ofFloats(new long[0], new float[]{step}));
                s.put("exp_avg", NdTensors.fromNd(expAvg[i]));
                s.put("exp_avg_sq", NdTensors.fromNd(expAvgSq[i]));
                state.put((long) i, s);
            }
        }
        List<Object> groups = new ArrayList<>();
        List<Object> decayIdx = new ArrayList<>();
        List<Object> plainIdx = new ArrayList<>();
        for (int i = 0; i < params.size(); i++) {
            (decay[i] ? decayIdx : plainIdx).add((long) i);
        }
        groups.add(group(lr, weightDecay, decayIdx));
        groups.add(group(lr, 0.0, plainIdx));
        Map<String, Object> sd = new LinkedHashMap<>();
        sd.put("state", state);
        sd.put("param_groups", groups);
        return sd;
    }

    private Map<String, Object> group(double lr, double wd, List<Object> idx) {
        Map<String, Object> g = new LinkedHashMap<>();
        g.put("lr", lr);
        g.put("betas", PickleTuple.of(beta1, beta2));
        g.put("eps", eps);
        g.put("weight_decay", wd);
        g.put("amsgrad", false);
        g.put("foreach", null);
        g.put("maximize", false);
        g.put("capturable", false);
        g.put("differentiable", false);
        g.put("fused", null);
        g.put("params", idx);
        return g;
    }

    /**
     * Restores the state written by {@link #stateDict} or by torch for the same model: checks the
     * parameter count and shapes and takes the step count from the first entry.
     *
     * @param sd     the {@code optimizer} entry of a checkpoint
     * @param source the checkpoint's name, for messages
     */
    public void loadStateDict(Map<?, ?> sd, String source) {
        Object st = sd.get("state");
        Object groups = sd.get("param_groups");
        if (!(st instanceof Map<?, ?> state) || !(groups instanceof List<?> gl)) {
            throw new NppException(source + ": optimizer state lacks 'state' or 'param_groups'");
        }
        int count = 0;
        for (Object g : gl) {
            if (g instanceof Map<?, ?> gm && gm.get("params") instanceof List<?> pl) {
                count += pl.size();
            }
        }
        if (count != params.size()) {
            throw new NppException(source + ": optimizer state has " + count + " parameters, the model has " + params.size());
        }
        long loadedStep = 0;
        for (int i = 0; i < params.size(); i++) {
            Object e = state.get((long) i);
            if (e == null) {
                e = state.get(i);
            }
            if (e == null) {
                if (!state.isEmpty()) {
                    throw new NppException(source + ": optimizer state has no entry for parameter " + i + " (" + names.get(i) + ")");
                }
                continue;
            }
            if (!(e instanceof Map<?, ?> m)) {
                throw new NppException(source + ": optimizer state entry " + i + " is not a dict");
            }
            Tensor a = tensor(m.get("exp_avg"), source, i, "exp_avg");
            Tensor b = tensor(m.get("exp_avg_sq"), source, i, "exp_avg_sq");
            long[] want = params.get(i).getShape().getShape();
            if (!Arrays.equals(a.shape(), want) || !Arrays.equals(b.shape(), want)) {
                throw new NppException(source + ": optimizer state of " + names.get(i) + " has shape "
                        + Arrays.toString(a.shape()) + ", expected " + Arrays.toString(want));
            }
            Object s = m.get("step");
            long si = s instanceof Tensor t ? Math.round(t.toDoubleArray()[0]) : s instanceof Number num ? num.longValue() : -1;
            if (si < 0) {
                throw new NppException(source + ": optimizer state entry " + i + " has no step");
            }
            loadedStep = si;
            try (NDManager tmp = NDManager.newBaseManager(params.get(i).getDevice())) {
                NDArray na = NdTensors.toNd(tmp, a).toType(DataType.FLOAT32, false).toDevice(params.get(i).getDevice(), false);
                NDArray nb = NdTensors.toNd(tmp, b).toType(DataType.FLOAT32, false).toDevice(params.get(i).getDevice(), false);
                expAvg[i].set(na.toFloatArray());
                expAvgSq[i].set(nb.toFloatArray());
            }
        }
        step = loadedStep;
    }

    private static Tensor tensor(Object o, String source, int i, String key) {
        if (!(o instanceof Tensor t)) {
            throw new NppException(source + ": optimizer state entry " + i + " lacks tensor '" + key + "'");
        }
        return t;
    }

    /** Frees the moment buffers. */
    @Override
    public void close() {
        manager.close();
    }
}
