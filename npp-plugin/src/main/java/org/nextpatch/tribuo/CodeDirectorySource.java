package org.nextpatch.tribuo;

import com.oracle.labs.mlrg.olcut.config.Config;
import com.oracle.labs.mlrg.olcut.config.PropertyException;
import com.oracle.labs.mlrg.olcut.provenance.ObjectProvenance;
import com.oracle.labs.mlrg.olcut.provenance.PrimitiveProvenance;
import com.oracle.labs.mlrg.olcut.provenance.Provenance;
import com.oracle.labs.mlrg.olcut.provenance.impl.SkeletalConfiguredObjectProvenance;
import com.oracle.labs.mlrg.olcut.provenance.primitives.HashProvenance;
import com.oracle.labs.mlrg.olcut.provenance.primitives.LongProvenance;
import com.oracle.labs.mlrg.olcut.provenance.primitives.StringProvenance;
import com.oracle.labs.mlrg.olcut.provenance.ProvenanceUtil;
import org.nextpatch.data.CodeDirectorySet;
import org.nextpatch.data.CodeSet;
import org.nextpatch.util.NppException;
import org.tribuo.ConfigurableDataSource;
import org.tribuo.Example;
import org.tribuo.OutputFactory;
import org.tribuo.impl.ArrayExample;
import org.tribuo.provenance.ConfiguredDataSourceProvenance;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.Stream;

/**
 * A Tribuo data source over a code directory in the upstream extraction layout (spec section 8:
 * {@code CODE_PATH/imagenetS_codes/i.npy} and {@code CODE_PATH/imagenetS_labels/i.npy}), read with
 * the project's code-directory reader. Each image becomes one example: its token grid as the output,
 * its class as the {@code class} feature, and the metadata {@code image} (index) and
 * {@code augmentation}.
 * <p>
 * Configurable (OLCUT), and its provenance records the directory, the number of files and a SHA-256
 * over every file's name and content, so a model's provenance says exactly which codes it saw and
 * the source can be rebuilt from it.
 */
public final class CodeDirectorySource implements ConfigurableDataSource<TokenGrid> {

    /** Provenance key of the number of files hashed. */
    public static final String FILE_COUNT = "file-count";
    /** Provenance key of the SHA-256 over the files. */
    public static final String CONTENT_HASH = "content-hash";
    /** Provenance key of the tokenizer the codes were extracted with (from the extraction record). */
    public static final String TOKENIZER = "tokenizer";
    /** Provenance key of the tokenizer's SHA-256 (from the extraction record). */
    public static final String TOKENIZER_HASH = "tokenizer-sha256";
    /** Value of the tokenizer keys when the directory has no extraction record (made by other tools). */
    public static final String UNRECORDED = "unrecorded";
    /** Provenance key of the codes' vocabulary (the tokenizer's codebook size, from the extraction record; -1 unrecorded). */
    public static final String VOCAB_SIZE = "vocab-size";
    /** Provenance key of the class count ({@code classes.txt} beside the code folders; -1 without one). */
    public static final String NUM_CLASSES = "num-classes";
    /**
     * Provenance key of the class names ({@code classes.txt}, in class order, one per line of the value;
     * empty without one).
     */
    public static final String CLASS_NAMES = "class-names";
    /** Metadata key of the image index. */
    public static final String IMAGE_KEY = "image";
    /** Metadata key of the augmentation index. */
    public static final String AUG_KEY = "augmentation";

    @Config(mandatory = true, description = "Code directory in the upstream extraction layout (upstream --code-path).")
    private Path codePath;

    @Config(description = "Image size the codes were extracted at (upstream --image-size): selects imagenetS_codes.")
    private int imageSize = 256;

    @Config(description = "Use every stored augmentation (ten crops or flips) as its own example; "
            + "false = only augmentation 0 of each image.")
    private boolean allAugmentations = false;

    @Config(description = "Read at most this many images (in index order); 0 = all.")
    private int maxImages = 0;

    @Config(description = "Hash file contents (true) or only names and sizes (false, for very large directories).")
    private boolean hashContents = true;

    @Config(description = "Read a code directory whose extraction did not finish (its extraction record says "
            + "\"finished\": false); by default such a directory is refused.")
    private boolean allowIncompleteCodes = false;

