package org.nextpatch.tribuo;

import com.oracle.labs.mlrg.olcut.provenance.Provenance;
import com.oracle.labs.mlrg.olcut.provenance.primitives.LongProvenance;
import org.nextpatch.model.EngineThreads;
import org.tribuo.provenance.ModelProvenance;

import java.util.Optional;

/**
 * The libtorch thread count an NPP model was trained with (its provenance's {@code intra-op-threads})
 * against this process's: retraining from the provenance gives bit-identical weights only at the same
 * count, so a reproduction checks it first:
 * <pre>{@code
 * RecordedThreads.check(model.getProvenance(), "model m.tribuo was trained").ifPresent(System.err::println);
 * }</pre>
 */
public final class RecordedThreads {
    private RecordedThreads() {}

    /** The count recorded in a model's provenance, or 0 when it has none (another Tribuo model, an import). */
    public static long of(ModelProvenance p) {
        Provenance v = p.getInstanceProvenance().getMap().get(NppTraining.INTRA_OP_THREADS);
        return v instanceof LongProvenance l ? l.getValue() : 0;
    }

    /**
     * A note, also logged as a warning, when this process would retrain at another count than recorded.
     *
     * @param what the model, for the message (e.g. "model m.tribuo was trained")
     */
    public static Optional<String> check(ModelProvenance p, String what) {
        return EngineThreads.mismatch(of(p), what);
    }
}
