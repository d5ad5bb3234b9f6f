package org.nextpatch.tribuo;

import com.google.protobuf.Any;
import com.google.protobuf.DynamicMessage;
import com.oracle.labs.mlrg.olcut.util.Pair;
import org.tribuo.ImmutableOutputInfo;
import org.tribuo.MutableOutputInfo;
import org.tribuo.OutputInfo;
import org.tribuo.protos.core.OutputDomainProto;

import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;

/**
 * What a dataset or model knows about its token grids: the grid side they share, the vocabulary
 * seen so far (largest token + 1), how many grids and how many unknown outputs were observed. A
 * trained {@link NppModel}'s output domain describes what it produces: its grid side and its whole
 * vocabulary (so {@code vocab-seen} there is the model's vocabulary size).
 * <p>
 * Token grids have no finite domain (every grid is a different output), so unlike a label set the
 * {@link #getDomain() domain} is empty and {@link #size()} is 0; Tribuo code that enumerates a
 * domain (e.g. per-output metrics) therefore sees none, and {@link TokenGridEvaluator} reports per
 * class instead, the class being a feature.
 */
public abstract class TokenGridInfo implements OutputInfo<TokenGrid> {
    private static final long serialVersionUID = 1L;

    /** The serialisation version. */
    public static final int CURRENT_VERSION = 0;

    /** Grid side shared by every observed grid, 0 before the first. */
    protected int side;
    /** Largest observed token + 1. */
    protected int vocabSeen;
    /** Number of observed (known) grids. */
    protected long count;
    /** Number of observed unknown outputs. */
    protected long unknownCount;

    TokenGridInfo() {
    }

    TokenGridInfo(TokenGridInfo other) {
        this.side = other.side;
        this.vocabSeen = other.vocabSeen;
        this.count = other.count;
        this.unknownCount = other.unknownCount;
    }

    TokenGridInfo(int side, int vocabSeen, long count, long unknownCount) {
        if (side < 0 || vocabSeen < 0 || count < 0 || unknownCount < 0) {
            throw new IllegalArgumentException("invalid token grid info: side " + side + ", vocab " + vocabSeen
                    + ", count " + count + ", unknown " + unknownCount);
        }
        this.side = side;
        this.vocabSeen = vocabSeen;
        this.count = count;
        this.unknownCount = unknownCount;
    }

    /** The grid side shared by the observed grids (0 if none was observed). */
    public int getGridSide() {
        return side;
    }

    /** Largest observed token id + 1 (a lower bound on the vocabulary size). */
    public int getVocabularySeen() {
        return vocabSeen;
    }

    /** Number of observed grids (unknown outputs excluded). */
    public long getGridCount() {
        return count;
    }

    /** Empty: token grids have no finite domain. */
    @Override
    public Set<TokenGrid> getDomain() {
        return Collections.emptySet();
    }

    /** 0: token grids have no finite domain. */
    @Override
    public int size() {
        return 0;
    }

    @Override
    public int getUnknownCount() {
        return (int) Math.min(Integer.MAX_VALUE, unknownCount);
    }

    @Override
    public ImmutableOutputInfo<TokenGrid> generateImmutableOutputInfo() {
        return new ImmutableTokenGridInfo(this);
    }

    @Override
    public MutableOutputInfo<TokenGrid> generateMutableOutputInfo() {
        return new MutableTokenGridInfo(this);
    }

    @Override
    public String toReadableString() {
        return String.format(Locale.ROOT, "TokenGrids(side=%d, grids=%d, vocab-seen=%d, unknown=%d)",
                side, count, vocabSeen, unknownCount);
    }

    @Override
    public String toString() {
        return toReadableString();
    }

    @Override
    public Iterable<Pair<String, Long>> outputCountsIterable() {
        return List.of(new Pair<>("grids", count));
    }

    @Override
    public OutputDomainProto serialize() {
        DynamicMessage m = NppProtos.builder(NppProtos.TOKEN_GRID_INFO)
                .setField(NppProtos.f(NppProtos.TOKEN_GRID_INFO, "grid_side"), side)
                .setField(NppProtos.f(NppProtos.TOKEN_GRID_INFO, "vocab_seen"), vocabSeen)
                .setField(NppProtos.f(NppProtos.TOKEN_GRID_INFO, "count"), count)
                .setField(NppProtos.f(NppProtos.TOKEN_GRID_INFO, "unknown_count"), unknownCount)
                .setField(NppProtos.f(NppProtos.TOKEN_GRID_INFO, "immutable"), this instanceof ImmutableTokenGridInfo)
                .build();
        return OutputDomainProto.newBuilder().setVersion(CURRENT_VERSION).setClassName(getClass().getName())
                .setSerializedData(Any.pack(m)).build();
    }

    /** Reads the common fields of a packed {@code TokenGridInfoProto}. */
    static DynamicMessage read(int version, String className, Any message) {
        NppProtos.checkVersion(version, CURRENT_VERSION, className);
        return NppProtos.unpack(message, NppProtos.TOKEN_GRID_INFO);
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (o == null || getClass() != o.getClass()) {
            return false;
        }
        TokenGridInfo that = (TokenGridInfo) o;
        return side == that.side && vocabSeen == that.vocabSeen && count == that.count
                && unknownCount == that.unknownCount;
    }

    @Override
    public int hashCode() {
        return Objects.hash(getClass().getSimpleName(), side, vocabSeen, count, unknownCount);
    }
}
