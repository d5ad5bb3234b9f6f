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

/** {@code npp vq-encode}: images (float32 NCHW in [-1, 1]) to codes (int64 [B, h*w], row-major). */
@Command(name = "vq-encode", mixinStandardHelpOptions = true,
        description = "Encode images to VQ codes: --images images.npy (float32 NCHW in [-1, 1]) -> --out codes.npy (int64 [B, h*w], row-major).")
public final class VqEncodeCommand implements Callable<Integer> {

    @Mixin
    VqOptions vq;

    @Option(names = "--images", required = true, paramLabel = "FILE", description = "float32 [B, 3, H, W] .npy, values in [-1, 1].")
    Path images;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Output .npy: int64 [B, (H/f)*(W/f)].")
    Path out;

    @Option(names = "--batch-size", defaultValue = "16", description = "Images per forward pass (default ${DEFAULT-VALUE}).")
    int batchSize;

    @Override
    public Integer call() {
        if (batchSize < 1) {
            throw new NppCommand.UsageException("--batch-size must be positive");
        }
        Outputs.notAnInput(out, "--out", "--images", images, "--vq-ckpt", vq.vqCkpt, "--vq-config", vq.vqConfig);
        Outputs.writableFile(out, "--out");
        Tensor x = Npy.read(images);
        long[] s = x.shape();
        if (s.length != 4 || s[1] != 3 || !x.dtype().isFloating()) {
            throw new NppException(images + ": expected float [B, 3, H, W] images, got " + x.dtype() + " " + Arrays.toString(s));
        }
        long bad = org.nextpatch.tensor.NonFinite.count(x);
        if (bad > 0) {
            throw new NppException(images + ": " + bad + " of " + x.numel() + " pixel values are NaN or infinite");
        }
        try (VqModel model = vq.load()) {
            int f = model.config().downsample();
            if (s[2] % f != 0 || s[3] % f != 0) {
                throw new NppException(images + ": image size " + s[2] + "x" + s[3] + " is not a multiple of the tokenizer's downsampling " + f);
            }
            Tensor codes = encodeAll(model, x, batchSize);
            Npy.write(out, codes);
        }
        return 0;
    }

    /** Encodes in batches with a progress report. */
    static Tensor encodeAll(VqModel model, Tensor x, int batchSize) {
        long[] s = x.shape();
        int b = (int) s[0];
        float[] all = x.toFloatArray();
        int per = (int) (s[1] * s[2] * s[3]);
        long[] codes = null;
        int t = 0;
        try (Progress p = Progress.start("vq-encode", b, "img")) {
            for (int i = 0; i < b; i += batchSize) {
                int n = Math.min(batchSize, b - i);
                Tensor chunk = Tensor.ofFloats(new long[]{n, s[1], s[2], s[3]}, Arrays.copyOfRange(all, i * per, (i + n) * per));
                long[] c = model.encode(chunk).toLongArray();
                if (codes == null) {
                    t = c.length / n;
                    codes = new long[b * t];
                }
                System.arraycopy(c, 0, codes, i * t, c.length);
                p.step(n);
            }
        }
        return Tensor.ofLongs(new long[]{b, t}, codes);
    }
}
