package org.nextpatch.tribuo;

import com.google.protobuf.Any;
import com.google.protobuf.DynamicMessage;
import com.oracle.labs.mlrg.olcut.util.Pair;
import org.tribuo.ImmutableOutputInfo;

import java.util.Collections;
import java.util.Iterator;

/**
 * The frozen {@link TokenGridInfo} of a trained model or an immutable dataset. As the domain is
 * empty, {@link #getID} is -1 and {@link #getOutput} is {@code null} for every grid.
 */
public final class ImmutableTokenGridInfo extends TokenGridInfo implements ImmutableOutputInfo<TokenGrid> {
    private static final long serialVersionUID = 1L;

    ImmutableTokenGridInfo(TokenGridInfo other) {
        super(other);
    }

    /**
     * An info for a model built outside a dataset.
     *
     * @param side      grid side
     * @param vocabSeen vocabulary size
     * @param count     number of grids the model was trained on
     */
    public ImmutableTokenGridInfo(int side, int vocabSeen, long count) {
        super(side, vocabSeen, count, 0);
    }

    private ImmutableTokenGridInfo(int side, int vocabSeen, long count, long unknownCount) {
        super(side, vocabSeen, count, unknownCount);
    }

    @Override
    public int getID(TokenGrid output) {
        return -1;
    }

    @Override
    public TokenGrid getOutput(int id) {
        return null;
    }

    @Override
    public long getTotalObservations() {
        return count;
    }

    @Override
    public ImmutableTokenGridInfo copy() {
        return new ImmutableTokenGridInfo(this);
    }

    @Override
    public Iterator<Pair<Integer, TokenGrid>> iterator() {
        return Collections.emptyIterator();
    }

    /** Tribuo's protobuf hook (found by reflection from {@code OutputInfo.deserialize}). */
    public static ImmutableTokenGridInfo deserializeFromProto(int version, String className, Any message) {
        DynamicMessage m = read(version, className, message);
        return new ImmutableTokenGridInfo(NppProtos.getInt(m, "grid_side"), NppProtos.getInt(m, "vocab_seen"),
                NppProtos.getLong(m, "count"), NppProtos.getLong(m, "unknown_count"));
    }
}
