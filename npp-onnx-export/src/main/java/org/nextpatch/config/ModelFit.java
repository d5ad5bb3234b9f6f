package org.nextpatch.config;

import org.nextpatch.util.NppException;

/**
 * Whether a GPT and a VQ tokenizer belong together: the GPT's vocabulary is the tokenizer's codebook,
 * and the GPT's token grid times the tokenizer's downsampling is the image size. Checked before any
 * work, so a mismatch is one line naming both values instead of an index error deep in a decoder.
 */
public final class ModelFit {
    private ModelFit() {}

    /**
     * Refuses a GPT whose vocabulary is not the tokenizer's codebook.
     *
     * @param gptName how to name the GPT in the message (e.g. "--gpt-ckpt gpt.pt")
     * @param vqName  how to name the tokenizer
     */
    public static void check(GptConfig gpt, VqConfig vq, String gptName, String vqName) {
        if (gpt.vocabSize() != vq.codebookSize()) {
            throw new NppException(gptName + " has a vocabulary of " + gpt.vocabSize() + " tokens but " + vqName
                    + " has a codebook of " + vq.codebookSize() + " codes: they do not belong together");
        }
    }

    /**
     * Refuses a GPT and a tokenizer that do not fit (vocabulary vs codebook, grid vs downsampling and
     * image size) and returns the image size they make.
     *
     * @param imageSize the image size the user or a checkpoint gave (null: whatever the pair makes)
     * @return the image size in pixels (GPT grid side times the tokenizer's downsampling)
     */
    public static int imageSize(GptConfig gpt, VqConfig vq, Integer imageSize, String gptName, String vqName) {
        check(gpt, vq, gptName, vqName);
        int made = gpt.gridSide() * vq.downsample();
        if (imageSize != null && imageSize != made) {
            throw new NppException(gptName + " generates a " + gpt.gridSide() + "x" + gpt.gridSide() + " grid for "
                    + imageSize + "-pixel images (downsampling " + Math.max(1, imageSize / gpt.gridSide()) + ") but "
                    + vqName + " downsamples by " + vq.downsample() + " (" + made + "-pixel images)");
        }
        return made;
    }
}
