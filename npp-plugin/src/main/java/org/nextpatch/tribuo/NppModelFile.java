package org.nextpatch.tribuo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.DynamicMessage;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
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
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.tribuo.NppModel.WeightsLayout;
import org.nextpatch.util.AtomicFiles;
import org.nextpatch.util.NppException;
import org.tribuo.ImmutableFeatureMap;
import org.tribuo.ImmutableOutputInfo;
import org.tribuo.Model;
import org.tribuo.impl.ModelDataCarrier;
import org.tribuo.protos.core.ModelDataProto;
import org.tribuo.protos.core.ModelProto;
import org.tribuo.provenance.ModelProvenance;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

import static org.nextpatch.tribuo.NppModel.CURRENT_VERSION;
import static org.nextpatch.tribuo.NppModel.MAX_INLINE_BYTES;
import static org.nextpatch.tribuo.NppModel.PROV_WEIGHTS_BYTES;
import static org.nextpatch.tribuo.NppModel.PROV_WEIGHTS_DTYPE;
import static org.nextpatch.tribuo.NppModel.PROV_WEIGHTS_FILE;
import static org.nextpatch.tribuo.NppModel.PROV_WEIGHTS_SHA256;

/**
 * The NPP model file format (see docs/formats.md): Tribuo's {@code ModelProto} carrying an
 * {@code NppModelProto} ({@link NppProtos}) with the weights inline or in a weights file beside it
 * ({@link ModelWeightsFile}), their size and SHA-256 in the proto and the provenance. An instance
 * writes one model (a snapshot of its state); the static methods read.
 */
