package org.nextpatch.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import org.nextpatch.model.Autograd;
import org.nextpatch.model.NdTensors;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Exponential moving average of the weights, as upstream LlamaGen's {@code update_ema}:
 * {@code ema = decay * ema + (1 - decay) * param} after every optimizer step, starting from a copy of
 * the initial weights. Saved in checkpoints under {@code ema}.
 */
public final class Ema implements AutoCloseable {
    private final Map<String, NDArray> params;
    private final Map<String, NDArray> shadow = new LinkedHashMap<>();
    private final NDManager manager;
    private final double decay;

    /**
     * @param params the live parameters by state-dict name
     * @param decay  the EMA decay (0.9999 upstream)
     */
    public Ema(Map<String, NDArray> params, double decay) {
        this.params = params;
        this.decay = decay;
        this.manager = params.values().iterator().next().getManager().newSubManager();
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            NDArray c = e.getValue().duplicate();
            c.attach(manager);
            shadow.put(e.getKey(), c);
        }
    }

    /** One EMA update from the current parameters (with grad mode off on the calling thread). */
    public void update() {
        float keep = (float) decay;
        float take = (float) (1 - decay);
        try (Autograd.Scope noGrad = Autograd.noGrad()) {
            for (Map.Entry<String, NDArray> e : params.entrySet()) {
                try (NDArray t = e.getValue().mul(take)) {
                    shadow.get(e.getKey()).muli(keep).addi(t);
                }
            }
        }
    }

    /** The averaged weights as a state dict (host copies). */
    public LinkedHashMap<String, Tensor> stateDict() {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        shadow.forEach((k, v) -> out.put(k, NdTensors.fromNd(v)));
        return out;
    }

    /** Restores averaged weights saved by {@link #stateDict()}. */
    public void load(Map<String, Tensor> sd, String source) {
        for (Map.Entry<String, NDArray> e : shadow.entrySet()) {
            Tensor t = sd.get(e.getKey());
            if (t == null) {
                throw new NppException(source + ": EMA weights lack " + e.getKey());
            }
            e.getValue().set(t.toFloatArray());
        }
    }

    @Override
    public void close() {
        manager.close();
    }
}
