package org.nextpatch.tribuo;

import com.google.protobuf.Any;
import com.oracle.labs.mlrg.olcut.provenance.Provenance;
import org.tribuo.ImmutableOutputInfo;
import org.tribuo.MutableOutputInfo;
import org.tribuo.OutputFactory;
import org.tribuo.provenance.OutputFactoryProvenance;
import org.tribuo.protos.core.OutputFactoryProto;

import java.util.Map;

/**
 * Tribuo's factory for {@link TokenGrid} outputs. {@link #generateOutput} accepts a TokenGrid, an
 * {@code int[]} or {@code long[]} of a square number of tokens, or the string form
 * {@code GxG:t0,t1,...} (as {@link TokenGrid#getSerializableForm} writes it).
 */
public final class TokenGridFactory implements OutputFactory<TokenGrid> {
    private static final long serialVersionUID = 1L;

    /** The serialisation version. */
    public static final int CURRENT_VERSION = 0;

    private static final TokenGridFactoryProvenance PROVENANCE = new TokenGridFactoryProvenance();
    private static final TokenGridEvaluator EVALUATOR = new TokenGridEvaluator();

    /** The factory (stateless; OLCUT needs the no-arg constructor). */
    public TokenGridFactory() {
    }

    @Override
    public <V> TokenGrid generateOutput(V label) {
        if (label instanceof TokenGrid) {
            return (TokenGrid) label;
        }
        if (label instanceof int[]) {
            return TokenGrid.of((int[]) label);
        }
        if (label instanceof long[]) {
            return TokenGrid.of((long[]) label);
        }
        if (label == null) {
            throw new IllegalArgumentException("cannot make a token grid from null");
        }
        return TokenGrid.parse(label.toString());
    }

    @Override
    public TokenGrid getUnknownOutput() {
        return TokenGrid.UNKNOWN;
    }

    @Override
    public MutableOutputInfo<TokenGrid> generateInfo() {
        return new MutableTokenGridInfo();
    }

    /**
     * Token grids have no finite domain, so an external model's mapping must be empty; the returned
     * info knows nothing about grid side or vocabulary.
     */
    @Override
    public ImmutableOutputInfo<TokenGrid> constructInfoForExternalModel(Map<TokenGrid, Integer> mapping) {
        if (!mapping.isEmpty()) {
            throw new IllegalArgumentException("token grids have no finite domain; an output mapping must be empty, got "
                    + mapping.size() + " entries");
        }
        return new ImmutableTokenGridInfo(0, 0, 0);
    }

    @Override
    public TokenGridEvaluator getEvaluator() {
        return EVALUATOR;
    }

    @Override
    public Class<TokenGrid> getTypeWitness() {
        return TokenGrid.class;
    }

    @Override
    public OutputFactoryProto serialize() {
        return OutputFactoryProto.newBuilder().setVersion(CURRENT_VERSION).setClassName(TokenGridFactory.class.getName())
                .setSerializedData(Any.pack(NppProtos.builder(NppProtos.TOKEN_GRID_FACTORY).build())).build();
    }

    /** Tribuo's protobuf hook (found by reflection from {@code OutputFactory.deserialize}). */
    public static TokenGridFactory deserializeFromProto(int version, String className, Any message) {
        NppProtos.checkVersion(version, CURRENT_VERSION, className);
        NppProtos.unpack(message, NppProtos.TOKEN_GRID_FACTORY);
        return new TokenGridFactory();
    }

    @Override
    public OutputFactoryProvenance getProvenance() {
        return PROVENANCE;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TokenGridFactory;
    }

    @Override
    public int hashCode() {
        return "TokenGridFactory".hashCode();
    }

    @Override
    public String toString() {
        return "TokenGridFactory";
    }

    /** The (parameterless) provenance of the factory. */
    public static final class TokenGridFactoryProvenance implements OutputFactoryProvenance {
        private static final long serialVersionUID = 1L;

        TokenGridFactoryProvenance() {
        }

        /** Used by OLCUT's provenance unmarshalling. */
        public TokenGridFactoryProvenance(Map<String, Provenance> map) {
        }

        @Override
        public String getClassName() {
            return TokenGridFactory.class.getName();
        }

        @Override
        public String toString() {
            return generateString("OutputFactory");
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof TokenGridFactoryProvenance;
        }

        @Override
        public int hashCode() {
            return 37;
        }
    }
}
