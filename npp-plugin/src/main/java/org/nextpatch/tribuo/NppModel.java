package org.nextpatch.tribuo;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.DynamicMessage;
import com.google.protobuf.InvalidProtocolBufferException;
import com.oracle.labs.mlrg.olcut.provenance.MapProvenance;
import com.oracle.labs.mlrg.olcut.provenance.Provenance;
import com.oracle.labs.mlrg.olcut.provenance.ProvenanceUtil;
import com.oracle.labs.mlrg.olcut.provenance.primitives.HashProvenance;
import com.oracle.labs.mlrg.olcut.provenance.primitives.LongProvenance;
import com.oracle.labs.mlrg.olcut.provenance.primitives.StringProvenance;
import com.oracle.labs.mlrg.olcut.util.Pair;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.config.GptConfig;
import org.nextpatch.model.Gpt;
import org.nextpatch.onnx.GptOnnxExporter;
import org.nextpatch.onnx.OnnxGraphBuilder;
import ai.onnx.proto.OnnxMl;
import org.tribuo.util.onnx.ONNXNode;
import org.tribuo.util.onnx.ONNXRef;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.nextpatch.sample.DjlSampler;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.train.NppTrainingLoop;
import org.nextpatch.train.TrainConfig;
import org.nextpatch.util.AtomicFiles;
import org.nextpatch.util.NppException;
import org.tribuo.Example;
import org.tribuo.Excuse;
import org.tribuo.ImmutableFeatureMap;
import org.tribuo.ImmutableOutputInfo;
import org.tribuo.Model;
import org.tribuo.ONNXExportable;
import org.tribuo.Prediction;
import org.tribuo.impl.ModelDataCarrier;
import org.tribuo.protos.core.ModelDataProto;
import org.tribuo.protos.core.ModelProto;
import org.tribuo.provenance.ModelProvenance;

