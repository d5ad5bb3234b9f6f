package org.nextpatch.tribuo;

import ai.djl.Device;
import com.google.protobuf.Any;
import com.oracle.labs.mlrg.olcut.provenance.Provenance;
import com.oracle.labs.mlrg.olcut.util.Pair;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.config.GptConfig;
import org.nextpatch.model.Gpt;
import org.nextpatch.onnx.GptOnnxExporter;
import ai.onnx.proto.OnnxMl;
import org.tribuo.util.onnx.ONNXNode;
import org.tribuo.util.onnx.ONNXRef;
import java.nio.file.Files;
import java.nio.file.Path;
import org.nextpatch.sample.DjlSampler;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.train.NppTrainingLoop;
import org.nextpatch.train.TrainConfig;
import org.nextpatch.util.NppException;
import org.tribuo.Example;
import org.tribuo.Excuse;
import org.tribuo.ImmutableFeatureMap;
import org.tribuo.ImmutableOutputInfo;
import org.tribuo.Model;
import org.tribuo.ONNXExportable;
import org.tribuo.Prediction;
import org.tribuo.protos.core.ModelProto;
import org.tribuo.provenance.ModelProvenance;

import java.io.IOException;
import java.io.NotSerializableException;
import java.io.ObjectOutputStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * A trained NPP (LlamaGen) model as a Tribuo {@link Model} of {@link TokenGrid}s.
 * <p>
 * {@link #predict(Example)} generates a token grid for the example's class (the class feature, see
 * {@link ClassCondition}) with the project's DJL sampler and the model's {@link SamplingSettings};
 * the prediction's score is the generated grid's log-likelihood under the model's conditional
 * distribution. Generation is deterministic: an example draws with the uniforms of image {@code m}
 * of the model seed's run (see {@code org.nextpatch.sample.Uniforms}), {@code m} being the example's
 * numeric metadata value under {@link #getSeedMetadataKey()} (0 when absent), so the example does
 * not depend on what else is predicted, and {@code npp sample --seed S} with the model seed S gives
 * the same grid as image {@code m} for the same class. {@link #generate} makes a batch.
 * <p>
 * The weights are held engine-free (memory-mapped when loaded from a file with external weights) and
 * the DJL model is built lazily on the configured device; {@link #close()} frees its native memory.
 * Models save with {@link #serializeToFile} / {@link #save} (Tribuo's protobuf {@code ModelProto}:
 * provenance, domains, configuration, sampling settings, and the weights inline or, for models of any
 * size, in a checked file beside the model file) and load with {@link #load} or
 * {@code Model.deserializeFromFile}. {@link #fromCheckpoint} wraps an upstream checkpoint.
 */
public final class NppModel extends Model<TokenGrid> implements TeacherForcedScorer, ONNXExportable, AutoCloseable {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LogManager.getLogger(NppModel.class);

    /**
     * The newest serialisation version: 0 keeps the weights inline ({@link #serialize()}, models up to
     * {@link #MAX_INLINE_BYTES}), 1 keeps them in a weights file beside the model file. Both load.
     */
    public static final int CURRENT_VERSION = 1;

    /**
     * The most weight bytes kept inside the model file (2 GiB, protobuf's limit on one message, less
     * 64 MiB for the rest of the model): GPT-B and GPT-L in float32 (0.44 and 1.4 GB) and GPT-XL in
     * float16 fit. Larger weights go to a file beside the model file.
     */
    public static final long MAX_INLINE_BYTES = (1L << 31) - (64L << 20);

    /** Provenance key (instance values) of the weights file's name, when weights are external. */
    public static final String PROV_WEIGHTS_FILE = "weights-file";
    /** Provenance key of the stored weights' size in bytes (the weights file's, or the inline tensors' together). */
    public static final String PROV_WEIGHTS_BYTES = "weights-bytes";
    /** Provenance key of the stored weights' SHA-256 (the weights file's, or the inline tensors' bytes in order). */
    public static final String PROV_WEIGHTS_SHA256 = "weights-sha256";
    /** Provenance key of the weights' storage type(s). */
    public static final String PROV_WEIGHTS_DTYPE = "weights-dtype";

    /** Where {@link #save} puts the weights. */
    public enum WeightsLayout {
        /** Inside the model file (protobuf), up to about 2 GB. */
        INLINE,
        /** In {@code MODEL.weights} beside the model file, memory-mapped on load. */
        EXTERNAL,
        /** Inline up to {@link NppModel#MAX_INLINE_BYTES}, else external. */
        AUTO
    }

    /** The default metadata key whose numeric value is added to the model seed per example. */
    public static final String DEFAULT_SEED_KEY = "seed";

    private final GptConfig config;
    private final LinkedHashMap<String, Tensor> weights;
    private final String classFeature;
    private final long seed;
    private volatile SamplingSettings sampling;
    private volatile String seedMetadataKey;
    private volatile String device;
    private volatile int batchSize;
    private volatile List<String> classNames = List.of();

    private transient Gpt gpt;
    private transient Object lock = new Object();

    NppModel(String name, ModelProvenance provenance, ImmutableFeatureMap featureIDMap,
             ImmutableOutputInfo<TokenGrid> outputIDInfo, GptConfig config, Map<String, Tensor> weights,
             String classFeature, long seed, SamplingSettings sampling, String seedMetadataKey, String device,
             int batchSize) {
        super(name, provenance, featureIDMap, outputIDInfo, false);
        this.config = config;
        this.weights = new LinkedHashMap<>(weights);
        this.classFeature = classFeature;
        this.seed = seed;
        this.sampling = sampling;
        this.seedMetadataKey = seedMetadataKey;
        this.device = device;
        this.batchSize = batchSize;
        TrainConfig.DeviceSpec.parse(device);
    }

    /**
     * Wraps an upstream LlamaGen/NPP GPT checkpoint ({@code torch.save} zip) as an NPP model, as
     * {@code npp import} does. The weights are checked strictly against {@code config} and stay
     * memory-mapped from the checkpoint (save the model to get a self-contained pair of files). The
     * provenance (empty dataset and trainer: nothing was trained here) records the checkpoint's file
     * name, path, size and SHA-256, which state dict was taken, the configuration and, when
     * {@code tokenizer} is given, the tokenizer checkpoint's name, size and SHA-256. The model has seed 0, the class feature
     * {@value ClassCondition#DEFAULT_NAME}, {@link #defaultSampling()} and runs on the CPU.
     *
     * @param checkpoint the GPT checkpoint
     * @param config     its configuration (e.g. {@code GptConfig.named("GPT-XL", 256, 16384, 1000)})
     * @param useEma     take the checkpoint's {@code ema} weights instead of {@code model}
     * @param tokenizer  the VQ tokenizer checkpoint the GPT's tokens belong to, or null
     * @throws NppException naming the file when a file is missing or the weights do not fit the configuration
     */
    public static NppModel fromCheckpoint(Path checkpoint, GptConfig config, boolean useEma, Path tokenizer) {
        return CheckpointImport.run(checkpoint, config, useEma, tokenizer);
    }

    /** The default sampling settings of a new model: upstream's FID settings with guidance 2.0. */
    public static SamplingSettings defaultSampling() {
        return SamplingSettings.of(2.0);
    }

    // ---- settings -----------------------------------------------------------------------------

    /** The transformer's configuration. */
    public GptConfig getGptConfig() {
        return config;
    }

    /**
     * A copy of the weights map as an upstream state dict (the tensors themselves are shared and
     * read-only; memory-mapped for a model loaded with external weights, and float16 or bfloat16 for
     * a model saved so).
     */
    public LinkedHashMap<String, Tensor> getWeights() {
        return new LinkedHashMap<>(weights);
    }

    /** The model seed (the training run's seed). */
    public long getSeed() {
        return seed;
    }

    /** The feature holding the class index. */
    public String getClassFeature() {
        return classFeature;
    }

    /** How tokens are drawn by {@link #predict} and {@link #generate}. */
    public SamplingSettings getSamplingSettings() {
        return sampling;
    }

    /** Changes how tokens are drawn (guidance, temperature, top-k, top-p, greedy). */
    public void setSamplingSettings(SamplingSettings settings) {
        this.sampling = java.util.Objects.requireNonNull(settings, "sampling settings");
    }

    /** The example metadata key whose numeric value is added to the model seed; null = none. */
    public String getSeedMetadataKey() {
        return seedMetadataKey;
    }

    /** Sets the per-example seed metadata key (null turns it off). */
    public void setSeedMetadataKey(String key) {
        this.seedMetadataKey = key;
    }

    /** The device generation and scoring run on. */
    public String getDevice() {
        return device;
    }

    /** Moves generation and scoring to another device ({@code cpu}, {@code gpu}, {@code gpu:N}). */
    public void setDevice(String newDevice) {
        TrainConfig.DeviceSpec.parse(newDevice);
        synchronized (lock()) {
            if (!newDevice.equals(device)) {
                close();
                device = newDevice;
            }
        }
    }

    /** Rows per batch when predicting, generating and scoring many examples. */
    public int getBatchSize() {
        return batchSize;
    }

    /** Sets the rows per batch. */
    public void setBatchSize(int rows) {
        if (rows <= 0) {
            throw new IllegalArgumentException("batch size must be positive, got " + rows);
        }
        this.batchSize = rows;
    }

    /**
     * The class names in class order (name of class {@code i} at {@code i}), or an empty list when
     * unknown. A model trained from a source that records them ({@code classes.txt} of a code
     * directory) has them; {@link #exportOnnxGraphs} puts them in the export's manifest.
     */
    public List<String> getClassNames() {
        return classNames;
    }

    /**
     * Names the classes, in class order.
     *
     * @param names one non-blank name per class ({@code num_classes} of them), or an empty list for unknown
     * @throws IllegalArgumentException when the count differs from the model's class count or a name is blank
     */
    public void setClassNames(List<String> names) {
        List<String> copy = List.copyOf(names);
        if (!copy.isEmpty() && copy.size() != config.numClasses()) {
            throw new IllegalArgumentException("classNames: " + copy.size() + " names for a model of num_classes = "
                    + config.numClasses() + " (one name per class, in class order)");
        }
        for (int i = 0; i < copy.size(); i++) {
            if (copy.get(i).isBlank() || copy.get(i).contains("\n")) {
                throw new IllegalArgumentException("classNames: the name of class " + i + " is blank or spans lines");
            }
        }
        this.classNames = copy;
    }

    private Object lock() {
        Object l = lock;
        if (l == null) {
            synchronized (this) {
                if (lock == null) {
                    lock = new Object();
                }
                l = lock;
            }
        }
        return l;
    }

    /** The DJL model on the configured device, built on first use. Call with the lock held. */
    Gpt engineModel() {
        if (gpt == null) {
            gpt = new Gpt(config, weights, djlDevice(device), "NPP model '" + name + "'");
        }
        return gpt;
    }

    /**
     * DJL device of a device flag, checked against what the engine sees: the first GPU of a list
     * for inference. A model trained on a GPU and loaded where there is none fails here with a
     * message saying to use {@code setDevice("cpu")}.
     */
    static Device djlDevice(String flag) {
        try {
            return NppTrainingLoop.devices(TrainConfig.DeviceSpec.parse(flag)).get(0);
        } catch (org.nextpatch.util.NppException e) {
            throw new org.nextpatch.util.NppException(e.getMessage() + "; for a model, setDevice(\"cpu\") runs it on the CPU", e);
        }
    }

    /** Frees the native memory of the DJL model (it is rebuilt on the next use). */
    @Override
    public void close() {
        synchronized (lock()) {
            if (gpt != null) {
                gpt.close();
                gpt = null;
            }
        }
    }

    // ---- generation ---------------------------------------------------------------------------

    /**
     * The image index an example generates with within the model seed's run: its numeric metadata
     * value under {@link #getSeedMetadataKey()}, 0 when absent.
     */
    long exampleIndex(Example<TokenGrid> example) {
        String key = seedMetadataKey;
        if (key == null) {
            return 0;
        }
        Optional<Object> v = example.getMetadataValue(key);
        if (v.isEmpty()) {
            return 0;
        }
        Object o = v.get();
        long offset;
        if (o instanceof Number) {
            offset = ((Number) o).longValue();
        } else {
            try {
                offset = Long.parseLong(o.toString().trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("example metadata '" + key + "' must be a whole number, got '" + o + "'");
            }
        }
        if (offset < 0) {
            throw new IllegalArgumentException("example metadata '" + key + "' must be >= 0, got " + offset);
        }
        return offset;
    }

    @Override
    public Prediction<TokenGrid> predict(Example<TokenGrid> example) {
        return innerPredict(List.of(example)).get(0);
    }

    /**
     * Generates a grid per example. Example {@code j} draws with the uniforms of image
     * {@code m_j} of the model seed's run, {@code m_j} its seed metadata (0 when absent): the grid
     * does not depend on the other examples. Examples whose indices run consecutively are
     * generated in one batch.
     */
    @Override
    protected List<Prediction<TokenGrid>> innerPredict(Iterable<Example<TokenGrid>> examples) {
        List<Example<TokenGrid>> all = new ArrayList<>();
        for (Example<TokenGrid> ex : examples) {
            all.add(ex);
        }
        int n = all.size();
        long[] classes = new long[n];
        long[] index = new long[n];
        for (int i = 0; i < n; i++) {
            classes[i] = ClassCondition.classOf(all.get(i), classFeature, config.numClasses());
            index[i] = exampleIndex(all.get(i));
        }
        List<TokenGrid> grids = new ArrayList<>(n);
        int start = 0;
        while (start < n) {
            int end = start + 1;
            while (end < n && end - start < batchSize && index[end] == index[end - 1] + 1) {
                end++;
            }
            grids.addAll(generateBatch(java.util.Arrays.copyOfRange(classes, start, end), seed, index[start]));
            start = end;
        }
        List<Prediction<TokenGrid>> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(new Prediction<>(grids.get(i), all.get(i).size(), all.get(i)));
        }
        return out;
    }

    /**
     * Generates one grid per class with the model's sampling settings, in batches of
     * {@link #getBatchSize()}: image {@code i} uses the uniforms of image {@code i} of
     * {@code runSeed}, exactly as {@code npp sample --seed runSeed} does. With the model seed,
     * image {@code i} is what {@link #predict} gives for an example of that class with seed
     * metadata {@code i}.
     *
     * @param classes class index per image
     * @param runSeed the run's seed
     * @return grids with their log-likelihood under the conditional model as score
     */
    public List<TokenGrid> generate(int[] classes, long runSeed) {
        long[] cls = new long[classes.length];
        for (int i = 0; i < classes.length; i++) {
            if (classes[i] < 0 || classes[i] >= config.numClasses()) {
                throw new IllegalArgumentException("unknown class " + classes[i] + ": the model knows classes 0.."
                        + (config.numClasses() - 1));
            }
            cls[i] = classes[i];
        }
        List<TokenGrid> out = new ArrayList<>(classes.length);
        for (int start = 0; start < cls.length; start += batchSize) {
            int end = Math.min(cls.length, start + batchSize);
            out.addAll(generateBatch(java.util.Arrays.copyOfRange(cls, start, end), runSeed, start));
        }
        return out;
    }

    /** One batch through the project's DJL sampler, scored teacher-forced. */
    private List<TokenGrid> generateBatch(long[] classes, long runSeed, long firstImage) {
        int t = config.blockSize();
        int g = config.gridSide();
        int b = classes.length;
        List<TokenGrid> out = new ArrayList<>(b);
        synchronized (lock()) {
            Gpt m = engineModel();
            long[] flat = new DjlSampler(m, sampling).generate(classes, runSeed, firstImage);
            long[][] rows = new long[b][t];
            int[] cls = new int[b];
            for (int i = 0; i < b; i++) {
                System.arraycopy(flat, i * t, rows[i], 0, t);
                cls[i] = (int) classes[i];
            }
            double[] ll = NppEngine.logLikelihood(m, rows, cls);
            for (int i = 0; i < b; i++) {
                int[] ti = new int[t];
                for (int j = 0; j < t; j++) {
                    ti[j] = (int) rows[i][j];
                }
                out.add(new TokenGrid(g, ti, ll[i]));
            }
        }
        return out;
    }

    // ---- scoring ------------------------------------------------------------------------------

    /**
     * Teacher-forced scores of ground-truth grids: negative log-likelihood (nats, summed over the
     * grid), argmax hits and token count per example, without dropout and without guidance.
     */
    @Override
    public List<Score> scoreTeacherForced(List<? extends Example<TokenGrid>> examples) {
        int t = config.blockSize();
        List<Score> out = new ArrayList<>(examples.size());
        synchronized (lock()) {
            Gpt m = engineModel();
            for (int start = 0; start < examples.size(); start += batchSize) {
                int n = Math.min(batchSize, examples.size() - start);
                long[][] tokens = new long[n][];
                int[] cls = new int[n];
                for (int i = 0; i < n; i++) {
                    Example<TokenGrid> ex = examples.get(start + i);
                    cls[i] = ClassCondition.classOf(ex, classFeature, config.numClasses());
                    tokens[i] = checkGrid(ex.getOutput(), start + i);
                }
                NppEngine.Scores s = NppEngine.score(m, tokens, cls);
                for (int i = 0; i < n; i++) {
                    out.add(new Score(cls[i], s.nll()[i], s.correct()[i], t));
                }
            }
        }
        return out;
    }

    private long[] checkGrid(TokenGrid grid, int index) {
        if (grid.isUnknown()) {
            throw new IllegalArgumentException("example " + index + " has no ground-truth token grid to score");
        }
        if (grid.size() != config.blockSize()) {
            throw new IllegalArgumentException("example " + index + " has a " + grid.side() + "x" + grid.side()
                    + " grid but the model generates " + config.gridSide() + "x" + config.gridSide());
        }
        if (grid.maxToken() >= config.vocabSize()) {
            throw new IllegalArgumentException("example " + index + " holds token " + grid.maxToken()
                    + " outside the model's vocabulary of " + config.vocabSize());
        }
        return grid.tokensAsLongs();
    }

    // ---- Tribuo's model contract ---------------------------------------------------------------

    /**
     * Whether this model produces outputs of {@code clazz}: only {@link TokenGrid}. (Tribuo's default
     * checks the output domain's members, and a token-grid domain has none, so it would accept any type
     * and {@link #castModel} would let a {@code Model<Label>} through.)
     */
    @Override
    public boolean validate(Class<? extends org.tribuo.Output<?>> clazz) {
        return TokenGrid.class.equals(clazz);
    }

    /** An NPP model has no per-feature weights: empty. */
    @Override
    public Map<String, List<Pair<String, Double>>> getTopFeatures(int n) {
        return Collections.emptyMap();
    }

    /** Generation has no feature-attribution explanation: empty. */
    @Override
    public Optional<Excuse<TokenGrid>> getExcuse(Example<TokenGrid> example) {
        return Optional.empty();
    }

    @Override
    protected NppModel copy(String newName, ModelProvenance newProvenance) {
        NppModel m = new NppModel(newName, newProvenance, featureIDMap, outputIDInfo, config, weights, classFeature,
                seed, sampling, seedMetadataKey, device, batchSize);
        m.classNames = classNames;
        return m;
    }

    /** Java serialisation is not supported (Tribuo 5 removes it): use {@link #serialize()}. */
    private void writeObject(ObjectOutputStream out) throws IOException {
        throw new NotSerializableException("NppModel saves with serialize()/serializeToFile (protobuf), "
                + "not Java serialisation");
    }

    // ---- protobuf -------------------------------------------------------------------------------

    /**
     * The whole model as one protobuf message, weights inline (version 0, the format every version
     * reads). Protobuf messages stop at 2 GB: larger models save with {@link #serializeToFile}, which
     * puts the weights in a file beside the model file.
     *
     * @throws IllegalStateException when the weights do not fit in one message
     */
    @Override
    public ModelProto serialize() {
        NppModelFile writer = new NppModelFile(this);
        long bytes = writer.weightBytes(null);
        if (bytes > MAX_INLINE_BYTES) {
            throw new IllegalStateException("NPP model '" + name + "' has " + bytes + " bytes of weights, more than "
                    + "a protobuf message holds; save it with serializeToFile, which writes them beside the model file");
        }
        return writer.inlineProto(null);
    }

    /**
     * Saves the model: weights inline up to {@link #MAX_INLINE_BYTES} (one self-contained file), else
     * in {@code FILE.weights} beside {@code file} (see {@link #save(Path, DType, WeightsLayout)}).
     */
    @Override
    public void serializeToFile(Path file) throws IOException {
        save(file, null, WeightsLayout.AUTO);
    }

    /**
     * Saves the model to {@code file}.
     * <p>
     * With external weights (version 1 of the format), the weights go to {@code FILE.weights} beside the
     * model file: each tensor raw, little-endian and 64-byte aligned, so loading maps them without
     * copying them onto the Java heap. The model file records the weights file's name, size and
     * SHA-256, which also go into the saved model's provenance (instance values
     * {@value #PROV_WEIGHTS_FILE}, {@value #PROV_WEIGHTS_BYTES}, {@value #PROV_WEIGHTS_SHA256},
     * {@value #PROV_WEIGHTS_DTYPE}); loading checks them. Inline weights are recorded and checked the
     * same way (size and SHA-256 of the tensors' bytes in order, no file name). The pair is saved atomically: the weights
     * file is complete and on disk before the model file that points at it replaces the old one.
     *
     * @param file    the model file
     * @param dtype   storage type of the floating weights: FLOAT32, FLOAT16 or BFLOAT16 (half the size;
     *                loading converts them back to float32 for the engine); null keeps their current type
     * @param layout  inline, external, or automatic (external above {@link #MAX_INLINE_BYTES})
     * @throws NppException when the files cannot be written (the previous files are left as they were)
     */
    public void save(Path file, DType dtype, WeightsLayout layout) {
        save(file, dtype, layout, MAX_INLINE_BYTES);
    }

    /** {@link #save(Path, DType, WeightsLayout)} with another inline limit (tests). */
    void save(Path file, DType dtype, WeightsLayout layout, long maxInlineBytes) {
        new NppModelFile(this).save(file, dtype, layout, maxInlineBytes);
    }

    /**
     * Reads a Tribuo model file like {@code Model.deserializeFromFile}, looking for an NPP model's
     * external weights file beside the model file (Tribuo's hook does not know the file's path; without
     * this, the weights file is looked for where it was saved, then in the working directory). The file
     * is memory-mapped and parsed without copies, so inline weights stay mapped too instead of
     * occupying the Java heap.
     *
     * @throws IOException when the file is not a Tribuo model file
     */
    public static Model<?> deserializeFromFile(Path file) throws IOException {
        return NppModelFile.deserializeFromFile(file);
    }

    /**
     * Loads an NPP model file (inline or external weights; every version), with one-line errors
     * naming the file: not found, not a Tribuo model, another kind of model, weights file missing,
     * truncated or altered.
     */
    public static NppModel load(Path file) {
        return NppModelFile.load(file);
    }

    /**
     * Tribuo's protobuf hook (found by reflection from {@code Model.deserialize}).
     *
     * @param version   the serialised version: 0 weights inline, 1 weights in a file beside the model file
     * @param className the class name recorded in the redirect proto
     * @param message   the packed {@code NppModelProto}
     */
    public static NppModel deserializeFromProto(int version, String className, Any message) {
        return NppModelFile.read(version, className, message);
    }

    // ---- ONNX -----------------------------------------------------------------------------------

    /**
     * The whole-generation graph ({@code gpt-generate.onnx}: an ONNX {@code Loop} with guidance and
     * the project's draw from a {@code uniforms} input) made by the project's exporter, with the
     * model's provenance under Tribuo's {@value ONNXExportable#PROVENANCE_METADATA_FIELD} metadata key
     * as Tribuo's own exporters write it. Weights are stored inline (protobuf's 2 GB limit applies;
     * use {@link #exportOnnxGraphs} for larger models).
     */
    @Override
    public OnnxMl.ModelProto exportONNXModel(String domain, long modelVersion) {
        GptOnnxExporter ex = new GptOnnxExporter(config, weights, false);
        return ex.buildGenerate().build(onnxMetadata(ex, "generate")).toBuilder()
                .setDomain(domain).setModelVersion(modelVersion).setDocString(toString()).build();
    }

    /**
     * Not supported: Tribuo's graph builder has no transformer operators, so an NPP model cannot be
     * written into another Tribuo ONNX graph. Use {@link #exportONNXModel} or {@link #exportOnnxGraphs}.
     */
    @Override
    public ONNXNode writeONNXGraph(ONNXRef<?> input) {
        throw new UnsupportedOperationException("an NPP model cannot be embedded in a Tribuo ONNX graph; "
                + "use exportONNXModel or exportOnnxGraphs");
    }

    /**
     * Writes the prefill, step and generate graphs and {@code manifest.json} into a directory, as
     * {@code npp export-onnx} does: the folder {@code OnnxSampler.open(dir, options)} and
     * {@code npp sample --engine onnx --onnx-dir} take. Each graph carries the model's provenance;
     * the manifest records the configuration, a digest of the weights and the class names when the
     * model knows them ({@code class_names}, which {@code npp serve} shows). The directory must be new,
     * empty, or hold an earlier export of this model's weights, which is replaced.
     *
     * @param dir  output directory (created)
     * @param fp16 store the projection weights as float16
     * @return the files written
     * @throws NppException when {@code dir} holds another model's export or other files
     */
    public List<Path> exportOnnxGraphs(Path dir, boolean fp16) {
        return exportOnnxGraphs(dir, OnnxGraphOptions.defaults().withFp16(fp16));
    }

    /**
     * As {@link #exportOnnxGraphs(Path, boolean)}, with the tokenizer's decoder ({@code vq-decoder.onnx})
     * in the same folder and manifest.
     *
     * @param vq        the tokenizer's configuration (null: no decoder)
     * @param vqWeights the tokenizer's state dict
     * @return the files written
     */
    public List<Path> exportOnnxGraphs(Path dir, boolean fp16, org.nextpatch.config.VqConfig vq, Map<String, Tensor> vqWeights) {
        return exportOnnxGraphs(dir, OnnxGraphOptions.defaults().withFp16(fp16).withDecoder(vq, vqWeights));
    }

    /**
     * The export with every option ({@link OnnxGraphOptions}: float16 or quantized matrices, the
     * tokenizer's decoder, replacing a folder that holds something else).
     *
     * @return the files written
     * @throws NppException when {@code dir} holds another model's export or other files and the
     *                      options do not say to overwrite
     */
    public List<Path> exportOnnxGraphs(Path dir, OnnxGraphOptions options) {
        Map<String, String> prov = new LinkedHashMap<>();
        prov.put("tribuo_model", name);
        prov.put("exported_by", "NppModel.exportOnnxGraphs");
        return NppModelOnnx.export(config, weights, classNames, dir, options, prov,
                Map.of(ONNXExportable.PROVENANCE_METADATA_FIELD, serializeProvenance(provenance)));
    }

    private Map<String, String> onnxMetadata(GptOnnxExporter ex, String graph) {
        Map<String, String> meta = new LinkedHashMap<>(ex.metadata(graph));
        meta.put(ONNXExportable.PROVENANCE_METADATA_FIELD, serializeProvenance(provenance));
        return meta;
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "NppModel(name=%s, dim=%d, layers=%d, heads=%d, vocab=%d, classes=%d, grid=%dx%d, seed=%d)",
                name, config.dim(), config.nLayer(), config.nHead(), config.vocabSize(), config.numClasses(),
                config.gridSide(), config.gridSide(), seed);
    }
}
