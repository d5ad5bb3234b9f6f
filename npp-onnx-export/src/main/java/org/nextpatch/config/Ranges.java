package org.nextpatch.config;

import org.nextpatch.util.NppException;

/**
 * Range checks for configuration values, made before anything is sized from them (docs/formats.md,
 * "Limits and ranges"). Real numbers are checked as the float32 the models compute with.
 */
final class Ranges {
    /** Most elements in one weight tensor: under 2 GiB as float32, the largest buffer Java holds. */
    static final long MAX_TENSOR_ELEMENTS = 500_000_000L;

    private Ranges() {}

    /** Refuses an integer outside [min, max]. */
    static void intIn(String config, String field, long value, long min, long max) {
        if (value < min || value > max) {
            throw new NppException("invalid " + config + ": " + field + " " + value + " is out of range [" + min + ", " + max + "]");
        }
    }

    /** Refuses a number that is not finite or outside [min, max] once converted to float32. */
    static void floatIn(String config, String field, double value, double min, double max) {
        float f = (float) value;
        if (!Float.isFinite(f) || f < min || f > max) {
            throw new NppException("invalid " + config + ": " + field + " " + value + " is out of range [" + min + ", " + max
                    + "]" + (Float.isFinite(f) ? "" : " (not a finite float32)"));
        }
    }

    /** Refuses a probability outside [0, 1) as float32 (0.999999999 is 1 in float32). */
    static void probability(String config, String field, double p) {
        if (!(p >= 0) || !((float) p < 1f)) {
            throw new NppException("invalid " + config + ": " + field + " must be in [0, 1) (as float32), got " + p);
        }
    }

    /** Refuses a weight tensor too large to hold. */
    static void tensor(String config, String name, long elements) {
        if (elements > MAX_TENSOR_ELEMENTS) {
            throw new NppException("invalid " + config + ": " + name + " would have " + elements + " elements, more than the "
                    + MAX_TENSOR_ELEMENTS + " one weight tensor may hold");
        }
    }
}
