package org.nextpatch.tribuo;

import com.oracle.labs.mlrg.olcut.config.Config;
import com.oracle.labs.mlrg.olcut.config.PropertyException;
import com.oracle.labs.mlrg.olcut.provenance.ObjectProvenance;
import com.oracle.labs.mlrg.olcut.provenance.PrimitiveProvenance;
import com.oracle.labs.mlrg.olcut.provenance.Provenance;
import com.oracle.labs.mlrg.olcut.provenance.ProvenanceUtil;
import com.oracle.labs.mlrg.olcut.provenance.impl.SkeletalConfiguredObjectProvenance;
import com.oracle.labs.mlrg.olcut.provenance.primitives.HashProvenance;
import com.oracle.labs.mlrg.olcut.provenance.primitives.LongProvenance;
import com.oracle.labs.mlrg.olcut.provenance.primitives.StringProvenance;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.nextpatch.config.VqConfig;
import org.nextpatch.data.CodeExtractor;
import org.nextpatch.data.IdxImages;
import org.nextpatch.model.VqModel;
import org.nextpatch.util.RegularFiles;
import org.tribuo.ConfigurableDataSource;
import org.tribuo.Example;
import org.tribuo.OutputFactory;
import org.tribuo.provenance.ConfiguredDataSourceProvenance;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A Tribuo data source over IDX image files (MNIST / Fashion-MNIST format), tokenised by a VQ
 * tokenizer: the images are turned into codes by the project's extractor ({@code npp extract-codes}:
 * ADM centre crop, centre + flip or ten crops, VQ encode) into a code directory, which is then read
 * as a {@link CodeDirectorySource}. Extraction resumes: files already in the code directory are kept,
 * so a second use costs only the reading.
 * <p>
 * The provenance records the configured fields, SHA-256 hashes of the image file, the label file and
 * the tokenizer checkpoint, and the code directory's file count and content hash.
 */
public final class IdxCodeSource implements ConfigurableDataSource<TokenGrid> {
    private static final Logger LOG = LogManager.getLogger(IdxCodeSource.class);

    /** Provenance keys of the input hashes. */
    public static final String IMAGES_HASH = "images-hash";
    public static final String LABELS_HASH = "labels-hash";
    public static final String VQ_HASH = "vq-checkpoint-hash";

    @Config(mandatory = true, description = "IDX image file, e.g. t10k-images-idx3-ubyte.gz.")
    private Path imagesPath;

    @Config(mandatory = true, description = "IDX label file, e.g. t10k-labels-idx1-ubyte.gz.")
    private Path labelsPath;

    @Config(mandatory = true, description = "VQ tokenizer checkpoint (upstream --vq-ckpt).")
    private Path vqCheckpoint;

    @Config(description = "VQ configuration JSON (upstream --vq-config); unset = the one recorded in the checkpoint, else VQ-16.")
    private Path vqConfigFile;

    @Config(mandatory = true, description = "Directory the codes are extracted into (upstream layout; reused when present).")
    private Path codePath;

    @Config(description = "Crop side fed to the tokenizer (upstream --image-size).")
    private int imageSize = 32;

    @Config(description = "Ten crops per image instead of centre + flip (upstream --ten-crop).")
    private boolean tenCrop = false;

    @Config(description = "Enlargement before ten crops (upstream --crop-range).")
    private double cropRange = 1.1;

    @Config(description = "Use every augmentation as its own example; false = augmentation 0 only.")
    private boolean allAugmentations = false;

    @Config(description = "Use at most this many images (the first ones); 0 = all.")
    private int maxImages = 0;

    @Config(description = "Device for the tokenizer: cpu, gpu or gpu:N.")
    private String device = "cpu";

    @Config(description = "Images per tokenizer forward pass.")
    private int batchSize = 64;

    private CodeDirectorySource codes;
    private IdxCodeSourceProvenance provenance;

    /** For OLCUT. */
    private IdxCodeSource() {
    }

    /**
     * A source over IDX files.
     *
     * @param imagesPath   IDX images
     * @param labelsPath   IDX labels
     * @param vqCheckpoint tokenizer checkpoint
     * @param codePath     where the codes are (or will be) extracted
     * @param imageSize    crop side fed to the tokenizer
     * @param maxImages    at most this many images; 0 = all
     */
    public IdxCodeSource(Path imagesPath, Path labelsPath, Path vqCheckpoint, Path codePath, int imageSize,
                         int maxImages) {
        this(imagesPath, labelsPath, vqCheckpoint, null, codePath, imageSize, maxImages);
    }

