package org.nextpatch.tribuo;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.nextpatch.config.GptConfig;
import org.nextpatch.model.GptWeights;
import org.nextpatch.tensor.Tensor;
import org.tribuo.ImmutableFeatureMap;
import org.tribuo.Model;
import org.tribuo.MutableDataset;
import org.tribuo.provenance.DatasetProvenance;
import org.tribuo.provenance.ModelProvenance;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A large model kept in one self-contained Tribuo model file: a GPT-L-shaped model (256x256 images,
 * 16384 codes, 1000 classes; 1.4 GB in float32) saved with the automatic layout must stay inline and
 * load, through {@code NppModel.load} (mapped) and through Tribuo's own {@code Model.deserializeFromFile}
 * (onto the heap), with equal weights. Prints the file size, the times and the heap in use (the
 * figures in docs/benchmarks.md).
 * <p>
 * Needs about 5 GB of heap (the surefire default, 6 GB, is enough) and 1.5 GB of disk, so it only runs
 * when asked: {@code -Dnpp.inlineBench=GPT-L} (or another named size: {@code GPT-B}; {@code max}: GPT-L's width
 * with as many layers as fit below {@link NppModel#MAX_INLINE_BYTES}, 2.0 GB).
 */
@EnabledIfSystemProperty(named = "npp.inlineBench", matches = ".+")
class InlineModelFileBenchmarkTest {

    @Test
    void aGptLSizedModelStaysOneFileAndLoadsThroughTribuo() throws Exception {
        String size = System.getProperty("npp.inlineBench");
        GptConfig c = GptConfig.named(size.equals("max") ? "GPT-L" : size, GptConfig.blockSizeFor(256, 16), 16384, 1000);
        if (size.equals("max")) {
            // GPT-L's width with as many layers as fit below the inline limit
            int layers = c.nLayer();
            while (withLayers(c, layers + 1).parameterCount() * 4 <= NppModel.MAX_INLINE_BYTES) {
                layers++;
            }
            c = withLayers(c, layers);
        }
        MutableDataset<TokenGrid> ds = NppModelTest.data(3, 1);
        long t0 = System.nanoTime();
        Map<String, Tensor> w = GptWeights.init(c, 1);
        double initS = (System.nanoTime() - t0) / 1e9;
        ModelProvenance p = new ModelProvenance(NppModel.class.getName(), OffsetDateTime.now(),
                (DatasetProvenance) ds.getProvenance(), NppTrainer.customSize(32, 1, 2).getProvenance(), Map.of());
        Path dir = Files.createTempDirectory("npp-inline-bench");
        Path f = dir.resolve("large.tribuo");
        try {
            NppModel m = new NppModel("large", p, new ImmutableFeatureMap(ds.getFeatureMap()), ds.getOutputIDInfo(), c,
                    w, "class", 0, NppModel.defaultSampling(), NppModel.DEFAULT_SEED_KEY, "cpu", 1);
            w = null;
            String sha = ModelWeightsFile.digest(m.getWeights()).sha256();
            resetPeakHeap();
            t0 = System.nanoTime();
            m.serializeToFile(f);
            double saveS = (System.nanoTime() - t0) / 1e9;
            double savePeak = peakHeapGb();
            assertFalse(Files.exists(dir.resolve("large.tribuo.weights")), "one self-contained file");
            long bytes = Files.size(f);
            assertTrue(bytes > c.parameterCount() * 4);
            m.close();
            m = null; // from here on, only the loaded models hold weights

            resetPeakHeap();
            t0 = System.nanoTime();
            NppModel mapped = NppModel.load(f);
            double loadS = (System.nanoTime() - t0) / 1e9;
            double loadPeak = peakHeapGb();
            assertEquals(sha, NppModelWeightsFileTest.value(mapped, NppModel.PROV_WEIGHTS_SHA256));

            resetPeakHeap();
            t0 = System.nanoTime();
            NppModel tribuo = (NppModel) Model.deserializeFromFile(f);
            double tribuoS = (System.nanoTime() - t0) / 1e9;
            double tribuoPeak = peakHeapGb();
            for (Map.Entry<String, Tensor> e : mapped.getWeights().entrySet()) {
                assertTrue(e.getValue().contentEquals(tribuo.getWeights().get(e.getKey())), e.getKey());
            }
            mapped.close();
            tribuo.close();
            System.out.printf(Locale.ROOT, "%s (%d parameters): one model file of %.3f GB; weights initialised in %.1f s; "
                            + "save %.1f s (peak heap %.2f GB, the model's weights included); NppModel.load %.1f s (mapped, "
                            + "peak heap %.2f GB); Model.deserializeFromFile %.1f s (peak heap %.2f GB)%n", size,
                    c.parameterCount(), bytes / 1e9, initS, saveS, savePeak, loadS, loadPeak, tribuoS, tribuoPeak);
        } finally {
            Files.deleteIfExists(f);
            Files.deleteIfExists(dir);
        }
    }

    private static void resetPeakHeap() {
        System.gc();
        for (MemoryPoolMXBean b : ManagementFactory.getMemoryPoolMXBeans()) {
            if (b.getType() == MemoryType.HEAP) {
                b.resetPeakUsage();
            }
        }
    }

    /** Sum of the heap pools' peaks since the last reset (an upper bound on the heap in use at once). */
    private static double peakHeapGb() {
        long sum = 0;
        for (MemoryPoolMXBean b : ManagementFactory.getMemoryPoolMXBeans()) {
            if (b.getType() == MemoryType.HEAP) {
                sum += b.getPeakUsage().getUsed();
            }
        }
        return sum / 1e9;
    }

    private static GptConfig withLayers(GptConfig c, int layers) {
        return new GptConfig(c.dim(), layers, c.nHead(), c.vocabSize(), c.numClasses(), c.blockSize(), c.clsTokenNum(),
                c.multipleOf(), c.ffnDimMultiplier(), c.normEps(), c.ropeBase(), c.tokenDropoutP(), c.attnDropoutP(),
                c.residDropoutP(), c.ffnDropoutP(), c.classDropoutProb());
    }
}
