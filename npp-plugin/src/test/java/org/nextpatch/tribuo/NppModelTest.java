package org.nextpatch.tribuo;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nextpatch.cli.ProvenanceCommand;
import org.nextpatch.config.GptConfig;
import org.nextpatch.model.Gpt;
import org.nextpatch.model.GptWeights;
import org.nextpatch.tensor.Tensor;
import org.tribuo.ImmutableFeatureMap;
import org.tribuo.Model;
import org.tribuo.MutableDataset;
import org.tribuo.provenance.DatasetProvenance;
import org.tribuo.provenance.ModelProvenance;
import org.tribuo.provenance.SimpleDataSourceProvenance;

import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * NppModel without training: protobuf round trip of weights, settings and provenance; the
 * provenance command; teacher-forced scoring against the GPT's own loss (an independent code path:
 * NppLoss at patch side 1).
 */
class NppModelTest {

    static final GptConfig TINY = new GptConfig(32, 1, 2, 16, 3, 16, 1, 32, null, 1e-5, 10000, 0, 0, 0, 0, 0);

    static MutableDataset<TokenGrid> data(int n, long seed) {
        MutableDataset<TokenGrid> ds = new MutableDataset<>(new SimpleDataSourceProvenance("tiny", new TokenGridFactory()),
                new TokenGridFactory());
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < n; i++) {
            int[] t = new int[16];
            for (int j = 0; j < 16; j++) {
                t[j] = r.nextInt(16);
            }
            ds.add(ClassCondition.example(TokenGrid.of(t), i % 3));
        }
        return ds;
    }

    /** Upstream init plus a random output head (upstream zeroes it, which would make every logit 0). */
    static LinkedHashMap<String, Tensor> weights(long seed) {
        LinkedHashMap<String, Tensor> w = GptWeights.init(TINY, seed);
        long[] shape = w.get("output.weight").shape();
        float[] v = new float[(int) Tensor.numel(shape)];
        SplittableRandom r = new SplittableRandom(seed + 1);
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (0.5 * r.nextGaussian());
        }
        w.put("output.weight", Tensor.ofFloats(shape, v));
        return w;
    }

    /** A model with the provenance a trained one has (which records the weights' size and SHA-256). */
    static NppModel model(MutableDataset<TokenGrid> ds) {
        LinkedHashMap<String, Tensor> w = weights(7);
        ModelProvenance p = new ModelProvenance(NppModel.class.getName(), OffsetDateTime.now(),
                (DatasetProvenance) ds.getProvenance(), NppTrainer.customSize(32, 1, 2).getProvenance(),
                NppModelFile.inlineWeightsProvenance(w));
        return new NppModel("tiny", p, new ImmutableFeatureMap(ds.getFeatureMap()), ds.getOutputIDInfo(), TINY,
                w, "class", 42, NppModel.defaultSampling(), NppModel.DEFAULT_SEED_KEY, "cpu", 4);
    }

    @Test
    void protobufRoundTripKeepsWeightsSettingsAndProvenance(@TempDir Path dir) throws Exception {
        MutableDataset<TokenGrid> ds = data(6, 1);
        try (NppModel m = model(ds)) {
            Path file = dir.resolve("tiny.tribuo");
            m.serializeToFile(file);
            Model<?> back = Model.deserializeFromFile(file);
            assertTrue(back instanceof NppModel);
            NppModel b = (NppModel) back;
            assertEquals(m.getProvenance(), b.getProvenance());
            assertEquals(m.getGptConfig(), b.getGptConfig());
            assertEquals(m.getSeed(), b.getSeed());
            assertEquals(m.getSamplingSettings(), b.getSamplingSettings());
            assertEquals(m.getOutputIDInfo(), b.getOutputIDInfo());
            assertEquals(m.getFeatureIDMap().size(), b.getFeatureIDMap().size());
            for (Map.Entry<String, Tensor> e : m.getWeights().entrySet()) {
                assertTrue(e.getValue().contentEquals(b.getWeights().get(e.getKey())), e.getKey());
            }
            String json = ProvenanceCommand.toJson(b, false);
            assertTrue(json.contains("org.nextpatch.tribuo.NppTrainer"), json);
            assertTrue(json.contains("\"dim\""), json);
            b.close();
        }
    }

    @Test
    void teacherForcedScoresMatchTheGptLoss() {
        MutableDataset<TokenGrid> ds = data(5, 2);
        try (NppModel m = model(ds)) {
            List<TeacherForcedScorer.Score> s = m.scoreTeacherForced(ds.getData());
            long[] flat = new long[5 * 16];
            long[] labels = new long[5];
            for (int i = 0; i < 5; i++) {
                System.arraycopy(ds.getExample(i).getOutput().tokensAsLongs(), 0, flat, i * 16, 16);
                labels[i] = i % 3;
            }
            try (Gpt g = new Gpt(TINY, weights(7), Device.cpu(), "test"); NDManager sub = g.manager().newSubManager()) {
                NDArray tok = sub.create(flat, new Shape(5, 16));
                float[] loss = g.perExampleLoss(tok, sub.create(labels), 1).toFloatArray();
                for (int i = 0; i < 5; i++) {
                    // perExampleLoss is the mean over 16 tokens in float32: tolerance 1e-5 relative.
                    assertEquals(loss[i] * 16, s.get(i).nll(), 1e-5 * s.get(i).nll(), "row " + i);
                    assertEquals(i % 3, s.get(i).classIndex());
                    assertEquals(16, s.get(i).tokens());
                }
            }
        }
    }

    @Test
    void onnxExportCarriesTheProvenanceAsTribuoDoes(@TempDir Path dir) throws Exception {
        MutableDataset<TokenGrid> ds = data(4, 3);
        try (NppModel m = model(ds)) {
            ai.onnx.proto.OnnxMl.ModelProto onnx = m.exportONNXModel("org.example", 3);
            assertEquals("org.example", onnx.getDomain());
            assertEquals(3, onnx.getModelVersion());
            String prov = onnx.getMetadataPropsList().stream()
                    .filter(e -> e.getKey().equals(org.tribuo.ONNXExportable.PROVENANCE_METADATA_FIELD))
                    .findFirst().orElseThrow().getValue();
            assertEquals(m.getProvenance(), org.tribuo.ONNXExportable.SERIALIZER.deserializeAndUnmarshal(prov));
            assertEquals(List.of(), org.nextpatch.onnx.OnnxChecker.check(onnx, dir));
            List<Path> files = m.exportOnnxGraphs(dir.resolve("graphs"), false);
            assertEquals(4, files.size());
            for (Path f : files) {
                if (f.toString().endsWith(".onnx")) {
                    assertEquals(List.of(), org.nextpatch.onnx.OnnxChecker.check(f), f.toString());
                }
            }
            // the folder describes itself: OnnxSampler.open reads the configuration from its manifest
            assertTrue(java.nio.file.Files.isRegularFile(dir.resolve("graphs/manifest.json")));
            assertEquals(m.getGptConfig().toJson(), org.nextpatch.onnx.OnnxExport.readGptConfig(dir.resolve("graphs")).toJson());
            try (org.nextpatch.onnx.OnnxSampler s = org.nextpatch.onnx.OnnxSampler.open(dir.resolve("graphs"),
                    org.nextpatch.onnx.OnnxSampler.Options.cpu())) {
                assertEquals(m.getGptConfig().blockSize(), s.config().blockSize());
            }
            // quantized through the same call: the manifest records the scheme, the graphs check and sample
            Path q = dir.resolve("int4");
            m.exportOnnxGraphs(q, OnnxGraphOptions.defaults().withQuantization(org.nextpatch.onnx.WeightQuantization.INT4));
            assertEquals(4, org.nextpatch.onnx.OnnxExport.readManifest(q).path("quantization").path("bits").asInt());
            assertEquals(List.of(), org.nextpatch.onnx.OnnxChecker.check(q.resolve("gpt-generate.onnx")));
            try (org.nextpatch.onnx.OnnxSampler s = org.nextpatch.onnx.OnnxSampler.open(q, org.nextpatch.onnx.OnnxSampler.Options.cpu())) {
                long[][] t = s.generate(new long[]{0, 1}, org.nextpatch.sample.SamplingSettings.greedy(2.0), 3, 0, 2);
                assertEquals(m.getGptConfig().blockSize(), t[1].length);
            }
        }
    }

    @Test
    void generationIsDeterministicPerExampleAndFollowsTheSeedConvention() {
        MutableDataset<TokenGrid> ds = data(3, 4);
        try (NppModel m = model(ds)) {
            TokenGrid a = m.predict(ClassCondition.request(1)).getOutput();
            assertEquals(a, m.predict(ClassCondition.request(1)).getOutput());
            assertTrue(a.score() < 0 && Double.isFinite(a.score()));
            // Its score is the grid's teacher-forced log-likelihood.
            org.tribuo.impl.ArrayExample<TokenGrid> truth = ClassCondition.example(a, 1);
            assertEquals(-m.scoreTeacherForced(List.of(truth)).get(0).nll(), a.score(), 1e-9);
            // Image i of generate(classes, model seed) = predict with seed metadata i.
            List<TokenGrid> gen = m.generate(new int[]{1, 1, 2, 0, 1}, m.getSeed());
            List<org.tribuo.Example<TokenGrid>> reqs = new java.util.ArrayList<>();
            for (int i = 0; i < 5; i++) {
                org.tribuo.impl.ArrayExample<TokenGrid> r = ClassCondition.request(new int[]{1, 1, 2, 0, 1}[i]);
                r.setMetadataValue(NppModel.DEFAULT_SEED_KEY, (long) i);
                reqs.add(r);
            }
            List<org.tribuo.Prediction<TokenGrid>> preds = m.predict(reqs);
            for (int i = 0; i < 5; i++) {
                assertEquals(gen.get(i), preds.get(i).getOutput(), "image " + i);
            }
            assertEquals(gen.get(3), m.predict(reqs.get(3)).getOutput(), "alone, image 3");
            assertEquals(a, gen.get(0));
            assertTrue(gen.stream().distinct().count() > 1, gen.toString());
        }
    }

    @Test
    void onnxGraphsGiveTheSameGreedyTokensAsTheModel(@TempDir Path dir) {
        MutableDataset<TokenGrid> ds = data(3, 5);
        try (NppModel m = model(ds)) {
            m.setSamplingSettings(org.nextpatch.sample.SamplingSettings.greedy(2.0));
            m.exportOnnxGraphs(dir, false);
            List<TokenGrid> djl = m.generate(new int[]{0, 1, 2}, 5);
            try (org.nextpatch.onnx.OnnxSampler s = new org.nextpatch.onnx.OnnxSampler(dir, TINY,
                    org.nextpatch.onnx.OnnxSampler.Options.cpu())) {
                long[][] onnx = s.generate(new long[]{0, 1, 2}, m.getSamplingSettings(), 5, 0, 3);
                for (int i = 0; i < 3; i++) {
                    assertTrue(java.util.Arrays.equals(djl.get(i).tokensAsLongs(), onnx[i]), "image " + i);
                }
            }
        }
    }

    /** Another Tribuo output type (as a Label would be), for the type checks. */
    static final class OtherOutput implements org.tribuo.Output<OtherOutput> {
        @Override
        public OtherOutput copy() {
            return this;
        }

        @Override
        public String getSerializableForm(boolean includeConfidence) {
            return "other";
        }

        @Override
        public boolean fullEquals(OtherOutput o) {
            return o == this;
        }

        @Override
        public org.tribuo.protos.core.OutputProto serialize() {
            throw new UnsupportedOperationException();
        }
    }

    @Test
    void tribuosTypeCheckAcceptsTokenGridsOnly(@TempDir Path dir) throws Exception {
        try (NppModel m = model(data(2, 8))) {
            Path file = dir.resolve("m.tribuo");
            m.serializeToFile(file);
            Model<?> back = Model.deserializeFromFile(file);
            assertTrue(back.validate(TokenGrid.class));
            org.junit.jupiter.api.Assertions.assertFalse(back.validate(OtherOutput.class));
            assertEquals(back, back.castModel(TokenGrid.class));
            org.junit.jupiter.api.Assertions.assertThrows(ClassCastException.class, () -> back.castModel(OtherOutput.class));
            ((NppModel) back).close();
        }
    }

    @Test
    void aMissingGpuIsAClearError() {
        org.junit.jupiter.api.Assumptions.assumeTrue(ai.djl.engine.Engine.getInstance().getGpuCount() == 0,
                "only meaningful where there is no GPU");
        try (NppModel m = model(data(2, 6))) {
            m.setDevice("gpu");
            var e = org.junit.jupiter.api.Assertions.assertThrows(org.nextpatch.util.NppException.class,
                    () -> m.predict(ClassCondition.request(0)));
            assertTrue(e.getMessage().contains("setDevice(\"cpu\")"), e.getMessage());
            m.setDevice("cpu");
            assertEquals(4, m.predict(ClassCondition.request(0)).getOutput().side());
        }
    }
}