import java.io.IOException;
import java.io.NotSerializableException;
import java.io.ObjectOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

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
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * The newest serialisation version: 0 keeps the weights inline ({@link #serialize()}, small
     * models), 1 keeps them in a weights file beside the model file. Both load.
     */
    public static final int CURRENT_VERSION = 1;

    /** Above this many MB of weights, {@link #serializeToFile} writes them to a file beside the model file. */
    public static final long INLINE_LIMIT_MB = 256;
    /** The most weight bytes one protobuf message can carry (2 GB less room for the rest). */
    static final long MAX_INLINE_BYTES = (1L << 31) - (64L << 20);

    /** Provenance key (instance values) of the weights file's name, when weights are external. */
    public static final String PROV_WEIGHTS_FILE = "weights-file";
    /** Provenance key of the weights file's size in bytes. */
    public static final String PROV_WEIGHTS_BYTES = "weights-bytes";
    /** Provenance key of the weights file's SHA-256. */
    public static final String PROV_WEIGHTS_SHA256 = "weights-sha256";
    /** Provenance key of the weights' storage type(s) in the weights file. */
    public static final String PROV_WEIGHTS_DTYPE = "weights-dtype";
    private static final Set<String> WEIGHTS_PROVENANCE_KEYS =
            Set.of(PROV_WEIGHTS_FILE, PROV_WEIGHTS_BYTES, PROV_WEIGHTS_SHA256, PROV_WEIGHTS_DTYPE);
    /** {@code ModelProvenance}'s key of the instance values (protected there). */
    private static final String INSTANCE_VALUES = "instance-values";

    /** Where {@link #save} puts the weights. */
    public enum WeightsLayout {
        /** Inside the model file (protobuf), up to about 2 GB. */
        INLINE,
        /** In {@code MODEL.weights} beside the model file, memory-mapped on load. */
        EXTERNAL,
        /** External above {@value NppModel#INLINE_LIMIT_MB} MB, else inline. */
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
        return new NppModel(newName, newProvenance, featureIDMap, outputIDInfo, config, weights, classFeature,
                seed, sampling, seedMetadataKey, device, batchSize);
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
        long bytes = weightBytes(null);
        if (bytes > MAX_INLINE_BYTES) {
            throw new IllegalStateException("NPP model '" + name + "' has " + bytes + " bytes of weights, more than "
                    + "a protobuf message holds; save it with serializeToFile, which writes them beside the model file");
        }
        return proto(provenance, null, null, null, null);
    }

    /**
     * Saves the model: weights inline below {@value #INLINE_LIMIT_MB} MB, else in
     * {@code FILE.weights} beside {@code file} (see {@link #save(Path, DType, WeightsLayout)}).
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
     * {@value #PROV_WEIGHTS_DTYPE}); loading checks them. The pair is saved atomically: the weights
     * file is complete and on disk before the model file that points at it replaces the old one.
     *
     * @param file    the model file
     * @param dtype   storage type of the floating weights: FLOAT32, FLOAT16 or BFLOAT16 (half the size;
     *                loading converts them back to float32 for the engine); null keeps their current type
     * @param layout  inline, external, or automatic (external above {@value #INLINE_LIMIT_MB} MB)
     * @throws NppException when the files cannot be written (the previous files are left as they were)
     */
    public void save(Path file, DType dtype, WeightsLayout layout) {
        if (dtype != null && dtype != DType.FLOAT32 && dtype != DType.FLOAT16 && dtype != DType.BFLOAT16) {
            throw new IllegalArgumentException("weights can be stored as FLOAT32, FLOAT16 or BFLOAT16, not " + dtype);
        }
        Path target = file.toAbsolutePath();
        Path weightsTarget = target.resolveSibling(ModelWeightsFile.nameFor(target));
        long bytes = weightBytes(dtype);
        boolean external = layout == WeightsLayout.EXTERNAL
                || (layout == WeightsLayout.AUTO && bytes > INLINE_LIMIT_MB * (1L << 20));
        if (!external) {
            if (bytes > MAX_INLINE_BYTES) {
                throw new NppException("cannot save " + file + " with inline weights: " + bytes
                        + " bytes do not fit in a protobuf message; use external weights");
            }
            ModelProto proto = proto(withWeightsProvenance(null, null), dtype, null, null, null);
            AtomicFiles.write(target, proto::writeTo);
            deleteQuietly(weightsTarget); // a previous external save's weights, now unreferenced
            return;
        }
        Path tmpWeights = null;
        Path tmpModel = null;
        try {
            Files.createDirectories(target.getParent());
            tmpWeights = Files.createTempFile(target.getParent(), "." + weightsTarget.getFileName() + ".", ".tmp");
            tmpModel = Files.createTempFile(target.getParent(), "." + target.getFileName() + ".", ".tmp");
            long t0 = System.nanoTime();
            ModelWeightsFile.Written w = ModelWeightsFile.write(tmpWeights, weights, dtype);
            ModelProvenance saved = withWeightsProvenance(w, weightsTarget.getFileName().toString());
            ModelProto proto = proto(saved, dtype, w, weightsTarget.getFileName().toString(), weightsTarget.toString());
            try (var out = new java.io.BufferedOutputStream(Files.newOutputStream(tmpModel))) {
                proto.writeTo(out);
            }
            AtomicFiles.readableByAll(tmpWeights);
            AtomicFiles.readableByAll(tmpModel);
            // weights first: a model file never points at a weights file that is not complete
            move(tmpWeights, weightsTarget);
            tmpWeights = null;
            move(tmpModel, target);
            tmpModel = null;
            LOG.info("saved {} and {} ({} bytes of weights, SHA-256 {}) in {} s", target, weightsTarget.getFileName(),
                    w.size(), w.sha256(), String.format(Locale.ROOT, "%.1f", (System.nanoTime() - t0) / 1e9));
        } catch (IOException e) {
            throw new NppException("cannot write " + file + ": " + e.getMessage(), e);
        } finally {
            deleteQuietly(tmpWeights);
            deleteQuietly(tmpModel);
        }
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static void deleteQuietly(Path p) {
        if (p != null) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                LOG.debug("could not delete {}: {}", p, e.getMessage());
            }
        }
    }

    /** Bytes of the weights when stored as {@code dtype} (null: as they are). */
    private long weightBytes(DType dtype) {
        long n = 0;
        for (Tensor t : weights.values()) {
            n += t.numel() * ModelWeightsFile.storedType(t, dtype).bytes();
        }
        return n;
    }

    /**
     * The provenance to save: this model's, with the weights-file values replaced by those of
     * {@code w} (or removed when the weights are inline). Machine and version fields stay as they were.
     */
    private ModelProvenance withWeightsProvenance(ModelWeightsFile.Written w, String fileName) {
        Map<String, Provenance> instance = new LinkedHashMap<>(provenance.getInstanceProvenance().getMap());
        boolean had = instance.keySet().removeAll(WEIGHTS_PROVENANCE_KEYS);
        if (w == null && !had) {
            return provenance;
        }
        if (w != null) {
            instance.put(PROV_WEIGHTS_FILE, new StringProvenance(PROV_WEIGHTS_FILE, fileName));
            instance.put(PROV_WEIGHTS_BYTES, new LongProvenance(PROV_WEIGHTS_BYTES, w.size()));
            instance.put(PROV_WEIGHTS_SHA256, new HashProvenance(ProvenanceUtil.HashType.SHA256, PROV_WEIGHTS_SHA256, w.sha256()));
            instance.put(PROV_WEIGHTS_DTYPE, new StringProvenance(PROV_WEIGHTS_DTYPE, storageTypes(w.entries())));
        }
        Map<String, Provenance> all = new LinkedHashMap<>();
        for (Pair<String, Provenance> p : provenance) {
            all.put(p.getA(), p.getB());
        }
        all.put(INSTANCE_VALUES, new MapProvenance<>(instance));
        return new ModelProvenance(all);
    }

    private static String storageTypes(List<ModelWeightsFile.Entry> entries) {
        return entries.stream().map(e -> e.dtype().name().toLowerCase(Locale.ROOT)).distinct()
                .collect(java.util.stream.Collectors.joining(","));
    }

    /** The model proto: weights inline when {@code external} is null, else the external layout. */
    private ModelProto proto(ModelProvenance prov, DType dtype, ModelWeightsFile.Written external, String weightsFile,
                             String savedPath) {
        ModelDataCarrier<TokenGrid> carrier = new ModelDataCarrier<>(name, prov, featureIDMap, outputIDInfo,
                generatesProbabilities, org.tribuo.Tribuo.VERSION);
        DynamicMessage.Builder b = NppProtos.builder(NppProtos.NPP_MODEL)
                .setField(NppProtos.f(NppProtos.NPP_MODEL, "model_data"), carrier.serialize().toByteString())
                .setField(NppProtos.f(NppProtos.NPP_MODEL, "gpt_config_json"), config.toJson().toString())
                .setField(NppProtos.f(NppProtos.NPP_MODEL, "settings_json"), settingsJson());
        var wf = NppProtos.f(NppProtos.NPP_MODEL, "weights");
        if (external == null) {
            for (Map.Entry<String, Tensor> e : weights.entrySet()) {
                b.addRepeatedField(wf, tensorProto(e.getKey(), ModelWeightsFile.convert(e.getValue(), dtype)));
            }
        } else {
            for (ModelWeightsFile.Entry e : external.entries()) {
                b.addRepeatedField(wf, entryProto(e));
            }
            b.setField(NppProtos.f(NppProtos.NPP_MODEL, "weights_file"), weightsFile)
                    .setField(NppProtos.f(NppProtos.NPP_MODEL, "weights_bytes"), external.size())
                    .setField(NppProtos.f(NppProtos.NPP_MODEL, "weights_sha256"), external.sha256())
                    .setField(NppProtos.f(NppProtos.NPP_MODEL, "weights_saved_path"), savedPath);
        }
        return ModelProto.newBuilder().setVersion(external == null ? 0 : CURRENT_VERSION)
                .setClassName(NppModel.class.getName()).setSerializedData(Any.pack(b.build())).build();
    }

    private String settingsJson() {
        ObjectNode s = JSON.createObjectNode();
        s.put("class_feature", classFeature);
        s.put("seed", seed);
        if (seedMetadataKey != null) {
            s.put("seed_metadata_key", seedMetadataKey);
        }
        s.put("device", device);
        s.put("batch_size", batchSize);
        ObjectNode sm = s.putObject("sampling");
        sm.put("cfg_scale", sampling.cfgScale()).put("cfg_interval", sampling.cfgInterval())
                .put("temperature", sampling.temperature()).put("top_k", sampling.topK())
                .put("top_p", sampling.topP()).put("greedy", sampling.greedy());
        return s.toString();
    }

    private static DynamicMessage tensorProto(String name, Tensor t) {
        DynamicMessage.Builder b = NppProtos.builder(NppProtos.TENSOR)
                .setField(NppProtos.f(NppProtos.TENSOR, "name"), name)
                .setField(NppProtos.f(NppProtos.TENSOR, "dtype"), t.dtype().name())
                .setField(NppProtos.f(NppProtos.TENSOR, "data"), ByteString.copyFrom(t.data()));
        var sf = NppProtos.f(NppProtos.TENSOR, "shape");
        for (long d : t.shape()) {
            b.addRepeatedField(sf, d);
        }
        return b.build();
    }

    private static DynamicMessage entryProto(ModelWeightsFile.Entry e) {
        DynamicMessage.Builder b = NppProtos.builder(NppProtos.TENSOR)
                .setField(NppProtos.f(NppProtos.TENSOR, "name"), e.name())
                .setField(NppProtos.f(NppProtos.TENSOR, "dtype"), e.dtype().name())
                .setField(NppProtos.f(NppProtos.TENSOR, "offset"), e.offset());
        var sf = NppProtos.f(NppProtos.TENSOR, "shape");
        for (long d : e.shape()) {
            b.addRepeatedField(sf, d);
        }
        return b.build();
    }

    private static DType readDtype(DynamicMessage m) {
        try {
            return DType.valueOf(NppProtos.getString(m, "dtype"));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown tensor type '" + NppProtos.getString(m, "dtype") + "'");
        }
    }

    @SuppressWarnings("unchecked")
    private static long[] readShape(DynamicMessage m) {
        List<Long> shape = (List<Long>) m.getField(NppProtos.f(NppProtos.TENSOR, "shape"));
        return shape.stream().mapToLong(Long::longValue).toArray();
    }

    private static Tensor readTensor(DynamicMessage m) {
        ByteString data = (ByteString) m.getField(NppProtos.f(NppProtos.TENSOR, "data"));
        ByteBuffer buf = ByteBuffer.allocateDirect(data.size()).order(ByteOrder.LITTLE_ENDIAN);
        data.copyTo(buf);
        buf.flip();
        return new Tensor(readDtype(m), readShape(m), buf);
    }

    /** The directory of the model file being read by {@link #load}, where its weights file lies. */
    private static final ThreadLocal<Path> LOADING_FROM = new ThreadLocal<>();

    /**
     * Reads a Tribuo model file like {@code Model.deserializeFromFile}, looking for an NPP model's
     * external weights file beside the model file (Tribuo's hook does not know the file's path; without
     * this, the weights file is looked for where it was saved, then in the working directory).
     *
     * @throws IOException when the file is not a Tribuo model file
     */
    public static Model<?> deserializeFromFile(Path file) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Path before = LOADING_FROM.get();
        LOADING_FROM.set(dir);
        try {
            return Model.deserializeFromFile(file);
        } finally {
            if (before == null) {
                LOADING_FROM.remove();
            } else {
                LOADING_FROM.set(before);
            }
        }
    }

    /**
     * Loads an NPP model file (inline or external weights; every version), with one-line errors
     * naming the file: not found, not a Tribuo model, another kind of model, weights file missing,
     * truncated or altered.
     */
    public static NppModel load(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new NppException("model file not found: " + file);
        }
        Model<?> m;
        try {
            m = deserializeFromFile(file);
        } catch (IOException e) {
            throw new NppException(file + " is not a Tribuo model file (protobuf ModelProto): " + e.getMessage(), e);
        } catch (NppException e) {
            throw e;
        } catch (RuntimeException e) {
            Throwable root = e;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
                if (root instanceof NppException) {
                    throw (NppException) root;
                }
            }
            throw new NppException("cannot read model " + file + ": " + root.getMessage(), e);
        }
        if (!(m instanceof NppModel)) {
            throw new NppException(file + " holds a " + m.getClass().getSimpleName() + ", not an NPP model");
        }
        return (NppModel) m;
    }

    /** Where an external weights file is: beside the model file being loaded, else where it was saved. */
    private static Path weightsPath(String fileName, String savedPath) {
        if (Path.of(fileName).getNameCount() != 1) {
            throw new IllegalArgumentException("NPP model file names its weights file '" + fileName
                    + "', which is not a plain file name");
        }
        Path dir = LOADING_FROM.get();
        if (dir != null) {
            return dir.resolve(fileName);
        }
        if (!savedPath.isEmpty() && Files.isRegularFile(Path.of(savedPath))) {
            return Path.of(savedPath);
        }
        return Path.of(fileName);
    }

    /**
     * Tribuo's protobuf hook (found by reflection from {@code Model.deserialize}).
     *
     * @param version   the serialised version: 0 weights inline, 1 weights in a file beside the model file
     * @param className the class name recorded in the redirect proto
     * @param message   the packed {@code NppModelProto}
     */
    @SuppressWarnings("unchecked")
    public static NppModel deserializeFromProto(int version, String className, Any message) {
        NppProtos.checkVersion(version, CURRENT_VERSION, className);
        DynamicMessage m = NppProtos.unpack(message, NppProtos.NPP_MODEL);
        ModelDataCarrier<?> carrier;
        try {
            carrier = ModelDataCarrier.deserialize(ModelDataProto.parseFrom(
                    (ByteString) m.getField(NppProtos.f(NppProtos.NPP_MODEL, "model_data"))));
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalArgumentException("corrupt model data in NPP model: " + e.getMessage(), e);
        }
        if (!(carrier.outputDomain() instanceof ImmutableTokenGridInfo)) {
            throw new IllegalArgumentException("NPP model's output domain is not a token grid domain: "
                    + carrier.outputDomain().getClass().getName());
        }
        GptConfig config;
        JsonNode settings;
        try {
            config = GptConfig.fromJson(JSON.readTree(NppProtos.getString(m, "gpt_config_json")));
            settings = JSON.readTree(NppProtos.getString(m, "settings_json"));
        } catch (IOException e) {
            throw new IllegalArgumentException("corrupt configuration in NPP model: " + e.getMessage(), e);
        }
        List<Object> tensors = (List<Object>) m.getField(NppProtos.f(NppProtos.NPP_MODEL, "weights"));
        String weightsFile = NppProtos.getString(m, "weights_file");
        LinkedHashMap<String, Tensor> weights = new LinkedHashMap<>();
        String source = "NPP model file";
        if (weightsFile.isEmpty()) {
            for (Object o : tensors) {
                DynamicMessage t = (DynamicMessage) o;
                weights.put(NppProtos.getString(t, "name"), readTensor(t));
            }
        } else {
            List<ModelWeightsFile.Entry> entries = new ArrayList<>(tensors.size());
            for (Object o : tensors) {
                DynamicMessage t = (DynamicMessage) o;
                entries.add(new ModelWeightsFile.Entry(NppProtos.getString(t, "name"), readDtype(t), readShape(t),
                        NppProtos.getLong(t, "offset")));
            }
            Path wp = weightsPath(weightsFile, NppProtos.getString(m, "weights_saved_path"));
            long t0 = System.nanoTime();
            weights = ModelWeightsFile.open(wp, entries, NppProtos.getLong(m, "weights_bytes"),
                    NppProtos.getString(m, "weights_sha256"));
            LOG.info("mapped the weights of {} ({} tensors, SHA-256 checked in {} s)", wp, entries.size(),
                    String.format(Locale.ROOT, "%.1f", (System.nanoTime() - t0) / 1e9));
            source = "NPP model weights file " + wp;
        }
        org.nextpatch.model.GptWeights.check(config, weights, source);
        JsonNode sm = settings.path("sampling");
        SamplingSettings sampling = new SamplingSettings(sm.path("cfg_scale").asDouble(2.0),
                sm.path("cfg_interval").asInt(-1), sm.path("temperature").asDouble(1.0), sm.path("top_k").asInt(0),
                sm.path("top_p").asDouble(1.0), sm.path("greedy").asBoolean(false));
        JsonNode key = settings.get("seed_metadata_key");
        return new NppModel(carrier.name(), carrier.provenance(), carrier.featureDomain(),
                (ImmutableOutputInfo<TokenGrid>) carrier.outputDomain(), config, weights,
                settings.path("class_feature").asText(ClassCondition.DEFAULT_NAME), settings.path("seed").asLong(),
                sampling, key == null || key.isNull() ? null : key.asText(), settings.path("device").asText("cpu"),
                settings.path("batch_size").asInt(16));
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
     * the manifest records the configuration and a digest of the weights. Files of an earlier export
     * in the directory are replaced.
     *
     * @param dir  output directory (created)
     * @param fp16 store the projection weights as float16
     * @return the files written
     */
    public List<Path> exportOnnxGraphs(Path dir, boolean fp16) {
        return exportOnnxGraphs(dir, fp16, null, null);
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
        return exportOnnxGraphs(dir, fp16, null, vq, vqWeights);
    }

    /**
     * As {@link #exportOnnxGraphs(Path, boolean, org.nextpatch.config.VqConfig, Map)}, with the
     * projection and output-head matrices stored quantized ({@code WeightQuantization.INT8} or
     * {@code INT4}; null: float), as {@code npp export-onnx --quantize} writes them.
     *
     * @param quantization weight-only quantization, or null; not together with {@code fp16}
     * @return the files written
     */
    public List<Path> exportOnnxGraphs(Path dir, boolean fp16, org.nextpatch.onnx.WeightQuantization quantization,
                                       org.nextpatch.config.VqConfig vq, Map<String, Tensor> vqWeights) {
        if (vq != null) {
            org.nextpatch.config.ModelFit.check(config, vq, "the NPP model", "the tokenizer");
        }
        Map<String, String> prov = new LinkedHashMap<>();
        prov.put("tribuo_model", name);
        prov.put("exported_by", "NppModel.exportOnnxGraphs");
        // The exporter decides when weights go to an external file (protobuf's 2 GB limit).
        return org.nextpatch.onnx.OnnxExport.export(config, weights, vq, vqWeights, dir, fp16, quantization, null, prov,
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
