package org.nextpatch.cli;

import org.nextpatch.model.VqModel;
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

/** {@code npp vq-decode}: codes (int64 [B, T]) to the decoder output (float32 NCHW, before any clamp). */
@Command(name = "vq-decode", mixinStandardHelpOptions = true,
        description = "Decode VQ codes: --codes codes.npy (int64 [B, T], T a square) -> --out decoded.npy (float32 NCHW, before any clamp).")
public final class VqDecodeCommand implements Callable<Integer> {

    @Mixin
    VqOptions vq;

    @Option(names = "--codes", required = true, paramLabel = "FILE", description = "int64 (or int32) [B, T] .npy, row-major code grids.")
    Path codes;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Output .npy: float32 [B, 3, H, W].")
    Path out;

    @Option(names = "--batch-size", defaultValue = "16", description = "Code grids per forward pass (default ${DEFAULT-VALUE}).")
    int batchSize;

    @Override
    public Integer call() {
        if (batchSize < 1) {
            throw new NppCommand.UsageException("--batch-size must be positive");
        }
        Outputs.notAnInput(out, "--out", "--codes", codes, "--vq-ckpt", vq.vqCkpt, "--vq-config", vq.vqConfig);
        Outputs.writableFile(out, "--out");
        Tensor c = Npy.read(codes);
        if (c.rank() != 2 || c.dtype().isFloating()) {
            throw new NppException(codes + ": expected integer codes [B, T], got " + c.dtype() + " " + Arrays.toString(c.shape()));
        }
        try (VqModel model = vq.load()) {
            Npy.write(out, decodeAll(model, c, batchSize, codes.toString()));
        }
        return 0;
    }

    /** Decodes in batches with a progress report. */
    static Tensor decodeAll(VqModel model, Tensor codes, int batchSize, String source) {
        long[] s = codes.shape();
        int b = (int) s[0];
        int t = (int) s[1];
        long[] all = codes.toLongArray();
        float[] out = null;
        long[] outShape = null;
        try (Progress p = Progress.start("vq-decode", b, "img")) {
            for (int i = 0; i < b; i += batchSize) {
                int n = Math.min(batchSize, b - i);
                Tensor chunk = Tensor.ofLongs(new long[]{n, t}, Arrays.copyOfRange(all, i * t, (i + n) * t));
                Tensor img;
                try {
                    img = model.decode(chunk);
                } catch (NppException e) {
                    throw new NppException(source + ": " + e.getMessage(), e);
                }
                float[] v = img.toFloatArray();
                if (out == null) {
                    outShape = img.shape().clone();
                    outShape[0] = b;
                    out = new float[(int) Tensor.numel(outShape)];
                }
                System.arraycopy(v, 0, out, i * (v.length / n), v.length);
                p.step(n);
            }
        }
        return Tensor.ofFloats(outShape, out);
    }
}
