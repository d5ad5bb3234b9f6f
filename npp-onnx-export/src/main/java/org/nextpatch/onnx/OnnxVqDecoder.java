package org.nextpatch.onnx;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import org.nextpatch.tensor.DType;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import java.nio.ByteBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Decodes image tokens to pixels with {@code vq-decoder.onnx} (written by {@link VqDecoderOnnxExporter})
 * on ONNX Runtime: the DJL-free end of the deployment path (tokens from {@link OnnxSampler}, images
 * from here).
 */
public final class OnnxVqDecoder implements AutoCloseable {
    /** File name inside an export directory. */
    public static final String FILE = "vq-decoder.onnx";

    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final OrtSession session;
    private final Path file;

    /** Opens {@code dir/vq-decoder.onnx} on the CPU provider with the project's threads ({@link org.nextpatch.util.Threads}). */
    public OnnxVqDecoder(Path dir) {
        this.file = dir.resolve(FILE);
        if (!Files.isRegularFile(file)) {
            throw new NppException(dir + " has no " + FILE + " (export with 'npp export-onnx --vq-ckpt FILE')");
        }
        try {
            OrtSession.SessionOptions so = new OrtSession.SessionOptions();
            so.setIntraOpNumThreads(org.nextpatch.util.Threads.intraOp());
            session = env.createSession(file.toString(), so);
        } catch (OrtException e) {
            throw new NppException("cannot load ONNX model " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Checks the graph against the export's configuration ({@link OnnxGraphCheck#decoder}) and decodes
     * one image of the highest code to see its size: a graph of another tokenizer, or one that does
     * not run, is refused here in one line instead of failing every later request.
     *
     * @param tokens       codes per image (the GPT's {@code block_size})
     * @param codebookSize codes in the codebook (the GPT's {@code vocab_size})
     * @param imageSize    the image side the configuration implies ({@code grid side x downsample})
     */
    public void check(int tokens, int codebookSize, int imageSize) {
        OnnxGraphCheck.decoder(file, session, codebookSize);
        long[][] probe = new long[1][tokens];
        java.util.Arrays.fill(probe[0], codebookSize - 1L);
        long[] shape;
        try {
            shape = decode(probe, 1).shape();
        } catch (NppException e) {
            throw new NppException(file + " cannot decode one image of " + tokens + " codes: " + e.getMessage(), e);
        }
        long[] want = {1, imageSize, imageSize, 3};
        if (!java.util.Arrays.equals(shape, want)) {
            throw new NppException(file + " makes images of " + shape[2] + "x" + shape[1] + " pixels, but the export's configuration "
                    + "(vq_config's downsample x the token grid) says " + imageSize + "x" + imageSize
                    + "; the decoder and the configuration are of different tokenizers");
        }
    }

    /**
     * Decodes {@code batchSize} images per run.
     *
     * @param codes [N, h*w] token rows (row-major code grids)
     * @return uint8 [N, H, W, 3] pixels, the upstream conversion {@code uint8(clamp(127.5 x + 128))}
     */
    public Tensor decode(long[][] codes, int batchSize) {
        int n = codes.length;
        int hw = codes[0].length;
        ByteBuffer all = null;
        long[] shape = null;
        for (int start = 0; start < n; start += batchSize) {
            int b = Math.min(batchSize, n - start);
            long[] flat = new long[b * hw];
            for (int i = 0; i < b; i++) {
                System.arraycopy(codes[start + i], 0, flat, i * hw, hw);
            }
            try (OnnxTensor in = OnnxTensor.createTensor(env, LongBuffer.wrap(flat), new long[]{b, hw});
                 OrtSession.Result r = session.run(Map.of("codes", in))) {
                OnnxTensor px = (OnnxTensor) r.get("pixels").orElseThrow();
                long[] s = px.getInfo().getShape();
                if (all == null) {
                    shape = new long[]{n, s[1], s[2], s[3]};
                    all = ByteBuffer.allocate(Math.toIntExact(Tensor.numel(shape)));
                }
                all.put(px.getByteBuffer());
            } catch (OrtException e) {
                throw new NppException("ONNX Runtime failed running " + file + ": " + e.getMessage(), e);
            }
        }
        all.flip();
        return new Tensor(DType.UINT8, shape, all);
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException e) {
            throw new NppException("closing " + file + " failed: " + e.getMessage(), e);
        }
    }
}
