package org.nextpatch.tensor;

import org.nextpatch.util.NppException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Compares a state dict with the keys and shapes a model expects. Upstream loads with
 * {@code strict=False}, so importers check coverage themselves and report everything that is wrong
 * in one message rather than the first problem only.
 *
 * @param missing    expected keys that are absent
 * @param misShaped  keys present with the wrong shape or a non-floating type, with the details
 * @param unexpected keys present that the model does not have
 */
public record StateDictCheck(List<String> missing, List<String> misShaped, List<String> unexpected) {

    /** How many names of each list a message shows. */
    private static final int SHOWN = 8;

    /**
     * Checks {@code stateDict} against {@code expected}.
     *
     * @param ignored keys that may be present without being expected (buffers such as
     *                {@code quantize.codebook_used})
     */
    public static StateDictCheck of(Map<String, long[]> expected, Map<String, Tensor> stateDict, Set<String> ignored) {
        List<String> missing = new ArrayList<>();
        List<String> misShaped = new ArrayList<>();
        List<String> unexpected = new ArrayList<>();
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            Tensor t = stateDict.get(e.getKey());
            if (t == null) {
                missing.add(e.getKey());
            } else if (!Arrays.equals(t.shape(), e.getValue())) {
                misShaped.add(e.getKey() + " " + Arrays.toString(t.shape()) + " (expected " + Arrays.toString(e.getValue()) + ")");
            } else if (!t.dtype().isFloating()) {
                misShaped.add(e.getKey() + " has type " + t.dtype() + " (expected a floating type)");
            }
        }
        for (String k : stateDict.keySet()) {
            if (!expected.containsKey(k) && !ignored.contains(k)) {
                unexpected.add(k);
            }
        }
        return new StateDictCheck(List.copyOf(missing), List.copyOf(misShaped), List.copyOf(unexpected));
    }

    /** True when every expected key is present with its shape and nothing unexpected is there. */
    public boolean ok() {
        return missing.isEmpty() && misShaped.isEmpty() && unexpected.isEmpty();
    }

    /**
     * Throws an {@link NppException} unless the check passed.
     *
     * @param headline   the start of the message (which file, which model)
     * @param unexpectedMatters whether unexpected keys are an error (an exporter may ignore them)
     * @param hint       appended to the message, e.g. "(check --gpt-config)"; may be empty
     */
    public void throwIfBad(String headline, boolean unexpectedMatters, String hint) {
        if (missing.isEmpty() && misShaped.isEmpty() && (!unexpectedMatters || unexpected.isEmpty())) {
            return;
        }
        StringBuilder sb = new StringBuilder(headline);
        append(sb, "missing", missing);
        append(sb, "mis-shaped", misShaped);
        if (unexpectedMatters) {
            append(sb, "unexpected", unexpected);
        }
        if (!hint.isEmpty()) {
            sb.append(' ').append(hint);
        }
        throw new NppException(sb.toString());
    }

    private static void append(StringBuilder sb, String what, List<String> items) {
        if (items.isEmpty()) {
            return;
        }
        sb.append("; ").append(what).append(' ').append(items.size()).append(": ");
        int show = Math.min(items.size(), SHOWN);
        sb.append(String.join(", ", items.subList(0, show)));
        if (items.size() > show) {
            sb.append(", ... (").append(items.size() - show).append(" more)");
        }
    }
}
