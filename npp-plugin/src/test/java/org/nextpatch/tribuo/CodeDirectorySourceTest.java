package org.nextpatch.tribuo;

import com.oracle.labs.mlrg.olcut.config.ConfigurationManager;
import com.oracle.labs.mlrg.olcut.provenance.ProvenanceUtil;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Tensor;
import org.tribuo.Example;
import org.tribuo.MutableDataset;
import org.tribuo.provenance.DataSourceProvenance;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The code-directory data source over a small directory in the upstream layout (spec 8). */
class CodeDirectorySourceTest {

    /** Writes n images x 2 augmentations of 16 tokens: token t of image i, aug a = (i + a + t) % 16; class i % 3. */
    static Path codeDir(Path root, int n) throws Exception {
        Path codes = Files.createDirectories(root.resolve("imagenet64_codes"));
        Path labels = Files.createDirectories(root.resolve("imagenet64_labels"));
        for (int i = 0; i < n; i++) {
            long[] v = new long[2 * 16];
            for (int a = 0; a < 2; a++) {
                for (int t = 0; t < 16; t++) {
                    v[a * 16 + t] = (i + a + t) % 16;
                }
            }
            Npy.write(codes.resolve(i + ".npy"), Tensor.ofLongs(new long[]{1, 2, 16}, v));
            Npy.write(labels.resolve(i + ".npy"), Tensor.ofLongs(new long[]{1}, new long[]{i % 3}));
        }
        return root;
    }

    @Test
    void readsGridsClassesAndRecordsCountAndHash(@TempDir Path dir) throws Exception {
        Path root = codeDir(dir.resolve("codes"), 5);
        CodeDirectorySource src = new CodeDirectorySource(root, 64);
        assertEquals(5, src.size());
        List<Example<TokenGrid>> ex = new ArrayList<>();
        src.forEach(ex::add);
        for (int i = 0; i < 5; i++) {
            assertEquals(i % 3, ClassCondition.classOf(ex.get(i), "class"));
            assertEquals((i + 7) % 16, ex.get(i).getOutput().token(7));
            assertEquals((long) i, ex.get(i).getMetadataValue(CodeDirectorySource.IMAGE_KEY).orElseThrow());
        }
        var p = (CodeDirectorySource.CodeDirectorySourceProvenance) src.getProvenance();
        assertEquals(10, p.getFileCount());
        assertEquals(64, p.getContentHash().length());

        // Every augmentation as an example.
        CodeDirectorySource all = new CodeDirectorySource(root, 64, true, 0);
        assertEquals(10, all.size());

        // The same content gives the same provenance; a changed file changes the hash.
        assertEquals(p, new CodeDirectorySource(root, 64).getProvenance());
        Npy.write(root.resolve("imagenet64_labels/4.npy"), Tensor.ofLongs(new long[]{1}, new long[]{2}));
        assertNotEquals(p.getContentHash(),
                ((CodeDirectorySource.CodeDirectorySourceProvenance) new CodeDirectorySource(root, 64).getProvenance()).getContentHash());
    }

    /**
     * The vocabulary and class count come from the extraction record (codebook size) and classes.txt
     * when the directory has them, not from the largest token and class the codes happen to hold.
     */
    @Test
    void trainingTakesVocabularyAndClassesFromTheExtractionRecord(@TempDir Path dir) throws Exception {
        Path root = codeDir(dir.resolve("codes"), 6); // tokens 0..15, classes 0..2
        NppTrainer trainer = NppTrainer.customSize(32, 1, 2).setMultipleOf(32).setEpochs(1).setGlobalBatchSize(6)
                .setAllDropouts(0.0);
        try (NppModel plain = trainer.train(new MutableDataset<>(new CodeDirectorySource(root, 64)))) {
            assertEquals(16, plain.getGptConfig().vocabSize(), "no record: largest token + 1");
            assertEquals(3, plain.getGptConfig().numClasses(), "no classes.txt: largest class + 1");
        }
        new org.nextpatch.data.ExtractionRecord("vq.pt", "00", 64, false, 1.0, 20).finish(root, 6, 6, java.util.List.of());
        Files.writeString(root.resolve("classes.txt"), "a\nb\nc\nd\n");
        CodeDirectorySource src = new CodeDirectorySource(root, 64);
        var p = (CodeDirectorySource.CodeDirectorySourceProvenance) src.getProvenance();
        assertEquals(20, p.getVocabSize());
        assertEquals(4, p.getNumClasses());
        assertEquals(p, ProvenanceUtil.unmarshalProvenance(ProvenanceUtil.marshalProvenance(p)));
        try (NppModel m = trainer.train(new MutableDataset<>(src))) {
            assertEquals(20, m.getGptConfig().vocabSize(), "the tokenizer's codebook size");
            assertEquals(4, m.getGptConfig().numClasses(), "the classes classes.txt names");
        }
        // the trainer's own setting still wins
        try (NppModel m = trainer.setVocabSize(18).train(new MutableDataset<>(src))) {
            assertEquals(18, m.getGptConfig().vocabSize());
        }
    }

    @Test
    void badSettingsNameTheField(@TempDir Path dir) throws Exception {
        Path root = codeDir(dir.resolve("codes"), 2);
        var e = org.junit.jupiter.api.Assertions.assertThrows(com.oracle.labs.mlrg.olcut.config.PropertyException.class,
                () -> new CodeDirectorySource(root, 64, false, -1));
        assertEquals("maxImages", e.getProperty());
        e = org.junit.jupiter.api.Assertions.assertThrows(com.oracle.labs.mlrg.olcut.config.PropertyException.class,
                () -> new CodeDirectorySource(root, 0));
        assertEquals("imageSize", e.getProperty());
    }

    @Test
    void rebuildsFromProvenanceAndWorksInADataset(@TempDir Path dir) throws Exception {
        Path root = codeDir(dir.resolve("codes"), 4);
        CodeDirectorySource src = new CodeDirectorySource(root, 64, false, 3);
        MutableDataset<TokenGrid> ds = new MutableDataset<>(src);
        assertEquals(3, ds.size());

        ConfigurationManager cm = new ConfigurationManager();
        cm.addConfiguration(ProvenanceUtil.extractConfiguration(src.getProvenance()));
        CodeDirectorySource again = (CodeDirectorySource) cm.lookup(cm.listAll(CodeDirectorySource.class).get(0));
        DataSourceProvenance p = again.getProvenance();
        assertEquals(src.getProvenance(), p);
        // Marshalled and back (as inside a model file).
        assertEquals(p, ProvenanceUtil.unmarshalProvenance(ProvenanceUtil.marshalProvenance(p)));
    }
}
