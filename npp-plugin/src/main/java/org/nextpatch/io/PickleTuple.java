package org.nextpatch.io;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * A Python tuple from a pickle: an unmodifiable list, kept distinct from {@code list} so a round trip
 * through the writer keeps tuples as tuples.
 */
public final class PickleTuple extends java.util.AbstractList<Object> implements java.util.RandomAccess {
    private final Object[] items;
    private int hash;

    /** A tuple of the given items. */
    public PickleTuple(Collection<?> items) {
        this.items = items.toArray();
    }

    /** A tuple of the given items. */
    public static PickleTuple of(Object... items) {
        return new PickleTuple(java.util.Arrays.asList(items));
    }

    @Override
    public Object get(int index) {
        return items[index];
    }

    @Override
    public int size() {
        return items.length;
    }

    /** A mutable copy as an ordinary list. */
    public List<Object> toList() {
        return new ArrayList<>(this);
    }

    /** Bounded: a tuple that shares or nests deeply prints a few levels and items, then "...". */
    @Override
    public String toString() {
        return Unpickler.brief(this);
    }

    /**
     * Cached when the tuple holds only immutable values (as dict keys do), so a shared sub-tuple is
     * hashed once; a tuple holding a list is hashed afresh each time.
     */
    @Override
    public int hashCode() {
        if (hash != 0) {
            return hash;
        }
        int h = super.hashCode();
        for (Object o : items) {
            if (o instanceof Collection<?> && !(o instanceof PickleTuple) || o instanceof java.util.Map<?, ?>
                    || o instanceof PickleObject) {
                return h;
            }
        }
        hash = h;
        return h;
    }

    @Override
    public boolean equals(Object o) {
        return o == this || super.equals(o);
    }
}
