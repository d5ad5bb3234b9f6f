package org.nextpatch.tribuo;

import com.oracle.labs.mlrg.olcut.provenance.Provenance;
import com.oracle.labs.mlrg.olcut.provenance.ProvenanceUtil;
import com.oracle.labs.mlrg.olcut.provenance.primitives.HashProvenance;
import com.oracle.labs.mlrg.olcut.provenance.primitives.LongProvenance;
import com.oracle.labs.mlrg.olcut.provenance.primitives.StringProvenance;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.config.GptConfig;
import org.nextpatch.io.StateDicts;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.model.GptWeights;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;
import org.nextpatch.util.RegularFiles;
import org.tribuo.ImmutableFeatureMap;
import org.tribuo.MutableFeatureMap;
import org.tribuo.provenance.ModelProvenance;
import org.tribuo.provenance.impl.EmptyDatasetProvenance;
import org.tribuo.provenance.impl.EmptyTrainerProvenance;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Wraps an upstream LlamaGen/NPP GPT checkpoint as an {@link NppModel} (see
 * {@link NppModel#fromCheckpoint}). The weights stay memory-mapped from the checkpoint; nothing is
 * trained, so the provenance has an empty dataset and trainer and records where the weights came
 * from in its instance values: the checkpoint's name, path, size and SHA-256, which state dict was
 * taken, the GPT configuration, and the tokenizer's name, size and SHA-256 when one is given.
 */
final class CheckpointImport {
    private static final Logger LOG = LogManager.getLogger(CheckpointImport.class);

    /** Provenance keys (instance values) of an imported model. */
    static final String SOURCE = "import-source";
    static final String SOURCE_PATH = "import-source-path";
    static final String SOURCE_BYTES = "import-source-bytes";
    static final String SOURCE_SHA256 = "import-source-sha256";
    static final String STATE_DICT = "import-state-dict";
    static final String GPT_CONFIG = "gpt-config";
    static final String TOKENIZER = "tokenizer";
    static final String TOKENIZER_BYTES = "tokenizer-bytes";
    static final String TOKENIZER_SHA256 = "tokenizer-sha256";

    private CheckpointImport() {
    }

    static NppModel run(Path checkpoint, GptConfig config, boolean useEma, Path tokenizer) {
        RegularFiles.requireRegular(checkpoint, "checkpoint");
        if (tokenizer != null) {
            RegularFiles.requireRegular(tokenizer, "tokenizer checkpoint");
        }
        Object root = TorchCheckpoint.load(checkpoint);
        LinkedHashMap<String, Tensor> weights;
        try {
            weights = StateDicts.select(root, useEma);
        } catch (NppException e) {
            throw new NppException(checkpoint + ": " + e.getMessage(), e);
        }
        GptWeights.check(config, weights, checkpoint.toString() + (useEma ? " (ema)" : ""));
        String stateDict = useEma ? "ema" : root instanceof Map<?, ?> m && StateDicts.containerName(m) != null
                ? StateDicts.containerName(m) : "(root)";
        Map<String, Provenance> instance = new LinkedHashMap<>();
        instance.put(SOURCE, new StringProvenance(SOURCE, checkpoint.getFileName().toString()));
        instance.put(SOURCE_PATH, new StringProvenance(SOURCE_PATH, checkpoint.toAbsolutePath().toString()));
        instance.put(SOURCE_BYTES, new LongProvenance(SOURCE_BYTES, size(checkpoint)));
        instance.put(SOURCE_SHA256, hash(SOURCE_SHA256, checkpoint));
        instance.put(STATE_DICT, new StringProvenance(STATE_DICT, stateDict));
        instance.put(GPT_CONFIG, new StringProvenance(GPT_CONFIG, config.toJson().toString()));
        if (tokenizer != null) {
            instance.put(TOKENIZER, new StringProvenance(TOKENIZER, tokenizer.getFileName().toString()));
            instance.put(TOKENIZER_BYTES, new LongProvenance(TOKENIZER_BYTES, size(tokenizer)));
            instance.put(TOKENIZER_SHA256, hash(TOKENIZER_SHA256, tokenizer));
        }
        ModelProvenance provenance = new ModelProvenance(NppModel.class.getName(), OffsetDateTime.now(),
                new EmptyDatasetProvenance(), new EmptyTrainerProvenance(), instance);
        MutableFeatureMap features = new MutableFeatureMap();
        for (int k = 0; k < config.numClasses(); k++) {
            features.add(ClassCondition.DEFAULT_NAME, k);
        }
        return new NppModel("npp-import", provenance, new ImmutableFeatureMap(features),
                new ImmutableTokenGridInfo(config.gridSide(), config.vocabSize(), 0), config, weights,
                ClassCondition.DEFAULT_NAME, 0L, NppModel.defaultSampling(), NppModel.DEFAULT_SEED_KEY, "cpu", 16);
    }

    private static long size(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            throw new NppException("cannot read " + p + ": " + e.getMessage(), e);
        }
    }

    private static HashProvenance hash(String key, Path p) {
        long t0 = System.nanoTime();
        String h = org.nextpatch.util.Sha256.ofFile(p);
        LOG.info("SHA-256 of {}: {} ({} s)", p, h, String.format(java.util.Locale.ROOT, "%.1f", (System.nanoTime() - t0) / 1e9));
        return new HashProvenance(ProvenanceUtil.HashType.SHA256, key, h);
    }
}