    /**
     * A source over IDX files with a tokenizer configuration file.
     *
     * @param imagesPath   IDX images
     * @param labelsPath   IDX labels
     * @param vqCheckpoint tokenizer checkpoint
     * @param vqConfigFile tokenizer configuration JSON, or null (recorded in the checkpoint, else VQ-16)
     * @param codePath     where the codes are (or will be) extracted
     * @param imageSize    crop side fed to the tokenizer
     * @param maxImages    at most this many images; 0 = all
     */
    public IdxCodeSource(Path imagesPath, Path labelsPath, Path vqCheckpoint, Path vqConfigFile, Path codePath,
                         int imageSize, int maxImages) {
        this.imagesPath = imagesPath;
        this.labelsPath = labelsPath;
        this.vqCheckpoint = vqCheckpoint;
        this.vqConfigFile = vqConfigFile;
        this.codePath = codePath;
        this.imageSize = imageSize;
        this.maxImages = maxImages;
        postConfig();
    }

    @Override
    public void postConfig() {
        String[] fields = {"imagesPath", "labelsPath", "vqCheckpoint"};
        Path[] files = {imagesPath, labelsPath, vqCheckpoint};
        for (int i = 0; i < files.length; i++) {
            if (files[i] == null) {
                fail(fields[i], "is required");
            }
            String kind = RegularFiles.kind(files[i]);
            if (kind != null) {
                fail(fields[i], files[i] + ": " + kind + (kind.contains("not found") ? "" : ", not a regular file"));
            }
        }
        if (codePath == null) {
            fail("codePath", "is required");
        }
        if (imageSize <= 0) {
            fail("imageSize", "must be positive, got " + imageSize);
        }
        if (!(cropRange >= 1) || !Double.isFinite(cropRange)) {
            fail("cropRange", "must be >= 1, got " + cropRange);
        }
        if (maxImages < 0) {
            fail("maxImages", "must be >= 0 (0 = all), got " + maxImages);
        }
        if (batchSize <= 0) {
            fail("batchSize", "must be positive, got " + batchSize);
        }
        try {
            org.nextpatch.train.TrainConfig.DeviceSpec.parse(device);
        } catch (RuntimeException e) {
            fail("device", "'" + device + "' is not a device: cpu, gpu or gpu:N");
        }
        IdxImages images = IdxImages.read(imagesPath, labelsPath, maxImages);
        CodeExtractor.Settings settings = new CodeExtractor.Settings(imageSize, tenCrop, cropRange, codePath, batchSize);
        VqConfig vqConfig = vqConfigFile == null ? null : VqConfig.fromJson(vqConfigFile);
        int codebook;
        try (VqModel vq = VqModel.load(vqCheckpoint, vqConfig, NppModel.djlDevice(device))) {
            CodeExtractor.Result r = CodeExtractor.run(vq, images, settings);
            LOG.info("IDX codes in {}: {} written, {} already there", codePath, r.written(), r.alreadyThere());
            codebook = vq.config().codebookSize();
        }
        this.codes = new CodeDirectorySource(codePath, imageSize, allAugmentations, images.size());
        CodeDirectorySource.CodeDirectorySourceProvenance cp =
                (CodeDirectorySource.CodeDirectorySourceProvenance) codes.getProvenance();
        this.provenance = new IdxCodeSourceProvenance(this, cp.getFileCount(), cp.getContentHash(), codebook,
                cp.getClassNames());
    }

    private static void fail(String field, String message) {
        throw new PropertyException("", field, "IdxCodeSource." + field + " " + message);
    }

    /** Number of examples. */
    public int size() {
        return codes.size();
    }

    @Override
    public OutputFactory<TokenGrid> getOutputFactory() {
        return codes.getOutputFactory();
    }

    @Override
    public ConfiguredDataSourceProvenance getProvenance() {
        return provenance;
    }

    @Override
    public Iterator<Example<TokenGrid>> iterator() {
        return codes.iterator();
    }

    @Override
    public String toString() {
        return "IdxCodeSource(" + imagesPath + ", " + codes.size() + " examples)";
    }