    private final TokenGridFactory factory = new TokenGridFactory();
    private List<Example<TokenGrid>> examples;
    private CodeDirectorySourceProvenance provenance;

    /** For OLCUT. */
    private CodeDirectorySource() {
    }

    /**
     * A source over a code directory.
     *
     * @param codePath  the directory holding {@code imagenetS_codes} and {@code imagenetS_labels}
     * @param imageSize the extraction image size S
     */
    public CodeDirectorySource(Path codePath, int imageSize) {
        this(codePath, imageSize, false, 0);
    }

    /**
     * A source over a code directory.
     *
     * @param codePath         the directory holding {@code imagenetS_codes} and {@code imagenetS_labels}
     * @param imageSize        the extraction image size S
     * @param allAugmentations one example per stored augmentation instead of augmentation 0 only
     * @param maxImages        at most this many images; 0 = all
     */
    public CodeDirectorySource(Path codePath, int imageSize, boolean allAugmentations, int maxImages) {
        this(codePath, imageSize, allAugmentations, maxImages, false);
    }

    /**
     * A source over a code directory, optionally one whose extraction did not finish.
     *
     * @param allowIncompleteCodes read a directory whose extraction record says it did not finish
     */
    public CodeDirectorySource(Path codePath, int imageSize, boolean allAugmentations, int maxImages, boolean allowIncompleteCodes) {
        this.allowIncompleteCodes = allowIncompleteCodes;
        this.codePath = codePath;
        this.imageSize = imageSize;
        this.allAugmentations = allAugmentations;
        this.maxImages = maxImages;
        postConfig();
    }

    @Override
    public void postConfig() {
        if (codePath == null) {
            throw new PropertyException("", "codePath", "CodeDirectorySource.codePath is required");
        }
        if (imageSize <= 0) {
            throw new PropertyException("", "imageSize", "CodeDirectorySource.imageSize must be positive, got " + imageSize);
        }
        if (maxImages < 0) {
            throw new PropertyException("", "maxImages", "CodeDirectorySource.maxImages must be >= 0 (0 = all), got " + maxImages);
        }
        if (!allowIncompleteCodes) {
            org.nextpatch.data.ExtractionRecord.requireFinished(codePath, imageSize, "CodeDirectorySource.allowIncompleteCodes");
        }
        CodeSet codes = CodeDirectorySet.open(codePath, imageSize);
        int n = maxImages > 0 ? Math.min(maxImages, codes.size()) : codes.size();
        int t = codes.tokens();
        List<Example<TokenGrid>> list = new ArrayList<>();
        long[] buf = new long[t];
        for (int i = 0; i < n; i++) {
            int augs = allAugmentations ? codes.augmentations(i) : 1;
            for (int a = 0; a < augs; a++) {
                codes.read(i, a, false, buf, 0);
                ArrayExample<TokenGrid> ex = ClassCondition.example(TokenGrid.of(buf), codes.label(i));
                ex.setMetadataValue(IMAGE_KEY, (long) i);
                ex.setMetadataValue(AUG_KEY, (long) a);
                list.add(ex);
            }
        }
        this.examples = List.copyOf(list);
        List<Path> files = listFiles(codePath, imageSize);
        org.nextpatch.data.ExtractionRecord record = org.nextpatch.data.ExtractionRecord.read(codePath, imageSize);
        int vocab = record == null || record.codebookSize() <= 0 ? -1 : record.codebookSize();
        this.provenance = new CodeDirectorySourceProvenance(this, files.size(), hash(files),
                record == null ? UNRECORDED : record.tokenizer(), record == null ? UNRECORDED : record.tokenizerSha256(),
                vocab, org.nextpatch.data.ClassNames.inCodeDirectory(codePath));
    }

    /** Class names as one provenance value: one per line, empty for none. */
    static StringProvenance classNamesProvenance(List<String> names) {
        return new StringProvenance(CLASS_NAMES, String.join("\n", names));
    }

    /** The class names a provenance value holds (see {@link #classNamesProvenance}); empty for none. */
    static List<String> classNames(StringProvenance p) {
        return p.getValue().isEmpty() ? List.of() : List.of(p.getValue().split("\n"));
    }

