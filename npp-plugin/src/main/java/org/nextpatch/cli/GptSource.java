package org.nextpatch.cli;

import org.nextpatch.config.GptConfig;
import org.nextpatch.io.StateDicts;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.tribuo.NppModel;
import org.nextpatch.util.NppException;
import org.nextpatch.util.RegularFiles;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Where a command's GPT weights come from: an upstream checkpoint ({@code --gpt-ckpt FILE}, with the
 * configuration from the size flags) or a Tribuo NPP model file ({@code --tribuo-model FILE}, which
 * carries its configuration). Every command that reads a GPT resolves its flags here, so both give
 * the same weights, hence the same results, for the same model.
 */
final class GptSource {
    private final Path ckpt;
    private final boolean useEma;
    private final Path tribuoModel;
    private NppModel model;
    private Object root;
    private Map<String, Tensor> weights;

    private GptSource(Path ckpt, boolean useEma, Path tribuoModel) {
        this.ckpt = ckpt;
        this.useEma = useEma;
        this.tribuoModel = tribuoModel;
    }

    /**
     * The source the flags name: exactly one of a checkpoint and a Tribuo model file. A Tribuo model
     * carries its configuration, so {@code --gpt-model}/{@code --gpt-config}/{@code --use-ema} do not
     * go with it ({@code sizeFlagsGiven}).
     *
     * @throws NppCommand.UsageException when both, neither, or size flags with a Tribuo model are given
     */
    static GptSource of(Path ckpt, boolean useEma, Path tribuoModel, boolean sizeFlagsGiven) {
        if ((ckpt == null) == (tribuoModel == null)) {
            throw new NppCommand.UsageException("give exactly one of --gpt-ckpt FILE or --tribuo-model FILE");
        }
        if (tribuoModel != null && sizeFlagsGiven) {
            throw new NppCommand.UsageException("--tribuo-model carries its own configuration: drop --gpt-model / --gpt-config");
        }
        if (tribuoModel != null && useEma) {
            throw new NppCommand.UsageException("--use-ema goes with --gpt-ckpt: a Tribuo model holds one set of weights");
        }
        return new GptSource(ckpt, useEma, tribuoModel);
    }

    /** Whether the weights come from a Tribuo model file. */
    boolean isTribuoModel() {
        return tribuoModel != null;
    }

    /** The Tribuo model's configuration, dropouts off (only for {@code --tribuo-model}). */
    GptConfig modelConfig() {
        return model().getGptConfig().withoutDropout();
    }

    private NppModel model() {
        if (model == null) {
            try {
                model = NppModel.load(tribuoModel);
            } catch (NppException e) {
                throw new NppException("--tribuo-model " + tribuoModel + ": " + e.getMessage(), e);
            }
        }
        return model;
    }

    /** The Tribuo model's class names, in class order; empty for a checkpoint or a model without names. */
    java.util.List<String> classNames() {
        return tribuoModel != null ? model().getClassNames() : java.util.List.of();
    }

    /** The weights as an upstream state dict (memory-mapped where the file allows), read once. */
    Map<String, Tensor> weights() {
        if (weights != null) {
            return weights;
        }
        if (tribuoModel != null) {
            Map<String, Tensor> w = model().getWeights();
            if (!TorchCheckpoint.allowsNonFiniteByDefault()) {
                for (Map.Entry<String, Tensor> e : w.entrySet()) {
                    long bad = org.nextpatch.tensor.NonFinite.count(e.getValue());
                    if (bad > 0) {
                        throw new NppException("--tribuo-model " + tribuoModel + ": tensor '" + e.getKey() + "' holds " + bad
                                + " NaN or infinite values; pass --allow-non-finite to load it anyway");
                    }
                }
            }
            weights = w;
        } else {
            try {
                weights = StateDicts.select(checkpointRoot(), useEma);
            } catch (NppException e) {
                throw e.getMessage().contains(ckpt.toString()) ? e : new NppException("--gpt-ckpt " + ckpt + ": " + e.getMessage(), e);
            }
        }
        return weights;
    }

    /** The checkpoint's tree (its {@code args} record a training run's configuration), read once. */
    Object checkpointRoot() {
        if (root == null) {
            RegularFiles.requireRegular(ckpt, "--gpt-ckpt");
            try {
                root = TorchCheckpoint.load(ckpt);
            } catch (NppException e) {
                throw e.getMessage().contains(ckpt.toString()) ? e : new NppException("--gpt-ckpt " + ckpt + ": " + e.getMessage(), e);
            }
        }
        return root;
    }

    /** The flag and file the weights come from, for messages ({@code --gpt-ckpt FILE}). */
    String flag() {
        return tribuoModel != null ? "--tribuo-model " + tribuoModel : "--gpt-ckpt " + ckpt;
    }

    /** What to name the weights by in errors. */
    String describe() {
        return tribuoModel != null ? "--tribuo-model " + tribuoModel : ckpt + (useEma ? " (ema)" : "");
    }

    /** Where the weights came from, for an export manifest's provenance. */
    Map<String, String> provenance() {
        Map<String, String> p = new LinkedHashMap<>();
        if (tribuoModel != null) {
            p.put("tribuo_model", tribuoModel.toAbsolutePath().toString());
            // Tribuo's own form (as its ONNX exporters write it), so the export traces back to the model
            p.put(org.tribuo.ONNXExportable.PROVENANCE_METADATA_FIELD, model().serializeProvenance(model().getProvenance()));
        } else {
            p.put("gpt_ckpt", ckpt.toAbsolutePath().toString());
            try {
                p.put("gpt_ckpt_bytes", Long.toString(Files.size(ckpt)));
            } catch (java.io.IOException e) {
                p.put("gpt_ckpt_bytes", "-1");
            }
            p.put("gpt_weights", useEma ? "ema" : "model");
        }
        return p;
    }
}