    /** Provenance: configured fields, input hashes, and the code directory's count and hash. */
    public static final class IdxCodeSourceProvenance extends SkeletalConfiguredObjectProvenance
            implements ConfiguredDataSourceProvenance {
        private static final long serialVersionUID = 1L;
        private static final String[] HASHES = {IMAGES_HASH, LABELS_HASH, VQ_HASH, CodeDirectorySource.CONTENT_HASH};

        private final Map<String, PrimitiveProvenance<?>> extra = new HashMap<>();

        IdxCodeSourceProvenance(IdxCodeSource host, long codeFiles, String codeHash, int vocabSize, List<String> classNames) {
            super(host, "DataSource");
            ProvenanceUtil.HashType sha = ProvenanceUtil.HashType.SHA256;
            extra.put(IMAGES_HASH, new HashProvenance(sha, IMAGES_HASH, ProvenanceUtil.hashResource(sha, host.imagesPath)));
            extra.put(LABELS_HASH, new HashProvenance(sha, LABELS_HASH, ProvenanceUtil.hashResource(sha, host.labelsPath)));
            extra.put(VQ_HASH, new HashProvenance(sha, VQ_HASH, ProvenanceUtil.hashResource(sha, host.vqCheckpoint)));
            extra.put(CodeDirectorySource.FILE_COUNT, new LongProvenance(CodeDirectorySource.FILE_COUNT, codeFiles));
            extra.put(CodeDirectorySource.CONTENT_HASH, new HashProvenance(sha, CodeDirectorySource.CONTENT_HASH, codeHash));
            extra.put(CodeDirectorySource.VOCAB_SIZE, new LongProvenance(CodeDirectorySource.VOCAB_SIZE, vocabSize));
            extra.put(CodeDirectorySource.NUM_CLASSES, new LongProvenance(CodeDirectorySource.NUM_CLASSES,
                    classNames.isEmpty() ? -1 : classNames.size()));
            extra.put(CodeDirectorySource.CLASS_NAMES, CodeDirectorySource.classNamesProvenance(classNames));
        }

        /** Used by OLCUT's provenance unmarshalling. */
        public IdxCodeSourceProvenance(Map<String, Provenance> map) {
            this(extract(map));
        }

        private IdxCodeSourceProvenance(ExtractedInfo info) {
            super(info);
            extra.putAll(info.instanceValues);
        }

        private static ExtractedInfo extract(Map<String, Provenance> map) {
            Map<String, Provenance> configured = new HashMap<>(map);
            String who = IdxCodeSourceProvenance.class.getSimpleName();
            String className = ObjectProvenance.checkAndExtractProvenance(configured, CLASS_NAME,
                    StringProvenance.class, who).getValue();
            String hostType = ObjectProvenance.checkAndExtractProvenance(configured, HOST_SHORT_NAME,
                    StringProvenance.class, who).getValue();
            Map<String, PrimitiveProvenance<?>> instance = new HashMap<>();
            for (String k : HASHES) {
                instance.put(k, ObjectProvenance.checkAndExtractProvenance(configured, k, HashProvenance.class, who));
            }
            instance.put(CodeDirectorySource.FILE_COUNT, ObjectProvenance.checkAndExtractProvenance(configured,
                    CodeDirectorySource.FILE_COUNT, LongProvenance.class, who));
            // absent from provenance written before the sizes were recorded
            for (String k : new String[]{CodeDirectorySource.VOCAB_SIZE, CodeDirectorySource.NUM_CLASSES}) {
                instance.put(k, configured.containsKey(k)
                        ? ObjectProvenance.checkAndExtractProvenance(configured, k, LongProvenance.class, who)
                        : new LongProvenance(k, -1));
            }
            String names = CodeDirectorySource.CLASS_NAMES;
            instance.put(names, configured.containsKey(names)
                    ? ObjectProvenance.checkAndExtractProvenance(configured, names, StringProvenance.class, who)
                    : CodeDirectorySource.classNamesProvenance(List.of()));
            return new ExtractedInfo(className, hostType, configured, instance);
        }

        @Override
        public Map<String, PrimitiveProvenance<?>> getInstanceValues() {
            Map<String, PrimitiveProvenance<?>> m = super.getInstanceValues();
            m.putAll(extra);
            return m;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof IdxCodeSourceProvenance && super.equals(o)
                    && extra.equals(((IdxCodeSourceProvenance) o).extra);
        }

        @Override
        public int hashCode() {
            return Objects.hash(super.hashCode(), extra);
        }
    }
}
