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

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("(");
        for (int i = 0; i < items.length; i++) {
            sb.append(i > 0 ? ", " : "").append(items[i]);
        }
        return sb.append(items.length == 1 ? ",)" : ")").toString();
    }
}
