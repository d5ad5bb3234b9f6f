package org.nextpatch.tribuo;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.DynamicMessage;
import com.google.protobuf.InvalidProtocolBufferException;
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
import java.nio.file.Files;
import java.nio.file.Path;
import org.nextpatch.sample.DjlSampler;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.train.NppTrainingLoop;
import org.nextpatch.train.TrainConfig;
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
 * The weights are held engine-free and the DJL model is built lazily on the configured device;
 * {@link #close()} frees its native memory. Models save with {@link #serialize()} (Tribuo's
 * protobuf {@code ModelProto}: provenance, domains, configuration, weights, sampling settings) and
 * load with {@code Model.deserializeFromFile}.
 */
public final class NppModel extends Model<TokenGrid> implements TeacherForcedScorer, ONNXExportable, AutoCloseable {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LogManager.getLogger(NppModel.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The serialisation version of {@link #serialize()}. */
    public static final int CURRENT_VERSION = 0;

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

    /** The default sampling settings of a new model: upstream's FID settings with guidance 2.0. */
    public static SamplingSettings defaultSampling() {
        return SamplingSettings.of(2.0);
    }

    // ---- settings -----------------------------------------------------------------------------

    /** The transformer's configuration. */
    public GptConfig getGptConfig() {
        return config;
    }

    /** A copy of the weights as an upstream state dict. */
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

    @Override
    public ModelProto serialize() {
        ModelDataCarrier<TokenGrid> carrier = createDataCarrier();
        DynamicMessage.Builder b = NppProtos.builder(NppProtos.NPP_MODEL)
                .setField(NppProtos.f(NppProtos.NPP_MODEL, "model_data"), carrier.serialize().toByteString())
                .setField(NppProtos.f(NppProtos.NPP_MODEL, "gpt_config_json"), config.toJson().toString())
                .setField(NppProtos.f(NppProtos.NPP_MODEL, "settings_json"), settingsJson());
        var wf = NppProtos.f(NppProtos.NPP_MODEL, "weights");
        for (Map.Entry<String, Tensor> e : weights.entrySet()) {
            b.addRepeatedField(wf, tensorProto(e.getKey(), e.getValue()));
        }
        return ModelProto.newBuilder().setVersion(CURRENT_VERSION).setClassName(NppModel.class.getName())
                .setSerializedData(Any.pack(b.build())).build();
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

    private static Tensor readTensor(DynamicMessage m) {
        @SuppressWarnings("unchecked")
        List<Long> shape = (List<Long>) m.getField(NppProtos.f(NppProtos.TENSOR, "shape"));
        DType dtype;
        try {
            dtype = DType.valueOf(NppProtos.getString(m, "dtype"));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown tensor type '" + NppProtos.getString(m, "dtype") + "'");
        }
        ByteString data = (ByteString) m.getField(NppProtos.f(NppProtos.TENSOR, "data"));
        ByteBuffer buf = ByteBuffer.allocateDirect(data.size()).order(ByteOrder.LITTLE_ENDIAN);
        data.copyTo(buf);
        buf.flip();
        return new Tensor(dtype, shape.stream().mapToLong(Long::longValue).toArray(), buf);
    }

    /**
     * Tribuo's protobuf hook (found by reflection from {@code Model.deserialize}).
     *
     * @param version   the serialised version
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
        LinkedHashMap<String, Tensor> weights = new LinkedHashMap<>();
        for (Object o : (List<Object>) m.getField(NppProtos.f(NppProtos.NPP_MODEL, "weights"))) {
            DynamicMessage t = (DynamicMessage) o;
            weights.put(NppProtos.getString(t, "name"), readTensor(t));
        }
        org.nextpatch.model.GptWeights.check(config, weights, "NPP model file");
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
        if (vq != null) {
            org.nextpatch.config.ModelFit.check(config, vq, "the NPP model", "the tokenizer");
        }
        Map<String, String> prov = new LinkedHashMap<>();
        prov.put("tribuo_model", name);
        prov.put("exported_by", "NppModel.exportOnnxGraphs");
        // The exporter decides when weights go to an external file (protobuf's 2 GB limit).
        return org.nextpatch.onnx.OnnxExport.export(config, weights, vq, vqWeights, dir, fp16, null, prov,
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
