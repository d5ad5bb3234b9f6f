package org.nextpatch.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.nextpatch.config.GptConfig;
import org.nextpatch.model.Gpt;
import org.nextpatch.tensor.Npy;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;
import org.nextpatch.util.Progress;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;

/**
 * {@code npp forward}: teacher-forced logits of a GPT checkpoint, float32 {@code [B, T, V]}, in eval
 * mode. Input sequence {@code [class, tokens[:, 0 .. T-2]]}; output position k predicts token k.
 */
@Command(name = "forward", mixinStandardHelpOptions = true,
        description = "Teacher-forced GPT logits: --tokens (int64 [B, T]) and --labels (int64 [B]) -> --out float32 [B, T, V].")
public final class ForwardCommand implements Callable<Integer> {

    @Mixin
    GptOptions gpt;

    @Option(names = "--tokens", required = true, paramLabel = "FILE", description = "int64 (or int32) [B, T] image tokens, raster order.")
    Path tokens;

    @Option(names = "--labels", required = true, paramLabel = "FILE", description = "int64 (or int32) [B] class labels (the null class num_classes allowed).")
    Path labels;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Output .npy: float32 [B, T, V] logits.")
    Path out;

    @Option(names = "--batch-size", defaultValue = "16", description = "Sequences per forward pass (default ${DEFAULT-VALUE}).")
    int batchSize;

    @Override
    public Integer call() {
        if (batchSize < 1) {
            throw new NppCommand.UsageException("--batch-size must be positive");
        }
        Outputs.notAnInput(out, "--out", "--gpt-ckpt", gpt.ckpt, "--tribuo-model", gpt.tribuoModel, "--tokens", tokens, "--labels", labels,
                "--gpt-config", gpt.configFile);
        Outputs.writableFile(out, "--out");
        GptConfig c = gpt.config();
        Tensor tk = Npy.read(tokens);
        Tensor lb = Npy.read(labels);
        long[] ts = tk.shape();
        if (tk.dtype().isFloating()) {
            throw new NppException("--tokens " + tokens + ": token ids must be integers, got " + tk.dtype());
        }
        if (ts.length != 2 || ts[1] != c.blockSize()) {
            throw new NppException("--tokens " + tokens + ": expected integer [B, " + c.blockSize() + "], got "
                    + tk.dtype() + " " + Arrays.toString(ts));
        }
        if (lb.dtype().isFloating() || lb.rank() != 1 || lb.shape()[0] != ts[0]) {
            throw new NppException("--labels " + labels + ": expected integer [" + ts[0] + "], got "
                    + lb.dtype() + " " + Arrays.toString(lb.shape()));
        }
        long[] tok = tk.toLongArray();
        long[] lab = lb.toLongArray();
        checkRange(tok, c.vocabSize() - 1, "--tokens " + tokens, "token");
        checkRange(lab, c.numClasses(), "--labels " + labels, "label");
        int b = (int) ts[0];
        int t = c.blockSize();
        int v = c.vocabSize();
        float[] logits = new float[Math.multiplyExact(Math.multiplyExact(b, t), v)];
        try (Gpt model = gpt.load(); Progress p = Progress.start("forward", b, "seq")) {
            for (int i = 0; i < b; i += batchSize) {
                int n = Math.min(batchSize, b - i);
                try (NDManager m = model.manager().newSubManager()) {
                    NDArray x = m.create(Arrays.copyOfRange(tok, i * t, (i + n) * t), new Shape(n, t));
                    NDArray y = m.create(Arrays.copyOfRange(lab, i, i + n));
                    float[] chunk = model.logits(x, y, 1, false).toFloatArray();
                    System.arraycopy(chunk, 0, logits, i * t * v, chunk.length);
                }
                p.step(n);
            }
        }
        Npy.write(out, Tensor.ofFloats(new long[]{b, t, v}, logits));
        return 0;
    }

    static void checkRange(long[] values, long max, String where, String what) {
        for (int i = 0; i < values.length; i++) {
            if (values[i] < 0 || values[i] > max) {
                throw new NppException(where + ": " + what + " " + values[i] + " at element " + i
                        + " is outside 0.." + max);
            }
        }
    }
}
