package org.nextpatch.cli;

import org.nextpatch.config.GptConfig;
import org.nextpatch.config.VqConfig;
import org.nextpatch.data.ClassNames;
import org.nextpatch.io.StateDicts;
import org.nextpatch.io.TorchCheckpoint;
import org.nextpatch.model.VqModel;
import org.nextpatch.onnx.OnnxExport;
import org.nextpatch.onnx.WeightQuantization;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;
import org.nextpatch.util.RegularFiles;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code npp export-onnx}: writes the ONNX decoding graphs of a GPT checkpoint (and optionally the VQ
 * decoder) plus a JSON manifest, for deployment with ONNX Runtime without DJL.
 */
@Command(name = "export-onnx", mixinStandardHelpOptions = true,
        description = "Export a GPT checkpoint (and optionally a VQ tokenizer's decoder) to ONNX graphs: "
                + "gpt-prefill.onnx, gpt-step.onnx (explicit key/value cache), gpt-generate.onnx (the whole generation "
                + "in one Loop), vq-decoder.onnx, and manifest.json.")
public final class ExportOnnxCommand implements Runnable {

    /** Where the GPT configuration of a checkpoint comes from. */
    static final class SizeFlags {
        @Option(names = "--gpt-model", paramLabel = "NAME", description = "Named size: GPT-B, GPT-L, GPT-XL, GPT-XXL.")
        String model;
        @Option(names = "--gpt-config", paramLabel = "FILE", description = "JSON file with upstream ModelArgs field names.")
        Path config;
    }

    @Option(names = "--gpt-ckpt", paramLabel = "FILE", description = "GPT checkpoint (.pt, upstream layout); a training checkpoint records its configuration, a published one needs --gpt-model or --gpt-config.")
    Path gptCkpt;

    @Option(names = "--tribuo-model", paramLabel = "FILE",
            description = "Instead of --gpt-ckpt and a size: a Tribuo NPP model file (from 'npp import' or the Tribuo API); its provenance goes into the manifest.")
    Path tribuoModel;

    @ArgGroup(exclusive = true, multiplicity = "0..1")
    SizeFlags size;

    @Option(names = "--image-size", paramLabel = "S", description = "Image size (default: recorded in the checkpoint, else 256 with --gpt-model).")
    Integer imageSize;

    @Option(names = "--downsample-size", paramLabel = "F", description = "Tokenizer downsampling (default: the tokenizer's, else recorded in the checkpoint, else 16).")
    Integer downsample;

    @Option(names = "--codebook-size", paramLabel = "V", defaultValue = "16384", description = "Vocabulary for --gpt-model (default ${DEFAULT-VALUE}).")
    int codebookSize;

    @Option(names = "--num-classes", paramLabel = "C", defaultValue = "1000", description = "Classes for --gpt-model (default ${DEFAULT-VALUE}).")
    int numClasses;

    @Option(names = {"--use-ema", "--ema"}, description = "Export the checkpoint's EMA weights ('ema') instead of 'model'.")
    boolean ema;

    @Option(names = "--vq-ckpt", paramLabel = "FILE", description = "VQ tokenizer checkpoint: also export vq-decoder.onnx.")
    Path vqCkpt;

    @Option(names = "--vq-config", paramLabel = "FILE", description = "VQ configuration JSON (default: recorded in the checkpoint, else VQ-16).")
    Path vqConfig;

    @Option(names = "--out", paramLabel = "DIR", required = true, description = "Output directory (new or empty unless --overwrite).")
    Path out;

    @Option(names = "--overwrite", description = "Write into --out even if it holds an earlier export or other files.")
    boolean overwrite;

    @Option(names = "--class-names", paramLabel = "FILE",
            description = "Class names, one per line in class order (as extract-codes writes classes.txt), recorded in "
                    + "manifest.json for 'npp serve'; default: the --tribuo-model's own, if it has them.")
    Path classNamesFile;

    @Option(names = "--fp16", description = "Store GPT projection weights as float16 and run projections in float16 (for GPUs).")
    boolean fp16;