final class NppModelFile {
    private static final Logger LOG = LogManager.getLogger(NppModelFile.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> WEIGHTS_PROVENANCE_KEYS =
            Set.of(PROV_WEIGHTS_FILE, PROV_WEIGHTS_BYTES, PROV_WEIGHTS_SHA256, PROV_WEIGHTS_DTYPE);
    /** {@code ModelProvenance}'s key of the instance values (protected there). */
    private static final String INSTANCE_VALUES = "instance-values";

    // the model being written
    private final String name;
    private final ModelProvenance provenance;
    private final ImmutableFeatureMap featureIDMap;
    private final ImmutableOutputInfo<TokenGrid> outputIDInfo;
    private final boolean generatesProbabilities;
    private final GptConfig config;
    private final Map<String, Tensor> weights;
    private final String classFeature;
    private final long seed;
    private final String seedMetadataKey;
    private final String device;
    private final int batchSize;
    private final SamplingSettings sampling;
    private final List<String> classNames;

    /** A writer of {@code model} (its settings as they are now). */
    NppModelFile(NppModel model) {
        this.name = model.getName();
        this.provenance = model.getProvenance();
        this.featureIDMap = model.getFeatureIDMap();
        this.outputIDInfo = model.getOutputIDInfo();
        this.generatesProbabilities = model.generatesProbabilities();
        this.config = model.getGptConfig();
        this.weights = model.getWeights();
        this.classFeature = model.getClassFeature();
        this.seed = model.getSeed();
        this.seedMetadataKey = model.getSeedMetadataKey();
        this.device = model.getDevice();
        this.batchSize = model.getBatchSize();
        this.sampling = model.getSamplingSettings();
        this.classNames = model.getClassNames();
    }

    /** {@link NppModel#save(Path, DType, NppModel.WeightsLayout)} with a given inline limit. */
    void save(Path file, DType dtype, WeightsLayout layout, long maxInlineBytes) {
        if (dtype != null && dtype != DType.FLOAT32 && dtype != DType.FLOAT16 && dtype != DType.BFLOAT16) {
            throw new IllegalArgumentException("weights can be stored as FLOAT32, FLOAT16 or BFLOAT16, not " + dtype);
        }
        Path target = file.toAbsolutePath();
        Path weightsTarget = target.resolveSibling(ModelWeightsFile.nameFor(target));
        long bytes = weightBytes(dtype);
        boolean external = layout == WeightsLayout.EXTERNAL
                || (layout == WeightsLayout.AUTO && bytes > maxInlineBytes);
        if (!external) {
            if (bytes > Math.min(maxInlineBytes, MAX_INLINE_BYTES)) {
                throw new NppException("cannot save " + file + " with inline weights: " + bytes
                        + " bytes do not fit in a protobuf message; use external weights");
            }
            long t0 = System.nanoTime();
            ModelWeightsFile.Written w = ModelWeightsFile.digest(weights, dtype);
            DynamicMessage header = inlineHeader(w);
            AtomicFiles.write(target, out -> InlineModelWriter.write(out, NppModel.class.getName(), header, weights,
                    w.entries()));
            LOG.info("saved {} ({} bytes of weights inline, SHA-256 {}) in {} s", target, w.size(), w.sha256(),
                    String.format(Locale.ROOT, "%.1f", (System.nanoTime() - t0) / 1e9));
            deleteQuietly(weightsTarget); // a previous external save's weights, now unreferenced
            return;
        }
        Path tmpWeights = null;
        Path tmpModel = null;
        try {
            Files.createDirectories(target.getParent());
            tmpWeights = AtomicFiles.createTemp(target.getParent(), weightsTarget.getFileName().toString());
            tmpModel = AtomicFiles.createTemp(target.getParent(), target.getFileName().toString());
            long t0 = System.nanoTime();
            ModelWeightsFile.Written w = ModelWeightsFile.write(tmpWeights, weights, dtype);
            ModelProvenance saved = withWeightsProvenance(w, weightsTarget.getFileName().toString());
            ModelProto proto = externalProto(saved, w, weightsTarget.getFileName().toString(), weightsTarget.toString());
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
    long weightBytes(DType dtype) {
        long n = 0;
        for (Tensor t : weights.values()) {
            n += t.numel() * ModelWeightsFile.storedType(t, dtype).bytes();
        }
        return n;
    }

    /**
     * The provenance to save: this model's, with the weights values replaced by those of {@code w}
     * (the weights file's name only when {@code fileName} is given: external weights). Machine and
     * version fields stay as they were; a provenance that already records these values is returned as it is.
     */
    private ModelProvenance withWeightsProvenance(ModelWeightsFile.Written w, String fileName) {
        Map<String, ? extends Provenance> old = provenance.getInstanceProvenance().getMap();
        Map<String, Provenance> instance = new LinkedHashMap<>(old);
        instance.keySet().removeAll(WEIGHTS_PROVENANCE_KEYS);
        instance.putAll(weightsProvenance(w, fileName));
        if (instance.equals(old)) {
            return provenance;
        }
        Map<String, Provenance> all = new LinkedHashMap<>();
        for (Pair<String, Provenance> p : provenance) {
            all.put(p.getA(), p.getB());
        }
        all.put(INSTANCE_VALUES, new MapProvenance<>(instance));
        return new ModelProvenance(all);
    }

    /**
     * The instance values recording stored weights: size, SHA-256 and storage type, and the weights
     * file's name when {@code fileName} is given.
     */
    static Map<String, Provenance> weightsProvenance(ModelWeightsFile.Written w, String fileName) {
        Map<String, Provenance> out = new LinkedHashMap<>();
        if (fileName != null) {
            out.put(PROV_WEIGHTS_FILE, new StringProvenance(PROV_WEIGHTS_FILE, fileName));
        }
        out.put(PROV_WEIGHTS_BYTES, new LongProvenance(PROV_WEIGHTS_BYTES, w.size()));
        out.put(PROV_WEIGHTS_SHA256, new HashProvenance(ProvenanceUtil.HashType.SHA256, PROV_WEIGHTS_SHA256, w.sha256()));
        out.put(PROV_WEIGHTS_DTYPE, new StringProvenance(PROV_WEIGHTS_DTYPE, storageTypes(w.entries())));
        return out;
    }

    /** The instance values recording weights kept inline as they are (for a new model's provenance). */
    static Map<String, Provenance> inlineWeightsProvenance(Map<String, Tensor> weights) {
        return weightsProvenance(ModelWeightsFile.digest(weights), null);
    }

    private static String storageTypes(List<ModelWeightsFile.Entry> entries) {
        return entries.stream().map(e -> e.dtype().name().toLowerCase(Locale.ROOT)).distinct()
                .collect(java.util.stream.Collectors.joining(","));
    }

    /**
     * The model proto with the weights inline (version 0), stored as {@code dtype} (null: as they
     * are), with their size and SHA-256 in the proto and the provenance.
     */
    ModelProto inlineProto(DType dtype) {
        LinkedHashMap<String, Tensor> stored = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : weights.entrySet()) {
            stored.put(e.getKey(), ModelWeightsFile.convert(e.getValue(), dtype));
        }
        DynamicMessage.Builder b = inlineHeader(ModelWeightsFile.digest(stored)).toBuilder();
        var wf = NppProtos.f(NppProtos.NPP_MODEL, "weights");
        for (Map.Entry<String, Tensor> e : stored.entrySet()) {
            b.addRepeatedField(wf, tensorProto(e.getKey(), e.getValue()));
        }
        return pack(0, b);
    }

    /** The {@code NppModelProto} fields of an inline model other than the weights: provenance and digest. */
    private DynamicMessage inlineHeader(ModelWeightsFile.Written w) {
        return protoBuilder(withWeightsProvenance(w, null))
                .setField(NppProtos.f(NppProtos.NPP_MODEL, "weights_bytes"), w.size())
                .setField(NppProtos.f(NppProtos.NPP_MODEL, "weights_sha256"), w.sha256()).build();
    }

    /** The model proto pointing at an external weights file (version 1). */
    private ModelProto externalProto(ModelProvenance prov, ModelWeightsFile.Written external, String weightsFile,
                                     String savedPath) {
        DynamicMessage.Builder b = protoBuilder(prov);
        var wf = NppProtos.f(NppProtos.NPP_MODEL, "weights");
        for (ModelWeightsFile.Entry e : external.entries()) {
            b.addRepeatedField(wf, entryProto(e));
        }
        b.setField(NppProtos.f(NppProtos.NPP_MODEL, "weights_file"), weightsFile)
                .setField(NppProtos.f(NppProtos.NPP_MODEL, "weights_bytes"), external.size())
                .setField(NppProtos.f(NppProtos.NPP_MODEL, "weights_sha256"), external.sha256())
                .setField(NppProtos.f(NppProtos.NPP_MODEL, "weights_saved_path"), savedPath);
        return pack(CURRENT_VERSION, b);
    }

    /** The model proto's fields other than the weights. */
    private DynamicMessage.Builder protoBuilder(ModelProvenance prov) {
        ModelDataCarrier<TokenGrid> carrier = new ModelDataCarrier<>(name, prov, featureIDMap, outputIDInfo,
                generatesProbabilities, org.tribuo.Tribuo.VERSION);
        return NppProtos.builder(NppProtos.NPP_MODEL)
                .setField(NppProtos.f(NppProtos.NPP_MODEL, "model_data"), carrier.serialize().toByteString())
                .setField(NppProtos.f(NppProtos.NPP_MODEL, "gpt_config_json"), config.toJson().toString())
                .setField(NppProtos.f(NppProtos.NPP_MODEL, "settings_json"), settingsJson());
    }

    private static ModelProto pack(int version, DynamicMessage.Builder b) {
        return ModelProto.newBuilder().setVersion(version)
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
        if (!classNames.isEmpty()) {
            classNames.forEach(s.putArray("class_names")::add);
        }
        return s.toString();
    }

    private static DynamicMessage tensorProto(String name, Tensor t) {
        DynamicMessage.Builder b = NppProtos.builder(NppProtos.TENSOR)
                .setField(NppProtos.f(NppProtos.TENSOR, "name"), name)
                .setField(NppProtos.f(NppProtos.TENSOR, "dtype"), t.dtype().name())
                // the tensor's bytes are read-only: no copy
                .setField(NppProtos.f(NppProtos.TENSOR, "data"), UnsafeByteOperations.unsafeWrap(t.data()));
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

    /** An inline tensor: a read-only view of the bytes the message was parsed from (no copy). */
    private static Tensor readTensor(DynamicMessage m) {
        ByteString data = (ByteString) m.getField(NppProtos.f(NppProtos.TENSOR, "data"));
        return new Tensor(readDtype(m), readShape(m), data.asReadOnlyByteBuffer());
    }

    /** The model file being read by {@link #load}: its weights file lies beside it; errors name it. */
    private static final ThreadLocal<Path> LOADING_FROM = new ThreadLocal<>();

    /**
     * Reads a Tribuo model file like {@code Model.deserializeFromFile}, looking for an NPP model's
     * external weights file beside the model file (Tribuo's hook does not know the file's path; without
     * this, the weights file is looked for where it was saved, then in the working directory). The file
     * is memory-mapped and parsed without copies, so inline weights stay mapped too instead of
     * occupying the Java heap.
     *
     * @throws IOException when the file is not a Tribuo model file
     */
    static Model<?> deserializeFromFile(Path file) throws IOException {
        Path before = LOADING_FROM.get();
        LOADING_FROM.set(file.toAbsolutePath());
        try (FileChannel ch = FileChannel.open(file)) {
            if (ch.size() > Integer.MAX_VALUE) {
                throw new IOException(file + " has " + ch.size() + " bytes, more than a protobuf message can hold");
            }
            ByteString bytes = UnsafeByteOperations.unsafeWrap(ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size()));
            CodedInputStream in = bytes.newCodedInput();
            in.enableAliasing(true);
            return Model.deserialize(ModelProto.parseFrom(in));
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
    static NppModel load(Path file) {
        Model<?> m = ModelFiles.load(file);
        if (!(m instanceof NppModel)) {
            throw new NppException(file + " holds a " + m.getClass().getSimpleName() + ", not an NPP model");
        }
        return (NppModel) m;
    }

    /**
     * Where an external weights file is: beside the model file being loaded, else (Tribuo's own
     * loader, which does not say where the model file is) where it was saved, else in the working directory.
     */
    private static Path weightsPath(String fileName, String savedPath) {
        if (Path.of(fileName).getNameCount() != 1) {
            throw new IllegalArgumentException("NPP model file names its weights file '" + fileName
                    + "', which is not a plain file name");
        }
        Path file = LOADING_FROM.get();
        if (file != null) {
            return file.resolveSibling(fileName);
        }
        if (!savedPath.isEmpty() && Files.isRegularFile(Path.of(savedPath))) {
            return Path.of(savedPath);
        }
        if (!Files.isRegularFile(Path.of(fileName))) {
            throw new NppException("NPP model weights file " + fileName + " is neither where the model was saved ("
                    + savedPath + ") nor in the working directory: Tribuo's Model.deserializeFromFile does not tell "
                    + "the model where its file is; load a moved model with NppModel.load(path), which looks beside the model file");
        }
        return Path.of(fileName);
    }

    /** How errors name the model file being read. */
    private static String modelFileName() {
        Path file = LOADING_FROM.get();
        return file == null ? "NPP model file" : "NPP model file " + file;
    }

    /**
     * Tribuo's protobuf hook (found by reflection from {@code Model.deserialize}).
     *
     * @param version   the serialised version: 0 weights inline, 1 weights in a file beside the model file
     * @param className the class name recorded in the redirect proto
     * @param message   the packed {@code NppModelProto}
     */
    @SuppressWarnings("unchecked")
    static NppModel read(int version, String className, Any message) {
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
            checkInlineDigest(weights, NppProtos.getLong(m, "weights_bytes"), NppProtos.getString(m, "weights_sha256"));
            source = modelFileName();
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
        NppModel model = new NppModel(carrier.name(), carrier.provenance(), carrier.featureDomain(),
                (ImmutableOutputInfo<TokenGrid>) carrier.outputDomain(), config, weights,
                settings.path("class_feature").asText(ClassCondition.DEFAULT_NAME), settings.path("seed").asLong(),
                sampling, key == null || key.isNull() ? null : key.asText(), settings.path("device").asText("cpu"),
                settings.path("batch_size").asInt(16));
        try {
            model.setClassNames(classNames(settings));
        } catch (IllegalArgumentException e) {
            throw new NppException(modelFileName() + ": " + e.getMessage().replaceFirst("^classNames", "settings_json class_names"), e);
        }
        return model;
    }

    /** The settings' {@code class_names} (absent in files written before names were kept: none). */
    private static List<String> classNames(JsonNode settings) {
        JsonNode a = settings.get("class_names");
        if (a == null || a.isNull()) {
            return List.of();
        }
        List<String> names = new ArrayList<>();
        if (a.isArray()) {
            a.forEach(n -> names.add(n.isTextual() ? n.asText() : ""));
        }
        if (!a.isArray() || names.contains("")) {
            throw new NppException(modelFileName() + ": settings_json class_names must be an array of non-empty names");
        }
        return names;
    }

    /**
     * Checks inline weights against the size and SHA-256 the model file records. Files written before
     * the digest was recorded (none recorded) load with a warning.
     */
    private static void checkInlineDigest(Map<String, Tensor> weights, long bytes, String sha256) {
        if (sha256.isEmpty()) {
            LOG.warn("{} records no SHA-256 of its weights (written by an earlier version): loaded unchecked; "
                    + "save it again to record one", modelFileName());
            return;
        }
        long t0 = System.nanoTime();
        ModelWeightsFile.Written w = ModelWeightsFile.digest(weights);
        if (w.size() != bytes || !w.sha256().equalsIgnoreCase(sha256)) {
            throw new NppException(modelFileName() + ": its inline weights have " + w.size() + " bytes with SHA-256 "
                    + w.sha256() + " but the file records " + bytes + " bytes with SHA-256 " + sha256
                    + " (corrupted or altered)");
        }
        LOG.info("checked the inline weights of {} ({} bytes, SHA-256 in {} s)", modelFileName(), bytes,
                String.format(Locale.ROOT, "%.1f", (System.nanoTime() - t0) / 1e9));
    }
}
