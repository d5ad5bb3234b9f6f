package org.nextpatch.tribuo;

import com.oracle.labs.mlrg.olcut.provenance.ProvenanceUtil;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.Fixtures;
import org.tribuo.Example;
import org.tribuo.MutableDataset;

import java.io.DataOutputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * IDX images tokenised by the fixture's tiny VQ tokenizer (2x downsampling, 64 codes) through the
 * project's extractor, read back as Tribuo examples.
 */
class IdxCodeSourceTest {

    /** Writes IDX files by the format's definition: magic (0, 0, type 0x08 = uint8, rank), big-endian dims, bytes. */
    static void writeIdx(Path file, int[] dims, byte[] data) throws Exception {
        try (OutputStream os = Files.newOutputStream(file); DataOutputStream out = new DataOutputStream(os)) {
            out.writeInt(0x0800 | dims.length);
            for (int d : dims) {
                out.writeInt(d);
            }
            out.write(data);
        }
    }

    @Test
    void tokenisesIdxImagesIntoExamples(@TempDir Path dir) throws Exception {
        int n = 5;
        byte[] px = new byte[n * 28 * 28];
        for (int i = 0; i < px.length; i++) {
            int img = i / (28 * 28);
            int x = i % 28;
            px[i] = (byte) ((x * 9 + img * 40) & 0xff);   // a different gradient per image
        }
        byte[] lab = {0, 1, 2, 1, 0};
        Path images = dir.resolve("fashion-imgs-idx3-ubyte"); // "fashion": Fashion-MNIST's class names
        Path labels = dir.resolve("labels-idx1-ubyte");
        writeIdx(images, new int[]{n, 28, 28}, px);
        writeIdx(labels, new int[]{n}, lab);
        Path codes = dir.resolve("codes");
        IdxCodeSource src = new IdxCodeSource(images, labels, Fixtures.file("vq.pt"), Fixtures.file("vq-config.json"),
                codes, 8, 0);
        assertEquals(n, src.size());
        List<Example<TokenGrid>> ex = new ArrayList<>();
        src.forEach(ex::add);
        for (int i = 0; i < n; i++) {
            assertEquals(lab[i], ClassCondition.classOf(ex.get(i), "class"));
            assertEquals(4, ex.get(i).getOutput().side(), "8 px / 2x downsampling");
            assertTrue(ex.get(i).getOutput().maxToken() < 64);
        }
        var values = src.getProvenance().getInstanceValues();
        assertEquals(ProvenanceUtil.hashResource(ProvenanceUtil.HashType.SHA256, images),
                values.get(IdxCodeSource.IMAGES_HASH).getValue());
        assertEquals(ProvenanceUtil.hashResource(ProvenanceUtil.HashType.SHA256, Fixtures.file("vq.pt")),
                values.get(IdxCodeSource.VQ_HASH).getValue());
        assertEquals(2L * n, values.get(CodeDirectorySource.FILE_COUNT).getValue());
        assertEquals(64L, values.get(CodeDirectorySource.VOCAB_SIZE).getValue(), "the tokenizer's codebook");
        // the class names the extraction wrote to classes.txt, kept through marshalling
        assertEquals(String.join("\n", org.nextpatch.data.FashionMnist.CLASS_NAMES),
                values.get(CodeDirectorySource.CLASS_NAMES).getValue());
        assertEquals(10L, values.get(CodeDirectorySource.NUM_CLASSES).getValue());
        assertEquals(src.getProvenance(), ProvenanceUtil.unmarshalProvenance(ProvenanceUtil.marshalProvenance(src.getProvenance())));
        assertEquals(org.nextpatch.data.FashionMnist.CLASS_NAMES,
                NppTraining.recordedClassNames(new MutableDataset<>(src)));

        // A second source reuses the extracted codes and sees the same data.
        IdxCodeSource again = new IdxCodeSource(images, labels, Fixtures.file("vq.pt"), Fixtures.file("vq-config.json"),
                codes, 8, 0);
        assertEquals(src.getProvenance(), again.getProvenance());
        assertEquals(n, new MutableDataset<>(again).size());
    }
}
