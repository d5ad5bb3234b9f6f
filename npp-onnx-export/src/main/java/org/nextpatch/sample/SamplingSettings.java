package org.nextpatch.sample;

import org.nextpatch.util.BadValueException;

/**
 * How tokens are drawn at generation time (spec 6.5), shared by the DJL and ONNX samplers.
 *
 * @param cfgScale    classifier-free guidance scale s; guided logits are {@code u + s * (c - u)}.
 *                    Guidance applies only for {@code s > 1} (as upstream); otherwise the
 *                    conditional logits are used and no unconditional rows are run (see {@link #guided()}).
 * @param cfgInterval decode step {@code i > cfgInterval} uses the conditional logits alone;
 *                    {@code -1} (any negative value) guides every step. The prefill is always guided.
 * @param temperature logits are divided by {@code max(temperature, 1e-5)}
 * @param topK        keep the k largest logits (ties kept); 0 = off
 * @param topP        nucleus filter; 1 = off
 * @param greedy      take the argmax (lowest index on ties) instead of drawing
 */
public record SamplingSettings(double cfgScale, int cfgInterval, double temperature, int topK, double topP,
                               boolean greedy) {

    /** Largest guidance scale accepted (docs/formats.md, "Limits and ranges"). */
    public static final double MAX_CFG_SCALE = 100;
    /** Largest temperature accepted. */
    public static final double MAX_TEMPERATURE = 100;

    /** Validates the settings (messages name the command-line flag). */
    public SamplingSettings {
        if (!validCfgScale(cfgScale)) {
            throw new BadValueException("--cfg-scale must be in (0, " + MAX_CFG_SCALE + "], got " + cfgScale);
        }
        if (!validTemperature(temperature)) {
            throw new BadValueException("--temperature must be in [0, " + MAX_TEMPERATURE + "], got " + temperature);
        }
        if (topK < 0) {
            throw new BadValueException("--top-k must be >= 0 (0 = off), got " + topK);
        }
        if (!validTopP(topP)) {
            throw new BadValueException("--top-p must be in (0, 1] (1 = off) and positive as float32, got " + topP);
        }
    }

    /**
     * Whether a guidance scale is in (0, {@value #MAX_CFG_SCALE}]: the samplers compute with it in
     * float32, where 1e308 is infinity and every guided logit NaN. The command line, {@code npp serve}
     * and the Tribuo API all check with this.
     */
    public static boolean validCfgScale(double cfgScale) {
        return cfgScale > 0 && cfgScale <= MAX_CFG_SCALE;
    }

    /** Whether a temperature is in [0, {@value #MAX_TEMPERATURE}] (0 divides by 1e-5: nearly greedy). */
    public static boolean validTemperature(double temperature) {
        return temperature >= 0 && temperature <= MAX_TEMPERATURE;
    }

    /** Whether a top-p is in (0, 1] and still positive as float32 (1e-50 is 0 there). */
    public static boolean validTopP(double topP) {
        return topP > 0 && topP <= 1 && (float) topP > 0;
    }

    /** The upstream FID defaults: temperature 1, no top-k, no top-p, drawing, with a guidance scale. */
    public static SamplingSettings of(double cfgScale) {
        return new SamplingSettings(cfgScale, -1, 1.0, 0, 1.0, false);
    }

    /** Greedy decoding with a guidance scale (the fixtures' setting). */
    public static SamplingSettings greedy(double cfgScale) {
        return new SamplingSettings(cfgScale, -1, 1.0, 0, 1.0, true);
    }

    /**
     * Whether unconditional rows are run (batch doubling) and the guided logits {@code u + s(c - u)}
     * used: only for a scale above 1, as upstream's {@code generate} does. A scale of 1 or below
     * samples from the conditional logits alone.
     */
    public boolean guided() {
        return cfgScale > 1.0;
    }

    /** Whether decode step {@code i} (0-based, after the prefill) is guided. */
    public boolean guidedAtDecodeStep(int i) {
        return guided() && (cfgInterval < 0 || i <= cfgInterval);
    }

    /** The divisor applied to logits: {@code max(temperature, 1e-5)} as a float. */
    public float temperatureDivisor() {
        return (float) Math.max(temperature, 1e-5);
    }
}
