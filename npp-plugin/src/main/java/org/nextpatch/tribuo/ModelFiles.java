package org.nextpatch.tribuo;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.oracle.labs.mlrg.olcut.config.json.JsonProvenanceSerialization;
import com.oracle.labs.mlrg.olcut.provenance.ProvenanceUtil;
import org.nextpatch.util.NppException;
import org.nextpatch.util.RegularFiles;
import org.tribuo.Model;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Any Tribuo model file (an NPP model or another Tribuo model saved as protobuf): reading it with
 * one-line errors that name the file, and its provenance as JSON ({@code npp provenance}, the
 * demo's {@code provenance.json}).
 */
public final class ModelFiles {
    private ModelFiles() {}

    /** Reads a Tribuo model file with one-line errors naming the file. */
    public static Model<?> load(Path file) {
        RegularFiles.requireRegular(file, "model file");
        try {
            // NppModel's reader finds an NPP model's weights file beside the model file
            return NppModel.deserializeFromFile(file);
        } catch (IOException e) {
            throw new NppException(file + " is not a Tribuo model file (protobuf ModelProto): " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw ModelFileErrors.unreadable(file, e);
        }
    }

    /**
     * A model's provenance as JSON.
     *
     * @param marshalled OLCUT's marshalled form instead of the nested, human-oriented view
     */
    public static String provenanceJson(Model<?> model, boolean marshalled) {
        if (marshalled) {
            return new JsonProvenanceSerialization(true).serializeToString(
                    ProvenanceUtil.marshalProvenance(model.getProvenance()));
        }
        try {
            return new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
                    .writeValueAsString(ProvenanceUtil.convertToMap(model.getProvenance()));
        } catch (IOException e) {
            throw new NppException("cannot write the provenance as JSON: " + e.getMessage(), e);
        }
    }
}
