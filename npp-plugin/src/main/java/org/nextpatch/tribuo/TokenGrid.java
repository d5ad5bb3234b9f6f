package org.nextpatch.tribuo;

import com.google.protobuf.Any;
import com.google.protobuf.DynamicMessage;
import org.tribuo.Output;
import org.tribuo.protos.core.OutputProto;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * A Tribuo output holding a square grid of image tokens (VQ codebook indices), in raster order:
 * token {@code t} sits at row {@code t / side}, column {@code t % side}.
 * <p>
 * The score is the natural-log likelihood of the tokens under the model that produced them
 * ({@code NaN} when unknown, e.g. for ground-truth grids). As for Tribuo's own outputs,
 * {@link #equals} and {@link #hashCode} compare the grid only; {@link #fullEquals} compares the
 * score as well.
 * <p>
 * The class condition is not part of the output: it is an ordinary feature of the {@code Example}
 * (see {@link ClassCondition}).
 */
public final class TokenGrid implements Output<TokenGrid> {
    private static final long serialVersionUID = 1L;

    /** The serialisation version of {@link #serialize()}. */
    public static final int CURRENT_VERSION = 0;

    /** The sentinel unknown output: an empty grid of side 0. */
    public static final TokenGrid UNKNOWN = new TokenGrid(0, new int[0], Double.NaN);

    private final int side;
    private final int[] tokens;
    private final double score;

    /**
     * @param side   grid side G (0 only for {@link #UNKNOWN})
     * @param tokens {@code G * G} non-negative token ids in raster order (copied)
     * @param score  log-likelihood of the tokens, or {@code NaN} when unknown
     */
    public TokenGrid(int side, int[] tokens, double score) {
        if (side < 0) {
            throw new IllegalArgumentException("token grid side must be non-negative, got " + side);
        }
        if (tokens.length != side * side) {
            throw new IllegalArgumentException("a token grid of side " + side + " needs " + side * side
                    + " tokens, got " + tokens.length);
        }
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] < 0) {
                throw new IllegalArgumentException("token " + i + " is negative (" + tokens[i] + ")");
            }
        }
        this.side = side;
        this.tokens = tokens.clone();
        this.score = score;
    }

    /** A grid without a score. */
    public TokenGrid(int side, int[] tokens) {
        this(side, tokens, Double.NaN);
    }

    /** A grid from a square number of tokens, without a score. */
    public static TokenGrid of(int[] tokens) {
        return new TokenGrid(sideOf(tokens.length), tokens, Double.NaN);
    }

    /** A grid from a square number of int64 tokens (the upstream code files' type). */
    public static TokenGrid of(long[] tokens) {
        int[] t = new int[tokens.length];
        for (int i = 0; i < t.length; i++) {
            if (tokens[i] < 0 || tokens[i] > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("token " + i + " is out of range (" + tokens[i] + ")");
            }
            t[i] = (int) tokens[i];
        }
        return of(t);
    }

    /** The side of a square grid of {@code n} tokens. */
    static int sideOf(int n) {
        int g = (int) Math.round(Math.sqrt(n));
        if (g * g != n || n == 0) {
            throw new IllegalArgumentException(n + " tokens do not form a square grid");
        }
        return g;
    }

    /** Grid side G. */
    public int side() {
        return side;
    }

    /** Number of tokens {@code G * G}. */
    public int size() {
        return tokens.length;
    }

    /** Token at raster index {@code i}. */
    public int token(int i) {
        return tokens[i];
    }

    /** Token at row {@code r}, column {@code c}. */
    public int token(int r, int c) {
        return tokens[r * side + c];
    }

    /** A copy of the tokens in raster order. */
    public int[] tokens() {
        return tokens.clone();
    }

    /** The tokens as int64 (the upstream code files' type). */
    public long[] tokensAsLongs() {
        long[] out = new long[tokens.length];
        for (int i = 0; i < tokens.length; i++) {
            out[i] = tokens[i];
        }
        return out;
    }

    /** Log-likelihood of the tokens under the model that produced them, {@code NaN} if unknown. */
    public double score() {
        return score;
    }

    /** Whether this is the {@link #UNKNOWN} sentinel. */
    public boolean isUnknown() {
        return side == 0;
    }

    /** This grid with another score. */
    public TokenGrid withScore(double newScore) {
        return new TokenGrid(side, tokens, newScore);
    }

    /** The largest token id, -1 for an empty grid. */
    public int maxToken() {
        int m = -1;
        for (int t : tokens) {
            m = Math.max(m, t);
        }
        return m;
    }

    @Override
    public TokenGrid copy() {
        return this;  // immutable
    }

    /**
     * {@code GxG:t0,t1,...} and, with {@code includeConfidence}, {@code :ll=SCORE}. The form without
     * the score is what {@link TokenGridFactory#generateOutput} parses.
     */
    @Override
    public String getSerializableForm(boolean includeConfidence) {
        StringBuilder sb = new StringBuilder(tokens.length * 6 + 16);
        sb.append(side).append('x').append(side).append(':');
        for (int i = 0; i < tokens.length; i++) {
            if (i > 0) {
                sb.append(',');
            }
            sb.append(tokens[i]);
        }
        if (includeConfidence) {
            sb.append(":ll=").append(score);
        }
        return sb.toString();
    }

    /** Parses {@code GxG:t0,t1,...} (an optional {@code :ll=SCORE} suffix is read as the score). */
    public static TokenGrid parse(String s) {
        String[] parts = s.trim().split(":");
        if (parts.length < 2 || parts.length > 3) {
            throw new IllegalArgumentException("not a token grid (expected GxG:t0,t1,...): '" + abbreviate(s) + "'");
        }
        String[] dims = parts[0].toLowerCase(Locale.ROOT).split("x");
        try {
            int g = Integer.parseInt(dims[0].trim());
            if (dims.length != 2 || Integer.parseInt(dims[1].trim()) != g) {
                throw new IllegalArgumentException("token grids are square, got shape '" + parts[0] + "'");
            }
            String body = parts[1].trim();
            int[] t = body.isEmpty() ? new int[0]
                    : Arrays.stream(body.split(",")).mapToInt(x -> Integer.parseInt(x.trim())).toArray();
            double sc = Double.NaN;
            if (parts.length == 3) {
                if (!parts[2].startsWith("ll=")) {
                    throw new IllegalArgumentException("unexpected suffix '" + parts[2] + "' in token grid");
                }
                sc = Double.parseDouble(parts[2].substring(3));
            }
            return new TokenGrid(g, t, sc);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not a token grid: '" + abbreviate(s) + "' (" + e.getMessage() + ")", e);
        }
    }

    private static String abbreviate(String s) {
        return s.length() > 60 ? s.substring(0, 57) + "..." : s;
    }

    @Override
    public boolean fullEquals(TokenGrid other) {
        return equals(other) && Double.compare(score, other.score) == 0;
    }

    @Override
    public boolean fullEquals(TokenGrid other, double tolerance) {
        if (!equals(other)) {
            return false;
        }
        if (Double.isNaN(score) || Double.isNaN(other.score)) {
            return Double.isNaN(score) && Double.isNaN(other.score);
        }
        return Math.abs(score - other.score) <= tolerance;
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof TokenGrid)) {
            return false;
        }
        TokenGrid g = (TokenGrid) o;
        return side == g.side && Arrays.equals(tokens, g.tokens);
    }

    @Override
    public int hashCode() {
        return 31 * side + Arrays.hashCode(tokens);
    }

    @Override
    public String toString() {
        if (isUnknown()) {
            return "TokenGrid(UNKNOWN)";
        }
        StringBuilder sb = new StringBuilder("TokenGrid(").append(side).append('x').append(side).append(", [");
        int shown = Math.min(tokens.length, 8);
        for (int i = 0; i < shown; i++) {
            sb.append(i > 0 ? "," : "").append(tokens[i]);
        }
        if (shown < tokens.length) {
            sb.append(",...");
        }
        sb.append("]");
        if (!Double.isNaN(score)) {
            sb.append(String.format(Locale.ROOT, ", ll=%.4f", score));
        }
        return sb.append(')').toString();
    }

    @Override
    public OutputProto serialize() {
        DynamicMessage.Builder b = NppProtos.builder(NppProtos.TOKEN_GRID)
                .setField(NppProtos.f(NppProtos.TOKEN_GRID, "grid_side"), side)
                .setField(NppProtos.f(NppProtos.TOKEN_GRID, "score"), score);
        var tf = NppProtos.f(NppProtos.TOKEN_GRID, "tokens");
        for (int t : tokens) {
            b.addRepeatedField(tf, t);
        }
        return OutputProto.newBuilder().setVersion(CURRENT_VERSION).setClassName(TokenGrid.class.getName())
                .setSerializedData(Any.pack(b.build())).build();
    }

    /**
     * Tribuo's protobuf hook (found by reflection from {@code Output.deserialize}).
     *
     * @param version   the serialised version
     * @param className the class name recorded in the redirect proto
     * @param message   the packed {@code TokenGridProto}
     */
    public static TokenGrid deserializeFromProto(int version, String className, Any message) {
        NppProtos.checkVersion(version, CURRENT_VERSION, className);
        DynamicMessage m = NppProtos.unpack(message, NppProtos.TOKEN_GRID);
        @SuppressWarnings("unchecked")
        List<Integer> t = (List<Integer>) m.getField(NppProtos.f(NppProtos.TOKEN_GRID, "tokens"));
        int side = NppProtos.getInt(m, "grid_side");
        if (side == 0 && t.isEmpty()) {
            return UNKNOWN;
        }
        return new TokenGrid(side, t.stream().mapToInt(Integer::intValue).toArray(), NppProtos.getDouble(m, "score"));
    }
}