    @Option(names = "--quantize", paramLabel = "int8|int4",
            description = "Store the GPT's projection and output-head matrices quantized (weight-only, blocks of 32, "
                    + "run by ONNX Runtime's MatMulNBits with int8 compute); embeddings and norms stay float32. Not with --fp16.")
    String quantize;

    @Option(names = "--external-data", description = "Write the weights as ONNX external data (gpt-weights.onnx.data, shared by the GPT graphs; automatic above 256 MB of weights).")
    boolean externalData;

    @Override
    public void run() {
        if (vqConfig != null && vqCkpt == null) {
            throw new NppCommand.UsageException("--vq-config needs --vq-ckpt");
        }
        if (quantize != null && fp16) {
            throw new NppCommand.UsageException("--quantize and --fp16 exclude each other; choose one");
        }
        WeightQuantization quantization = quantize == null ? null : WeightQuantization.parse(quantize, "--quantize");
        OnnxExport.checkTarget(out, overwrite, "--out");
        Outputs.writableDir(out, "--out");
        GptSource source = GptSource.of(gptCkpt, ema, tribuoModel, size != null);
        VqConfig vq = null;
        Map<String, Tensor> vqWeights = null;
        if (vqCkpt != null) {
            // same resolution as every other tokenizer command: --vq-config, else recorded, else VQ-16
            Object root = loadRoot(vqCkpt, "--vq-ckpt");
            vq = VqModel.configFor(root, vqConfig == null ? null : VqConfig.fromJson(vqConfig));
            vqWeights = select(root, vqCkpt, "--vq-ckpt", false);
        }
        // the configuration (flags, else what the checkpoint or Tribuo model records), checked against the tokenizer
        GptConfigResolver.Recorded rec = source.isTribuoModel() ? GptConfigResolver.Recorded.of(source.modelConfig())
                : size != null ? GptConfigResolver.Recorded.NONE : GptConfigResolver.Recorded.fromCheckpoint(source.checkpointRoot());
        GptConfig cfg = GptConfigResolver.resolve(new GptConfigResolver.Flags(size == null ? null : size.model,
                        size == null ? null : size.config, imageSize, downsample, codebookSize, numClasses),
                rec, source.flag(), vq, "--vq-ckpt " + vqCkpt).config();
        List<String> names = classNamesFile != null ? ClassNames.read(classNamesFile, "--class-names", cfg.numClasses())
                : source.classNames();
        Map<String, Tensor> gptWeights = source.weights();
        Map<String, String> prov = new LinkedHashMap<>(source.provenance());
        if (vqCkpt != null) {
            prov.put("vq_ckpt", vqCkpt.toAbsolutePath().toString());
            prov.put("vq_ckpt_bytes", Long.toString(size(vqCkpt)));
        }
        List<Path> files = OnnxExport.export(cfg, gptWeights, vq, vqWeights, out, fp16, quantization,
                externalData ? Boolean.TRUE : null, prov, Map.of());
        if (!names.isEmpty()) {
            OnnxExport.recordClassNames(out, names);
        }
        for (Path f : files) {
            System.out.println(f);
        }
    }

    private static long size(Path p) {
        try {
            return Files.size(p);
        } catch (java.io.IOException e) {
            return -1;
        }
    }

    /** A checkpoint's state dict as float tensors (EMA weights on request). */
    static Map<String, Tensor> loadWeights(Path ckpt, String flag, boolean ema) {
        return select(loadRoot(ckpt, flag), ckpt, flag, ema);
    }

    /** A checkpoint's tree; a missing or unreadable file is one line naming the flag. */
    static Object loadRoot(Path ckpt, String flag) {
        RegularFiles.requireRegular(ckpt, flag);
        try {
            return TorchCheckpoint.load(ckpt);
        } catch (NppException e) {
            throw named(e, ckpt, flag);
        }
    }

    private static Map<String, Tensor> select(Object root, Path ckpt, String flag, boolean ema) {
        try {
            return StateDicts.select(root, ema);
        } catch (NppException e) {
            throw named(e, ckpt, flag);
        }
    }

    private static NppException named(NppException e, Path ckpt, String flag) {
        return e.getMessage().contains(ckpt.toString()) ? e : new NppException(flag + " " + ckpt + ": " + e.getMessage(), e);
    }
}
