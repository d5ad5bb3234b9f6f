package org.nextpatch.tribuo;

import org.junit.jupiter.api.Test;
import org.nextpatch.tensor.Tensor;
import org.tribuo.MutableDataset;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * NPP work on several threads of one JVM (issue 21): two trainings at once give each the weights it
 * gives alone (bit-identical, same thread count), and a model predicts on one thread while another
 * trains, with the tokens it gives alone and without waiting for the training. Both failed before
 * with DJL's "A PtGradientCollector is already collecting" or "a leaf Variable that requires grad is
 * being used in an in-place operation" (grad mode is per thread in libtorch and on in new threads).
 * Tiny models (d 32, 1 layer, 4x4 grids) with every dropout on, so that torch's process-wide
 * generator is exercised too.
 */
class ConcurrentTrainingTest {

    static NppTrainer trainer(long seed, double heldOut) {
        return NppTrainer.customSize(32, 1, 2).setMultipleOf(32).setVocabSize(16).setNumClasses(3)
                .setEpochs(4).setPatchLevel(2).setEpochRate(0.5).setLr(1e-3).setGlobalBatchSize(4)
                .setAllDropouts(0.1).setHeldOutFraction(heldOut).setSeed(seed);
    }

    static void assertSameWeights(NppModel expected, NppModel actual, String what) {
        for (Map.Entry<String, Tensor> e : expected.getWeights().entrySet()) {
            assertTrue(e.getValue().contentEquals(actual.getWeights().get(e.getKey())), what + ": " + e.getKey());
        }
    }

    @Test
    void twoTrainingsOnTwoThreadsGiveTheWeightsOfRunsAlone() throws Exception {
        MutableDataset<TokenGrid> a = NppTribuoTest.data(24, 11);
        MutableDataset<TokenGrid> b = NppTribuoTest.data(28, 12);
        long t0 = System.nanoTime();
        try (NppModel aloneA = trainer(1, 0).train(a); NppModel aloneB = trainer(2, 0.25).train(b)) {
            double sequential = (System.nanoTime() - t0) / 1e9;
            ExecutorService pool = Executors.newFixedThreadPool(2);
            try {
                CyclicBarrier start = new CyclicBarrier(2);
                long t1 = System.nanoTime();
                Future<NppModel> fa = pool.submit(() -> {
                    start.await();
                    return trainer(1, 0).train(a);
                });
                Future<NppModel> fb = pool.submit(() -> {
                    start.await();
                    return trainer(2, 0.25).train(b);
                });
                try (NppModel ta = fa.get(5, TimeUnit.MINUTES); NppModel tb = fb.get(5, TimeUnit.MINUTES)) {
                    System.out.printf(Locale.ROOT, "two trainings: %.1f s one after the other, %.1f s on two threads%n",
                            sequential, (System.nanoTime() - t1) / 1e9);
                    assertSameWeights(aloneA, ta, "training A beside B");
                    assertSameWeights(aloneB, tb, "training B beside A");
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void predictionsDuringATrainingMatchAndDoNotWait() throws Exception {
        try (NppModel model = NppModelTest.model(NppModelTest.data(6, 1))) {
            int n = 3;
            List<TokenGrid> alone = predict(model, n);
            List<Double> aloneSeconds = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                long t0 = System.nanoTime();
                predict(model, n);
                aloneSeconds.add((System.nanoTime() - t0) / 1e9);
            }
            ExecutorService pool = Executors.newSingleThreadExecutor();
            try {
                // long enough to overlap several predictions (about 100 optimizer steps)
                Callable<NppModel> train = () -> trainer(3, 0.25).setEpochs(8).train(NppTribuoTest.data(48, 13));
                long trainStart = System.nanoTime();
                Future<NppModel> training = pool.submit(train);
                List<Double> during = new ArrayList<>();
                while (!training.isDone()) {
                    long t0 = System.nanoTime();
                    List<TokenGrid> got = predict(model, n);
                    double s = (System.nanoTime() - t0) / 1e9;
                    if (!training.isDone()) {
                        during.add(s); // the training was still running when this prediction returned
                    }
                    assertEquals(alone, got, "tokens predicted during a training");
                }
                training.get().close(); // the training itself succeeded
                double trainSeconds = (System.nanoTime() - trainStart) / 1e9;
                assertTrue(during.size() >= 3, "predictions completed during the training: " + during.size());
                double[] d = during.stream().mapToDouble(Double::doubleValue).sorted().toArray();
                double[] q = aloneSeconds.stream().mapToDouble(Double::doubleValue).sorted().toArray();
                System.out.printf(Locale.ROOT, "prediction of %d grids: alone median %.4f s; during a %.1f s training"
                                + " median %.4f s, max %.4f s over %d predictions%n", n, q[q.length / 2], trainSeconds,
                        d[d.length / 2], d[d.length - 1], d.length);
            } finally {
                pool.shutdownNow();
            }
        }
    }

    private static List<TokenGrid> predict(NppModel model, int n) {
        List<TokenGrid> out = new ArrayList<>();
        for (int k = 0; k < n; k++) {
            out.add(model.predict(ClassCondition.request(k)).getOutput());
        }
        return out;
    }
}
