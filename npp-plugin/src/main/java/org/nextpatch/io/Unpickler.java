package org.nextpatch.io;

import org.nextpatch.util.NppException;

import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A pickle virtual machine that builds plain Java values and never executes Python code.
 * <p>
 * It understands the opcodes of protocols 0 to 5 except out-of-band buffers and the extension
 * registry. References to Python callables ({@code GLOBAL}/{@code STACK_GLOBAL}) become
 * {@link Global} markers; calling one ({@code REDUCE}, {@code NEWOBJ}) is resolved by a small allow
 * list (OrderedDict, sets, bytes) and the {@link Hooks} (tensor rebuilds); anything else becomes an
 * inert {@link PickleObject}. Values: dict -> LinkedHashMap, list -> ArrayList, tuple ->
 * {@link PickleTuple}, int -> Long (BigInteger beyond 64 bits), float -> Double, str -> String,
 * bytes -> byte[], bool -> Boolean, None -> null.
 * <p>
 * Hostile programs are bounded: the work done (opcodes plus elements copied) is proportional to the
 * program's length, dict keys and set members must be hashable in Python's sense (no list, dict, set
 * or object; tuples of at most {@link #MAX_KEY_ITEMS} items counted with repetition), so hashing a
 * key never walks a shared or recursive structure, and the result must be a tree or DAG (no container
 * that contains itself) no deeper than {@link #MAX_DEPTH}. Each refusal is one line naming the file
 * and entry.
 */
final class Unpickler {

    /** A reference to a Python callable or class by name; never resolved to code. */
    record Global(String module, String name) {
        boolean is(String m, String n) {
            return module.equals(m) && name.equals(n);
        }

        @Override
        public String toString() {
            return module + "." + name;
        }
    }

    /** Callbacks for what the caller knows how to rebuild. */
    interface Hooks {
        /** Resolves a persistent id ({@code BINPERSID}); torch uses it for tensor storages. */
        Object persistentLoad(Object pid);

        /** Calls a global with arguments, or returns {@link #UNHANDLED}. */
        Object call(Global g, PickleTuple args);
    }

    /** Returned by {@link Hooks#call} for globals the hooks do not rebuild. */
    static final Object UNHANDLED = new Object();

    private static final Object MARK = new Object() {
        @Override
        public String toString() {
            return "MARK";
        }
    };

    /** Deepest nesting of containers accepted in the result (real checkpoints nest fewer than 10). */
    static final int MAX_DEPTH = 200;
    /** Largest tuple accepted as a dict key or set member, items of nested tuples counted each time they occur. */
    static final int MAX_KEY_ITEMS = 1024;
    /** Work allowed per byte of program (each opcode costs 1, each element copied by a call 1). */
    private static final long WORK_PER_BYTE = 16;
    private static final long WORK_BASE = 1L << 20;

    private final ByteBuffer in;
    private final String where;
    private final Hooks hooks;
    private final ArrayList<Object> stack = new ArrayList<>();
    private final ArrayList<Integer> marks = new ArrayList<>();
    private final Map<Long, Object> memo = new HashMap<>();
    /** Memo keys of each memoized unbuilt object, so BUILD re-points them without scanning the memo. */
    private final IdentityHashMap<Object, List<Long>> memoKeysOfObjects = new IdentityHashMap<>();
    /** Expanded item counts of tuples already checked as keys (each tuple is measured once). */
    private final IdentityHashMap<PickleTuple, Integer> keySizes = new IdentityHashMap<>();
    private final long workLimit;
    private long work;
    private int opPos;

    /**
     * @param data  the pickle program
     * @param where the file and entry, for messages
     * @param hooks persistent-id and global resolution
     */
    Unpickler(ByteBuffer data, String where, Hooks hooks) {
        this.in = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        this.where = where;
        this.hooks = hooks;
        this.workLimit = WORK_BASE + WORK_PER_BYTE * data.remaining();
    }

    /** Charges work; a program that copies shared data over and over runs out of budget. */
    private void charge(long units) {
        work += units;
        if (work > workLimit) {
            throw new NppException(where + ": pickle refused: it does more work than its " + in.limit()
                    + " bytes allow (shared data copied over and over; hostile or corrupt file)");
        }
    }

    /**
     * Checks that a value may be a dict key or set member: hashable in Python and cheap to hash here.
     * Lists, dicts, sets and objects are unhashable in Python (and may contain themselves), so they are
     * refused; tuples are measured once each (identity memo), so shared sub-tuples cost nothing twice.
     */
    private Object key(Object k) {
        if (k == null || k instanceof String || k instanceof Long || k instanceof BigInteger || k instanceof Double
                || k instanceof Boolean || k instanceof Global) {
            return k;
        }
        if (k instanceof PickleTuple t) {
            if (keyItems(t, 0) > MAX_KEY_ITEMS) {
                throw new NppException(where + ": pickle refused: a tuple of more than " + MAX_KEY_ITEMS
                        + " items (nested items counted each time they occur) is used as a dict key or set member");
            }
            return k;
        }
        throw new NppException(where + ": pickle refused: a " + typeName(k) + " is used as a dict key or set member"
                + " (unhashable; opcode at byte " + opPos + ")");
    }

    /** Items of a key tuple counted with repetition, saturating above the limit (so depth is bounded too). */
    private int keyItems(PickleTuple t, int depth) {
        Integer known = keySizes.get(t);
        if (known != null) {
            return known;
        }
        long n = 1;
        if (depth > MAX_KEY_ITEMS) {
            return MAX_KEY_ITEMS + 1;
        }
        for (Object o : t) {
            if (o instanceof PickleTuple c) {
                n += keyItems(c, depth + 1);
            } else {
                key(o);
                n += 1;
            }
            if (n > MAX_KEY_ITEMS) {
                break;
            }
        }
        int r = (int) Math.min(n, MAX_KEY_ITEMS + 1);
        keySizes.put(t, r);
        return r;
    }

    /**
     * Checks the finished value: no container reachable from itself, nesting at most {@link #MAX_DEPTH}.
     * Iterative, and each container is visited once (identity), so it is linear in the result's size.
     */
    private void checkStructure(Object root) {
        IdentityHashMap<Object, Integer> height = new IdentityHashMap<>(); // -1 while on the path
        ArrayList<Object> nodes = new ArrayList<>();
        ArrayList<Iterator<?>> iters = new ArrayList<>();
        ArrayList<Integer> best = new ArrayList<>();
        if (children(root) == null) {
            return;
        }
        height.put(root, -1);
        nodes.add(root);
        iters.add(children(root));
        best.add(0);
        while (!nodes.isEmpty()) {
            int top = nodes.size() - 1;
            Iterator<?> it = iters.get(top);
            if (it.hasNext()) {
                Object c = it.next();
                Iterator<?> cc = children(c);
                if (cc == null) {
                    continue;
                }
                Integer h = height.get(c);
                if (h != null && h < 0) {
                    throw new NppException(where + ": pickle refused: a " + typeName(c)
                            + " contains itself (recursive structure)");
                }
                if (h != null) {
                    best.set(top, Math.max(best.get(top), h));
                    continue;
                }
                if (nodes.size() >= MAX_DEPTH) {
                    throw new NppException(where + ": pickle refused: containers nested more than " + MAX_DEPTH + " deep");
                }
                height.put(c, -1);
                nodes.add(c);
                iters.add(cc);
                best.add(0);
            } else {
                int h = best.get(top) + 1;
                height.put(nodes.get(top), h);
                nodes.remove(top);
                iters.remove(top);
                best.remove(top);
                if (top > 0) {
                    best.set(top - 1, Math.max(best.get(top - 1), h));
                }
            }
        }
    }

    /** The values a container holds (keys and values of a dict), or null for a leaf. */
    private static Iterator<?> children(Object o) {
        if (o instanceof Map<?, ?> m) {
            return new Iterator<Object>() {
                private final Iterator<? extends Map.Entry<?, ?>> es = m.entrySet().iterator();
                private Object pendingValue;
                private boolean hasPending;

                @Override
                public boolean hasNext() {
                    return hasPending || es.hasNext();
                }

                @Override
                public Object next() {
                    if (hasPending) {
                        hasPending = false;
                        return pendingValue;
                    }
                    Map.Entry<?, ?> e = es.next();
                    pendingValue = e.getValue();
                    hasPending = true;
                    return e.getKey();
                }
            };
        }
        if (o instanceof Collection<?> c) {
            return c.iterator();
        }
        if (o instanceof PickleObject p) {
            ArrayList<Object> l = new ArrayList<>(2);
            l.add(p.args());
            l.add(p.state());
            return l.iterator();
        }
        return null;
    }

    /**
     * A short description of a value for messages: at most a few levels and items, so a shared or
     * recursive structure never makes a long string or a deep recursion.
     */
    static String brief(Object o) {
        StringBuilder sb = new StringBuilder();
        brief(o, sb, 0);
        return sb.length() > 200 ? sb.substring(0, 200) + "..." : sb.toString();
    }

    private static void brief(Object o, StringBuilder sb, int depth) {
        if (sb.length() > 200) {
            return;
        }
        Iterator<?> it = o instanceof PickleObject || o instanceof Map<?, ?> ? null : children(o);
        if (o instanceof Map<?, ?> m) {
            if (depth >= 3) {
                sb.append("{...}");
                return;
            }
            sb.append('{');
            int i = 0;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (i++ == 8) {
                    sb.append(", ...");
                    break;
                }
                sb.append(i > 1 ? ", " : "");
                brief(e.getKey(), sb, depth + 1);
                sb.append(": ");
                brief(e.getValue(), sb, depth + 1);
            }
            sb.append('}');
        } else if (it != null) {
            boolean tuple = o instanceof PickleTuple;
            if (depth >= 3) {
                sb.append(tuple ? "(...)" : "[...]");
                return;
            }
            sb.append(tuple ? '(' : '[');
            int i = 0;
            while (it.hasNext()) {
                Object c = it.next();
                if (i++ == 8) {
                    sb.append(", ...");
                    break;
                }
                sb.append(i > 1 ? ", " : "");
                brief(c, sb, depth + 1);
            }
            sb.append(tuple && i == 1 ? ",)" : tuple ? ")" : "]");
        } else if (o instanceof PickleObject p) {
            sb.append(p.qualifiedName());
            if (depth < 3) {
                sb.append(p.state() != null ? "(" : "");
                if (p.state() != null) {
                    brief(p.state(), sb, depth + 1);
                    sb.append(')');
                } else {
                    brief(p.args(), sb, depth + 1);
                }
            }
        } else if (o instanceof byte[] b) {
            sb.append("bytes(").append(b.length).append(')');
        } else if (o instanceof String s) {
            sb.append('\'').append(s.length() > 60 ? s.substring(0, 60) + "..." : s).append('\'');
        } else {
            sb.append(o);
        }
    }

    private NppException corrupt(String what) {
        return new NppException(where + ": corrupt pickle: " + what + " (opcode at byte " + opPos + ")");
    }

    private void need(int n) {
        if (in.remaining() < n) {
            throw corrupt("data ends in the middle of an opcode");
        }
    }

    private int u8() {
        need(1);
        return in.get() & 0xff;
    }

    private int u16() {
        need(2);
        return in.getShort() & 0xffff;
    }

    private long u32() {
        need(4);
        return in.getInt() & 0xffffffffL;
    }

    private long s64len() {
        need(8);
        long v = in.getLong();
        if (v < 0) {
            throw corrupt("negative length");
        }
        return v;
    }

    private byte[] bytes(long n) {
        if (n > in.remaining()) {
            throw corrupt("a length of " + n + " runs past the end of the data");
        }
        byte[] b = new byte[(int) n];
        in.get(b);
        return b;
    }

    private String line() {
        int start = in.position();
        while (in.hasRemaining()) {
            if (in.get() == '\n') {
                byte[] b = new byte[in.position() - 1 - start];
                in.get(start, b);
                return new String(b, StandardCharsets.ISO_8859_1);
            }
        }
        throw corrupt("unterminated text argument");
    }

    private void push(Object o) {
        stack.add(o);
    }

    private Object pop() {
        if (stack.isEmpty() || (!marks.isEmpty() && stack.size() <= marks.get(marks.size() - 1))) {
            throw corrupt("stack underflow");
        }
        Object o = stack.remove(stack.size() - 1);
        if (o == MARK) {
            throw corrupt("unexpected MARK");
        }
        return o;
    }

    private Object peek() {
        if (stack.isEmpty()) {
            throw corrupt("stack underflow");
        }
        return stack.get(stack.size() - 1);
    }

    /** Pops everything above the last MARK (and the mark). */
    private List<Object> popMark() {
        if (marks.isEmpty()) {
            throw corrupt("no MARK on the stack");
        }
        int m = marks.remove(marks.size() - 1);
        charge(stack.size() - m);
        List<Object> items = new ArrayList<>(stack.subList(m, stack.size()));
        stack.subList(m, stack.size()).clear();
        return items;
    }

    private Object memoGet(long key) {
        if (!memo.containsKey(key)) {
            throw corrupt("memo key " + key + " was never stored");
        }
        return memo.get(key);
    }

    private void memoPut(long key) {
        Object v = peek();
        Object old = memo.put(key, v);
        if (old instanceof PickleObject) {
            List<Long> keys = memoKeysOfObjects.get(old);
            if (keys != null) {
                keys.remove((Long) key);
            }
        }
        if (v instanceof PickleObject) {
            memoKeysOfObjects.computeIfAbsent(v, o -> new ArrayList<>(1)).add(key);
        }
    }

    @SuppressWarnings("unchecked")
    private Map<Object, Object> asMap(Object o, String op) {
        if (o instanceof Map<?, ?> m) {
            return (Map<Object, Object>) m;
        }
        if (o instanceof PickleObject p) {
            throw new NppException(where + ": the pickle fills an object of class " + p.qualifiedName()
                    + " with dict items; only dict, OrderedDict, defaultdict and Counter are rebuilt");
        }
        throw corrupt(op + " on a " + typeName(o) + ", not a dict");
    }

    @SuppressWarnings("unchecked")
    private Collection<Object> asList(Object o, String op) {
        if (o instanceof List<?> l && !(o instanceof PickleTuple)) {
            return (List<Object>) l;
        }
        if (o instanceof Set<?> s) {
            return (Set<Object>) s;
        }
        if (o instanceof PickleObject p) {
            throw new NppException(where + ": the pickle fills an object of class " + p.qualifiedName()
                    + " with list items; only list and set are rebuilt");
        }
        throw corrupt(op + " on a " + typeName(o) + ", not a list");
    }

    static String typeName(Object o) {
        return o == null ? "None" : o instanceof PickleObject p ? p.qualifiedName() : o.getClass().getSimpleName();
    }

    /** Runs the program and returns the value it stops with. */
    Object load() {
        while (true) {
            opPos = in.position();
            if (!in.hasRemaining()) {
                throw corrupt("data ends without a STOP opcode");
            }
            int op = in.get() & 0xff;
            charge(1);
            switch (op) {
                case 0x80 -> { // PROTO
                    int v = u8();
                    if (v > 5) {
                        throw corrupt("unsupported pickle protocol " + v);
                    }
                }
                case 0x95 -> { // FRAME: only a length hint
                    need(8);
                    in.getLong();
                }
                case 0x2e -> { // STOP
                    Object result = pop();
                    checkStructure(result);
                    return result;
                }
                case 0x28 -> { // MARK
                    marks.add(stack.size());
                }
                case 0x30 -> pop(); // POP
                case 0x31 -> popMark(); // POP_MARK
                case 0x32 -> push(peek()); // DUP
                case 0x4e -> push(null); // NONE
                case 0x88 -> push(Boolean.TRUE); // NEWTRUE
                case 0x89 -> push(Boolean.FALSE); // NEWFALSE
                case 0x4b -> push((long) u8()); // BININT1
                case 0x4d -> push((long) u16()); // BININT2
                case 0x4a -> { // BININT
                    need(4);
                    push((long) in.getInt());
                }
                case 0x8a -> push(decodeLong(bytes(u8()))); // LONG1
                case 0x8b -> { // LONG4
                    need(4);
                    int n = in.getInt();
                    if (n < 0) {
                        throw corrupt("negative length");
                    }
                    push(decodeLong(bytes(n)));
                }
                case 0x47 -> { // BINFLOAT (big-endian)
                    need(8);
                    push(in.order(ByteOrder.BIG_ENDIAN).getDouble());
                    in.order(ByteOrder.LITTLE_ENDIAN);
                }
                case 0x49 -> push(parseIntLine(digits(line()))); // INT
                case 0x4c -> { // LONG
                    String s = digits(line());
                    try {
                        push(normalize(new BigInteger(s.endsWith("L") ? s.substring(0, s.length() - 1) : s)));
                    } catch (NumberFormatException e) {
                        throw corrupt("bad LONG literal");
                    }
                }
                case 0x46 -> { // FLOAT
                    try {
                        push(Double.parseDouble(line()));
                    } catch (NumberFormatException e) {
                        throw corrupt("bad FLOAT literal");
                    }
                }
                case 0x58 -> push(new String(bytes(u32()), StandardCharsets.UTF_8)); // BINUNICODE
                case 0x8c -> push(new String(bytes(u8()), StandardCharsets.UTF_8)); // SHORT_BINUNICODE
                case 0x8d -> push(new String(bytes(s64len()), StandardCharsets.UTF_8)); // BINUNICODE8
                case 0x56 -> push(rawUnicodeEscape(line())); // UNICODE
                case 0x53 -> push(unquote(line())); // STRING
                case 0x54 -> { // BINSTRING
                    need(4);
                    int n = in.getInt();
                    if (n < 0) {
                        throw corrupt("negative length");
                    }
                    push(new String(bytes(n), StandardCharsets.ISO_8859_1));
                }
                case 0x55 -> push(new String(bytes(u8()), StandardCharsets.ISO_8859_1)); // SHORT_BINSTRING
                case 0x42 -> push(bytes(u32())); // BINBYTES
                case 0x43 -> push(bytes(u8())); // SHORT_BINBYTES
                case 0x8e, 0x96 -> push(bytes(s64len())); // BINBYTES8, BYTEARRAY8
                case 0x7d -> push(new LinkedHashMap<>()); // EMPTY_DICT
                case 0x5d -> push(new ArrayList<>()); // EMPTY_LIST
                case 0x29 -> push(PickleTuple.of()); // EMPTY_TUPLE
                case 0x8f -> push(new LinkedHashSet<>()); // EMPTY_SET
                case 0x64 -> { // DICT
                    List<Object> items = popMark();
                    if (items.size() % 2 != 0) {
                        throw corrupt("DICT with an odd number of items");
                    }
                    Map<Object, Object> m = new LinkedHashMap<>();
                    for (int i = 0; i < items.size(); i += 2) {
                        m.put(key(items.get(i)), items.get(i + 1));
                    }
                    push(m);
                }
                case 0x6c -> push(new ArrayList<>(popMark())); // LIST
                case 0x74 -> push(new PickleTuple(popMark())); // TUPLE
                case 0x85 -> push(PickleTuple.of(pop())); // TUPLE1
                case 0x86 -> { // TUPLE2
                    Object b = pop();
                    Object a = pop();
                    push(PickleTuple.of(a, b));
                }
                case 0x87 -> { // TUPLE3
                    Object c = pop();
                    Object b = pop();
                    Object a = pop();
                    push(PickleTuple.of(a, b, c));
                }
                case 0x91 -> push(newSet(popMark())); // FROZENSET
                case 0x73 -> { // SETITEM
                    Object v = pop();
                    Object k = pop();
                    asMap(peek(), "SETITEM").put(key(k), v);
                }
                case 0x75 -> { // SETITEMS
                    List<Object> items = popMark();
                    if (items.size() % 2 != 0) {
                        throw corrupt("SETITEMS with an odd number of items");
                    }
                    Map<Object, Object> m = asMap(peek(), "SETITEMS");
                    for (int i = 0; i < items.size(); i += 2) {
                        m.put(key(items.get(i)), items.get(i + 1));
                    }
                }
                case 0x61 -> { // APPEND
                    Object v = pop();
                    Collection<Object> c = asList(peek(), "APPEND");
                    c.add(c instanceof Set ? key(v) : v);
                }
                case 0x65, 0x90 -> { // APPENDS, ADDITEMS
                    List<Object> items = popMark();
                    Collection<Object> c = asList(peek(), op == 0x65 ? "APPENDS" : "ADDITEMS");
                    if (c instanceof Set) {
                        items.forEach(this::key);
                    }
                    c.addAll(items);
                }
                case 0x71 -> memoPut(u8()); // BINPUT
                case 0x72 -> memoPut(u32()); // LONG_BINPUT
                case 0x70 -> memoPut(parseLongLine(line())); // PUT
                case 0x94 -> memoPut(memo.size()); // MEMOIZE
                case 0x68 -> push(memoGet(u8())); // BINGET
                case 0x6a -> push(memoGet(u32())); // LONG_BINGET
                case 0x67 -> push(memoGet(parseLongLine(line()))); // GET
                case 0x63 -> { // GLOBAL
                    String module = line();
                    String name = line();
                    push(new Global(module, name));
                }
                case 0x93 -> { // STACK_GLOBAL
                    Object name = pop();
                    Object module = pop();
                    if (!(module instanceof String m) || !(name instanceof String n)) {
                        throw corrupt("STACK_GLOBAL needs two strings");
                    }
                    push(new Global(m, n));
                }
                case 0x51 -> push(hooks.persistentLoad(pop())); // BINPERSID
                case 0x50 -> push(hooks.persistentLoad(line())); // PERSID
                case 0x52 -> { // REDUCE
                    Object args = pop();
                    Object f = pop();
                    push(call(f, args, "REDUCE"));
                }
                case 0x81 -> { // NEWOBJ
                    Object args = pop();
                    Object cls = pop();
                    push(call(cls, args, "NEWOBJ"));
                }
                case 0x92 -> { // NEWOBJ_EX (kwargs ignored: kept in args for inspection)
                    Object kwargs = pop();
                    Object args = pop();
                    Object cls = pop();
                    Object o = call(cls, args, "NEWOBJ_EX");
                    if (o instanceof PickleObject p && kwargs instanceof Map<?, ?> kw && !kw.isEmpty()) {
                        List<Object> a = new ArrayList<>(p.args());
                        a.add(kw);
                        o = new PickleObject(p.module(), p.name(), a, p.state());
                    }
                    push(o);
                }
                case 0x69 -> { // INST
                    Global g = new Global(line(), line());
                    push(call(g, new PickleTuple(popMark()), "INST"));
                }
                case 0x6f -> { // OBJ
                    List<Object> items = popMark();
                    if (items.isEmpty()) {
                        throw corrupt("OBJ without a class");
                    }
                    push(call(items.get(0), new PickleTuple(items.subList(1, items.size())), "OBJ"));
                }
                case 0x62 -> { // BUILD
                    Object state = pop();
                    Object obj = pop();
                    push(build(obj, state));
                }
                case 0x82, 0x83, 0x84 ->
                        throw corrupt("extension-registry opcode EXT" + (op - 0x81) + " is not supported");
                case 0x97, 0x98 -> throw corrupt("out-of-band buffers (protocol 5) are not supported");
                default -> throw new NppException(where + ": unknown pickle opcode 0x" + Integer.toHexString(op)
                        + " at byte " + opPos + " (corrupt file or a format this reader does not know)");
            }
        }
    }

    private Object call(Object f, Object args, String op) {
        if (!(f instanceof Global g)) {
            throw corrupt(op + " of a " + typeName(f) + ", not a class or function reference");
        }
        if (!(args instanceof PickleTuple t)) {
            throw corrupt(op + " arguments are a " + typeName(args) + ", not a tuple");
        }
        Object r = hooks.call(g, t);
        if (r != UNHANDLED) {
            return r;
        }
        String m = g.module();
        String n = g.name();
        if (g.is("collections", "OrderedDict") || g.is("collections", "defaultdict") || g.is("collections", "Counter")
                || ((m.equals("builtins") || m.equals("__builtin__")) && n.equals("dict"))) {
            // defaultdict's factory argument is dropped: the loaded value is an ordinary dict
            if (g.is("collections", "defaultdict")) {
                return new LinkedHashMap<>();
            }
            Map<Object, Object> map = new LinkedHashMap<>();
            if (!t.isEmpty() && t.get(0) instanceof Collection<?> pairs) {
                charge(pairs.size());
                for (Object p : pairs) {
                    if (p instanceof List<?> kv && kv.size() == 2) {
                        map.put(key(kv.get(0)), kv.get(1));
                    }
                }
            } else if (!t.isEmpty() && t.get(0) instanceof Map<?, ?> src) {
                charge(src.size());
                map.putAll(src);
            }
            return map;
        }
        if ((m.equals("builtins") || m.equals("__builtin__")) && (n.equals("set") || n.equals("frozenset"))) {
            return t.isEmpty() ? new LinkedHashSet<>() : newSet(asCollection(t.get(0), op));
        }
        if ((m.equals("builtins") || m.equals("__builtin__")) && n.equals("list")) {
            return t.isEmpty() ? new ArrayList<>() : new ArrayList<>(asCollection(t.get(0), op));
        }
        if ((m.equals("builtins") || m.equals("__builtin__")) && n.equals("tuple")) {
            return t.isEmpty() ? PickleTuple.of() : new PickleTuple(asCollection(t.get(0), op));
        }
        if (g.is("_codecs", "encode") && t.size() >= 1 && t.get(0) instanceof String s) {
            // protocol 2 pickles bytes as _codecs.encode(text, 'latin1')
            return s.getBytes(StandardCharsets.ISO_8859_1);
        }
        if ((m.equals("builtins") || m.equals("__builtin__")) && n.equals("bytes") && t.isEmpty()) {
            return new byte[0];
        }
        charge(t.size());
        return new PickleObject(m, n, nullSafe(t), null);
    }

    private static List<Object> nullSafe(List<Object> l) {
        // List.copyOf rejects nulls; keep them
        return java.util.Collections.unmodifiableList(new ArrayList<>(l));
    }

    private Collection<?> asCollection(Object o, String op) {
        if (o instanceof Collection<?> c) {
            charge(c.size());
            return c;
        }
        throw corrupt(op + " argument is a " + typeName(o) + ", not a sequence");
    }

    private Set<Object> newSet(Collection<?> items) {
        charge(items.size());
        Set<Object> s = new LinkedHashSet<>();
        for (Object o : items) {
            s.add(key(o));
        }
        return s;
    }

    private Object build(Object obj, Object state) {
        if (obj instanceof PickleObject p) {
            PickleObject built = new PickleObject(p.module(), p.name(), p.args(), state);
            // the memo may already hold the unbuilt object (BINPUT right after NEWOBJ): point it at the built one
            List<Long> keys = memoKeysOfObjects.remove(obj);
            if (keys != null) {
                for (Long k : keys) {
                    memo.put(k, built);
                }
                memoKeysOfObjects.put(built, keys);
            }
            return built;
        }
        // Dicts (OrderedDict's _metadata attribute), tensors and parameters: attribute state is not kept.
        return obj;
    }

    private static Object decodeLong(byte[] le) {
        if (le.length == 0) {
            return 0L;
        }
        byte[] be = new byte[le.length];
        for (int i = 0; i < le.length; i++) {
            be[i] = le[le.length - 1 - i];
        }
        return normalize(new BigInteger(be));
    }

    private static Object normalize(BigInteger v) {
        return v.bitLength() < 64 ? (Object) v.longValue() : v;
    }

    /** Python refuses integer literals over 4300 digits too: parsing them here would be quadratic. */
    private String digits(String s) {
        if (s.length() > 4300) {
            throw corrupt("integer literal of " + s.length() + " digits (more than 4300)");
        }
        return s;
    }

    private Object parseIntLine(String s) {
        if (s.equals("01")) {
            return Boolean.TRUE;
        }
        if (s.equals("00")) {
            return Boolean.FALSE;
        }
        try {
            return normalize(new BigInteger(s.strip()));
        } catch (NumberFormatException e) {
            throw corrupt("bad INT literal");
        }
    }


    private long parseLongLine(String s) {
        try {
            return Long.parseLong(s.strip());
        } catch (NumberFormatException e) {
            throw corrupt("bad memo key");
        }
    }

    /** Decodes Python's raw-unicode-escape: only {@code \\uXXXX} and {@code \\UXXXXXXXX} are escapes. */
    private String rawUnicodeEscape(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 1 < s.length() && (s.charAt(i + 1) == 'u' || s.charAt(i + 1) == 'U')) {
                int n = s.charAt(i + 1) == 'u' ? 4 : 8;
                if (i + 2 + n > s.length()) {
                    throw corrupt("bad UNICODE escape");
                }
                try {
                    sb.appendCodePoint(Integer.parseInt(s.substring(i + 2, i + 2 + n), 16));
                } catch (IllegalArgumentException e) {
                    throw corrupt("bad UNICODE escape");
                }
                i += 1 + n;
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    private String unquote(String s) {
        if (s.length() >= 2 && (s.charAt(0) == '\'' || s.charAt(0) == '"') && s.charAt(s.length() - 1) == s.charAt(0)) {
            String body = s.substring(1, s.length() - 1);
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < body.length(); i++) {
                char c = body.charAt(i);
                if (c == '\\' && i + 1 < body.length()) {
                    char e = body.charAt(++i);
                    switch (e) {
                        case 'n' -> sb.append('\n');
                        case 't' -> sb.append('\t');
                        case 'r' -> sb.append('\r');
                        case 'x' -> {
                            if (i + 2 >= body.length()) {
                                throw corrupt("bad STRING escape");
                            }
                            try {
                                sb.append((char) Integer.parseInt(body.substring(i + 1, i + 3), 16));
                            } catch (NumberFormatException ex) {
                                throw corrupt("bad STRING escape");
                            }
                            i += 2;
                        }
                        default -> sb.append(e);
                    }
                } else {
                    sb.append(c);
                }
            }
            return sb.toString();
        }
        throw corrupt("bad STRING literal");
    }
}