    private String hash(List<Path> files) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buffer = new byte[1 << 16];
            for (Path f : files) {
                md.update(codePath.relativize(f).toString().replace('\\', '/').getBytes(StandardCharsets.UTF_8));
                md.update((byte) 0);
                if (hashContents) {
                    try (InputStream in = Files.newInputStream(f)) {
                        int r;
                        while ((r = in.read(buffer)) > 0) {
                            md.update(buffer, 0, r);
                        }
                    }
                } else {
                    md.update(Long.toString(Files.size(f)).getBytes(StandardCharsets.UTF_8));
                }
                md.update((byte) 0);
            }
            return ProvenanceUtil.bytesToHexString(md.digest());
        } catch (IOException e) {
            throw new NppException("cannot hash code directory " + codePath + ": " + e.getMessage(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Number of examples. */
    public int size() {
        return examples.size();
    }

    @Override
    public OutputFactory<TokenGrid> getOutputFactory() {
        return factory;
    }

    @Override
    public ConfiguredDataSourceProvenance getProvenance() {
        return provenance;
    }

    @Override
    public Iterator<Example<TokenGrid>> iterator() {
        return examples.iterator();
    }

    @Override
    public String toString() {
        return "CodeDirectorySource(" + codePath + ", image size " + imageSize + ", " + examples.size() + " examples)";
    }

    /** Provenance: the configured fields plus file count and content hash. */
    public static final class CodeDirectorySourceProvenance extends SkeletalConfiguredObjectProvenance
            implements ConfiguredDataSourceProvenance {
        private static final long serialVersionUID = 1L;

        private final LongProvenance fileCount;
        private final HashProvenance contentHash;
        private final StringProvenance tokenizer;
        private final StringProvenance tokenizerHash;
        private final LongProvenance vocabSize;
        private final LongProvenance numClasses;
        private final StringProvenance classNames;

        CodeDirectorySourceProvenance(CodeDirectorySource host, long files, String sha256, String tokenizer,
                                      String tokenizerSha256, int vocabSize, List<String> classNames) {
            super(host, "DataSource");
            this.fileCount = new LongProvenance(FILE_COUNT, files);
            this.contentHash = new HashProvenance(ProvenanceUtil.HashType.SHA256, CONTENT_HASH, sha256);
            this.tokenizer = new StringProvenance(TOKENIZER, tokenizer);
            this.tokenizerHash = new StringProvenance(TOKENIZER_HASH, tokenizerSha256);
            this.vocabSize = new LongProvenance(VOCAB_SIZE, vocabSize);
            this.numClasses = new LongProvenance(NUM_CLASSES, classNames.isEmpty() ? -1 : classNames.size());
            this.classNames = classNamesProvenance(classNames);
        }

        /** Used by OLCUT's provenance unmarshalling. */
        public CodeDirectorySourceProvenance(Map<String, Provenance> map) {
            this(extract(map));
        }

        private CodeDirectorySourceProvenance(ExtractedInfo info) {
            super(info);
            this.fileCount = (LongProvenance) info.instanceValues.get(FILE_COUNT);
            this.contentHash = (HashProvenance) info.instanceValues.get(CONTENT_HASH);
            this.tokenizer = (StringProvenance) info.instanceValues.get(TOKENIZER);
            this.tokenizerHash = (StringProvenance) info.instanceValues.get(TOKENIZER_HASH);
            this.vocabSize = (LongProvenance) info.instanceValues.get(VOCAB_SIZE);
            this.numClasses = (LongProvenance) info.instanceValues.get(NUM_CLASSES);
            this.classNames = (StringProvenance) info.instanceValues.get(CLASS_NAMES);
        }

        private static ExtractedInfo extract(Map<String, Provenance> map) {
            Map<String, Provenance> configured = new HashMap<>(map);
            String who = CodeDirectorySourceProvenance.class.getSimpleName();
            String className = ObjectProvenance.checkAndExtractProvenance(configured, CLASS_NAME,
                    StringProvenance.class, who).getValue();
            String hostType = ObjectProvenance.checkAndExtractProvenance(configured, HOST_SHORT_NAME,
                    StringProvenance.class, who).getValue();
            Map<String, PrimitiveProvenance<?>> instance = new HashMap<>();
            instance.put(FILE_COUNT, ObjectProvenance.checkAndExtractProvenance(configured, FILE_COUNT,
                    LongProvenance.class, who));
            instance.put(CONTENT_HASH, ObjectProvenance.checkAndExtractProvenance(configured, CONTENT_HASH,
                    HashProvenance.class, who));
            // absent from provenance written before extraction records were kept
            for (String key : new String[]{TOKENIZER, TOKENIZER_HASH, CLASS_NAMES}) {
                instance.put(key, configured.containsKey(key)
                        ? ObjectProvenance.checkAndExtractProvenance(configured, key, StringProvenance.class, who)
                        : new StringProvenance(key, key.equals(CLASS_NAMES) ? "" : UNRECORDED));
            }
            for (String key : new String[]{VOCAB_SIZE, NUM_CLASSES}) {
                instance.put(key, configured.containsKey(key)
                        ? ObjectProvenance.checkAndExtractProvenance(configured, key, LongProvenance.class, who)
                        : new LongProvenance(key, -1));
            }
            return new ExtractedInfo(className, hostType, configured, instance);
        }

        /** Number of files hashed. */
        public long getFileCount() {
            return fileCount.getValue();
        }

        /** SHA-256 (hex) over the files' names and contents. */
        public String getContentHash() {
            return contentHash.getValue();
        }

        @Override
        public Map<String, PrimitiveProvenance<?>> getInstanceValues() {
            Map<String, PrimitiveProvenance<?>> m = super.getInstanceValues();
            m.put(FILE_COUNT, fileCount);
            m.put(CONTENT_HASH, contentHash);
            m.put(TOKENIZER, tokenizer);
            m.put(TOKENIZER_HASH, tokenizerHash);
            m.put(VOCAB_SIZE, vocabSize);
            m.put(NUM_CLASSES, numClasses);
            m.put(CLASS_NAMES, classNames);
            return m;
        }

        @Override
        public boolean equals(Object o) {
            if (this == o) {
                return true;
            }
            if (!(o instanceof CodeDirectorySourceProvenance) || !super.equals(o)) {
                return false;
            }
            CodeDirectorySourceProvenance p = (CodeDirectorySourceProvenance) o;
            return fileCount.equals(p.fileCount) && contentHash.equals(p.contentHash) && tokenizer.equals(p.tokenizer)
                    && tokenizerHash.equals(p.tokenizerHash) && vocabSize.equals(p.vocabSize) && numClasses.equals(p.numClasses)
                    && classNames.equals(p.classNames);
        }

        @Override
        public int hashCode() {
            return Objects.hash(super.hashCode(), fileCount, contentHash, tokenizer, tokenizerHash, vocabSize, numClasses, classNames);
        }

        /** The codes' vocabulary as recorded at extraction, -1 when not recorded. */
        public int getVocabSize() {
            return (int) vocabSize.getValue().longValue();
        }

        /** The class count {@code classes.txt} names, -1 without one. */
        public int getNumClasses() {
            return (int) numClasses.getValue().longValue();
        }

        /** The class names {@code classes.txt} gives, in class order; empty without one. */
        public List<String> getClassNames() {
            return classNames(classNames);
        }

        /** The tokenizer the codes were extracted with, as recorded ({@link #UNRECORDED} without a record). */
        public String getTokenizer() {
            return tokenizer.getValue();
        }

        /** The tokenizer's SHA-256 (hex), as recorded ({@link #UNRECORDED} without a record). */
        public String getTokenizerHash() {
            return tokenizerHash.getValue();
        }
    }

    /** Files of a code directory, for hashing: both subdirectories, sorted by name. */
    static List<Path> listFiles(Path codePath, int imageSize) {
        List<Path> out = new ArrayList<>();
        for (String sub : new String[]{"imagenet" + imageSize + "_codes", "imagenet" + imageSize + "_labels"}) {
            Path dir = codePath.resolve(sub);
            if (!Files.isDirectory(dir)) {
                continue;
            }
            try (Stream<Path> s = Files.list(dir)) {
                s.filter(Files::isRegularFile).sorted().forEach(out::add);
            } catch (IOException e) {
                throw new NppException("cannot list " + dir + ": " + e.getMessage(), e);
            }
        }
        return out;
    }
}
