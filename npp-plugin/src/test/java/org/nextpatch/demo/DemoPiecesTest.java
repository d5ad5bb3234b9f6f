package org.nextpatch.demo;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.data.FashionMnist;
import org.nextpatch.data.LabelledImages;
import org.nextpatch.util.NppException;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The small pieces of the demo and the benchmark that the end-to-end test does not pin down. */
class DemoPiecesTest {

    @Test
    void shippedSplitIsCopiedOnceAndReadsAsTheTestSet(@TempDir Path tmp) throws Exception {
        FashionMnistFiles f = FashionMnistFiles.copyShipped(tmp);
        assertFalse(f.hasTrain());
        LabelledImages test = FashionMnist.read(f.testImages(), f.testLabels());
        assertEquals(10_000, test.n());
        assertEquals(28, test.height());
        // Fashion-MNIST's test split is balanced: 1,000 images per class
        for (int c : FashionMnist.classCounts(test)) {
            assertEquals(1000, c);
        }
        long size = Files.size(f.testImages());
        FashionMnistFiles again = FashionMnistFiles.copyShipped(tmp);
        assertEquals(size, Files.size(again.testImages()));
        // a --data folder with only the test split: found, no training split
        FashionMnistFiles located = FashionMnistFiles.locate(tmp, tmp.resolve("unused"));
        assertFalse(located.hasTrain());
        assertEquals(f.testImages(), located.testImages());
        assertFalse(Files.exists(tmp.resolve("unused")));
    }

    @Test
    void missingDataFolderNamesTheFlag(@TempDir Path tmp) {
        NppException e = assertThrows(NppException.class, () -> FashionMnistFiles.locate(tmp.resolve("nope"), tmp));
        assertTrue(e.getMessage().startsWith("--data "), e.getMessage());
        NppException e2 = assertThrows(NppException.class, () -> FashionMnistFiles.locate(tmp, tmp.resolve("x")));
        assertTrue(e2.getMessage().contains("t10k-images-idx3-ubyte"), e2.getMessage());
    }

    @Test
    void settingsRejectASingleStageRun() {
        DemoPipeline.Settings q = DemoPipeline.Settings.quick(Path.of("r"), null, 0);
        NppException e = assertThrows(NppException.class, () -> new DemoPipeline.Settings(q.resultsDir(), null, true, 0,
                q.trainImages(), q.vqSteps(), q.vqBatch(), q.vqLr(), q.gptDim(), q.gptLayers(), q.gptHeads(), 1,
                q.gptBatch(), q.gptLr(), q.cfgScale(), q.samplesPerClass(), q.fidSamples(), q.referenceImages(),
                q.featureEpochs(), q.featureTrainImages(), null, q.onnxBatch()));
        assertTrue(e.getMessage().contains("--gpt-epochs"), e.getMessage());
    }

    @Test
    void meanAndSampleStandardDeviation() {
        // independent: mean 2, sample variance ((1)^2 + 0 + 1^2) / 2 = 1
        assertArrayEquals(new double[]{2.0, 1.0}, NppVsNtpBench.meanSd(new double[]{1, 2, 3}), 1e-12);
        double[] one = NppVsNtpBench.meanSd(new double[]{5});
        assertEquals(5.0, one[0]);
        assertTrue(Double.isNaN(one[1]), "no spread from one seed");
    }
}
