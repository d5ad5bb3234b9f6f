package org.nextpatch.io;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Finds the model weights (the state dict) in a loaded checkpoint tree. Upstream LlamaGen/NPP
 * checkpoints keep them under {@code model} (and the EMA copy under {@code ema}); other trainers use
 * {@code module} or {@code state_dict}, or save the bare dict. Keys are returned without the
 * {@code module.} (DistributedDataParallel) and {@code _orig_mod.} (torch.compile) prefixes.
 */
public final class StateDicts {
    /** Container keys tried, in order, when the EMA weights are not asked for. */
    public static final List<String> CONTAINERS = List.of("model", "ema", "module", "state_dict");

    private static final Logger LOG = LogManager.getLogger(StateDicts.class);

    private StateDicts() {}

    /**
     * Selects the state dict of a checkpoint.
     *
     * @param root   the tree from {@link TorchCheckpoint#load}
     * @param useEma take the {@code ema} weights (an error if the checkpoint has none)
     * @return parameter name -> tensor, in checkpoint order
     */
    public static LinkedHashMap<String, Tensor> select(Object root, boolean useEma) {
        if (!(root instanceof Map<?, ?> map)) {
            throw new NppException("checkpoint holds a " + Unpickler.typeName(root) + ", not a dict of weights");
        }
        Map<?, ?> chosen = null;
        if (useEma) {
            if (!(map.get("ema") instanceof Map<?, ?> ema)) {
                throw new NppException("checkpoint has no 'ema' weights (top-level keys: " + map.keySet() + ")");
            }
            chosen = ema;
        } else {
            chosen = container(map);
        }
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        List<String> skipped = new ArrayList<>();
        for (Map.Entry<?, ?> e : chosen.entrySet()) {
            if (e.getKey() instanceof String k && e.getValue() instanceof Tensor t) {
                String name = stripPrefixes(k);
                if (out.put(name, t) != null) {
                    throw new NppException("checkpoint state dict has the key " + name + " twice after removing prefixes");
                }
            } else {
                skipped.add(e.getKey() + " (" + Unpickler.typeName(e.getValue()) + ")");
            }
        }
        if (!skipped.isEmpty()) {
            // e.g. quantized or sparse tensors, which are not rebuilt; the model loader reports missing keys
            LOG.warn("state dict entries that are not dense tensors were skipped: {}", skipped);
        }
        if (out.isEmpty()) {
            throw new NppException("checkpoint has no tensors in its state dict (top-level keys: " + map.keySet() + ")");
        }
        return out;
    }

    /** The main state dict container: {@code model}, else {@code ema}, {@code module}, {@code state_dict}, else the dict itself. */
    public static Map<?, ?> container(Map<?, ?> root) {
        for (String c : CONTAINERS) {
            if (root.get(c) instanceof Map<?, ?> m) {
                return m;
            }
        }
        return root;
    }

    /** The key of the main container ({@code model}, ...) or null if the weights are the root dict itself. */
    public static String containerName(Map<?, ?> root) {
        for (String c : CONTAINERS) {
            if (root.get(c) instanceof Map<?, ?>) {
                return c;
            }
        }
        return null;
    }

    /** Removes leading {@code module.} and {@code _orig_mod.} prefixes (in any combination). */
    public static String stripPrefixes(String key) {
        String k = key;
        while (true) {
            if (k.startsWith("module.")) {
                k = k.substring("module.".length());
            } else if (k.startsWith("_orig_mod.")) {
                k = k.substring("_orig_mod.".length());
            } else {
                return k;
            }
        }
    }
}
