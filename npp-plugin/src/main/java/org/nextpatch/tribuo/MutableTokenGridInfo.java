package org.nextpatch.tribuo;

import com.google.protobuf.Any;
import com.google.protobuf.DynamicMessage;
import org.tribuo.MutableOutputInfo;

/**
 * The mutable {@link TokenGridInfo} a dataset fills while examples are added. Every grid must have
 * the side of the first one observed.
 */
public final class MutableTokenGridInfo extends TokenGridInfo implements MutableOutputInfo<TokenGrid> {
    private static final long serialVersionUID = 1L;

    /** An empty info. */
    public MutableTokenGridInfo() {
    }

    MutableTokenGridInfo(TokenGridInfo other) {
        super(other);
    }

    private MutableTokenGridInfo(int side, int vocabSeen, long count, long unknownCount) {
        super(side, vocabSeen, count, unknownCount);
    }

    /**
     * Records a grid.
     *
     * @throws IllegalArgumentException when its side differs from the grids seen before
     */
    @Override
    public void observe(TokenGrid output) {
        if (output.isUnknown()) {
            unknownCount++;
            return;
        }
        if (side == 0) {
            side = output.side();
        } else if (output.side() != side) {
            throw new IllegalArgumentException("token grid of side " + output.side()
                    + " does not match the side " + side + " of the grids seen before");
        }
        vocabSeen = Math.max(vocabSeen, output.maxToken() + 1);
        count++;
    }

    @Override
    public void clear() {
        side = 0;
        vocabSeen = 0;
        count = 0;
        unknownCount = 0;
    }

    @Override
    public MutableTokenGridInfo copy() {
        return new MutableTokenGridInfo(this);
    }

    /** Tribuo's protobuf hook (found by reflection from {@code OutputInfo.deserialize}). */
    public static MutableTokenGridInfo deserializeFromProto(int version, String className, Any message) {
        DynamicMessage m = read(version, className, message);
        return new MutableTokenGridInfo(NppProtos.getInt(m, "grid_side"), NppProtos.getInt(m, "vocab_seen"),
                NppProtos.getLong(m, "count"), NppProtos.getLong(m, "unknown_count"));
    }
}
