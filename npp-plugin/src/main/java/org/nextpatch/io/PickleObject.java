package org.nextpatch.io;

import java.util.List;
import java.util.Map;

/**
 * An instance of a Python class that the checkpoint reader does not rebuild (for example
 * {@code argparse.Namespace}, which upstream checkpoints carry as {@code args}). Nothing is executed:
 * the record only keeps the class name, the constructor arguments and the state given to it.
 *
 * @param module Python module of the class or function, e.g. {@code argparse}
 * @param name   class or function name, e.g. {@code Namespace}
 * @param args   constructor/reduce arguments (often empty)
 * @param state  the state set by pickle's BUILD ({@code __dict__} for ordinary objects: a Map), or null
 */
public record PickleObject(String module, String name, List<Object> args, Object state) {

    /** The state as an attribute map (e.g. a Namespace's fields); empty if the state is not a map. */
    @SuppressWarnings("unchecked")
    public Map<Object, Object> attributes() {
        if (state instanceof Map<?, ?> m) {
            return (Map<Object, Object>) m;
        }
        if (state instanceof List<?> l && l.size() == 2 && l.get(1) instanceof Map<?, ?> slots) {
            // (dict, slots) state of classes with __slots__
            return (Map<Object, Object>) (l.get(0) instanceof Map<?, ?> d ? d : slots);
        }
        return Map.of();
    }

    /** One attribute of the state map, or null. */
    public Object get(String attribute) {
        return attributes().get(attribute);
    }

    /** {@code module.name}. */
    public String qualifiedName() {
        return module + "." + name;
    }

    @Override
    public String toString() {
        return Unpickler.brief(this);
    }
}
