// Sample an exported NPP model with ONNX Runtime only: no DJL, no PyTorch, no Tribuo trainer.
// A complete program for a project that depends on org.nextpatch:npp-onnx-export alone (the consumer
// test in integration-tests compiles and runs it on the folder TribuoExample exported).
// Usage: OnnxDeploymentExample ONNX_DIR   (a folder written by `npp export-onnx` or NppModel.exportOnnxGraphs)
import org.nextpatch.config.GptConfig;
import org.nextpatch.onnx.OnnxSampler;
import org.nextpatch.sample.SamplingSettings;

import java.nio.file.Path;
import java.util.Arrays;

public class OnnxDeploymentExample {
    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: OnnxDeploymentExample ONNX_DIR");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        // open() reads the model configuration from the folder's manifest.json (a folder without one is refused).
        // Options: device "cpu" (or "cuda"), intra-op threads (0 = ONNX Runtime's default), inter-op threads, no profiling.
        try (OnnxSampler sampler = OnnxSampler.open(dir, new OnnxSampler.Options("cpu", 1, 1, null))) {
            GptConfig cfg = sampler.config();
            long[] classes = new long[cfg.numClasses()];
            for (int k = 0; k < classes.length; k++) {
                classes[k] = k;
            }
            // Guidance 2.0 as NppModel.predict by default; the same seed gives the same tokens as the DJL sampler.
            SamplingSettings settings = SamplingSettings.of(2.0);
            long[][] tokens = sampler.generate(classes, settings, 42L, 0L, classes.length);
            for (int k = 0; k < tokens.length; k++) {
                System.out.println("class " + k + ": " + Arrays.toString(tokens[k]));
            }
            System.out.println("sampled " + tokens.length + " grids of " + cfg.gridSide() + "x" + cfg.gridSide()
                    + " tokens with " + sampler.provider());
        }
    }
}
