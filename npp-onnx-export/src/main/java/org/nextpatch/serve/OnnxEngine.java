package org.nextpatch.serve;

import org.nextpatch.onnx.OnnxSampler;
import org.nextpatch.onnx.OnnxVqDecoder;
import org.nextpatch.sample.SamplingSettings;
import org.nextpatch.tensor.Tensor;
import org.nextpatch.util.NppException;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** {@link GenerationEngine} on ONNX Runtime: the {@code Loop} graph and, when exported, the VQ decoder. */
public final class OnnxEngine implements GenerationEngine {
    private final OnnxSampler sampler;
    private final OnnxVqDecoder decoder;

    /**
     * Opens the graphs of a served model and checks them against its configuration
     * ({@link OnnxSampler#check}, {@link OnnxVqDecoder#check}): a broken export does not start.
     */
    public OnnxEngine(ServedModel model, OnnxSampler.Options options) {
        OnnxSampler s = new OnnxSampler(model.dir(), model.gpt(), options);
        OnnxVqDecoder d = null;
        try {
            s.check();
            if (model.hasDecoder()) {
                d = new OnnxVqDecoder(model.dir());
                d.check(model.gpt().blockSize(), model.gpt().vocabSize(), model.imageSize());
            }
        } catch (RuntimeException e) {
            s.close();
            if (d != null) {
                d.close();
            }
            throw e;
        }
        this.sampler = s;
        this.decoder = d;
    }

    @Override
    public long[][] tokens(long[] classes, float[] uniforms, SamplingSettings settings) {
        return sampler.generateRows(classes, uniforms, settings);
    }

    @Override
    public List<byte[]> pngs(long[][] tokens) {
        if (decoder == null) {
            throw new IllegalStateException("the model has no VQ decoder");
        }
        Tensor px = decoder.decode(tokens, tokens.length);
        long[] s = px.shape();
        int h = (int) s[1];
        int w = (int) s[2];
        byte[] all = px.toByteArray();
        List<byte[]> out = new ArrayList<>(tokens.length);
        for (int n = 0; n < tokens.length; n++) {
            BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
            int base = n * h * w * 3;
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int i = base + (y * w + x) * 3;
                    img.setRGB(x, y, (all[i] & 0xff) << 16 | (all[i + 1] & 0xff) << 8 | (all[i + 2] & 0xff));
                }
            }
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            try {
                ImageIO.write(img, "png", b);
            } catch (IOException e) {
                throw new NppException("cannot encode a PNG: " + e.getMessage(), e);
            }
            out.add(b.toByteArray());
        }
        return out;
    }

    @Override
    public void close() {
        sampler.close();
        if (decoder != null) {
            decoder.close();
        }
    }
}
