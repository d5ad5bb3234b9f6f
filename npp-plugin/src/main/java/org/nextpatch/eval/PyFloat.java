package org.nextpatch.eval;

import java.math.BigDecimal;
import java.util.Locale;

/**
 * Formats a double the way Python's {@code print(float)} does (the ADM evaluator prints its
 * metrics with it): the shortest digits that read back as the same double, in fixed notation when
 * the decimal exponent is in [-4, 16), otherwise as {@code 1.5e-05}; always a decimal point in fixed
 * notation ({@code 1.0}); {@code nan}, {@code inf}, {@code -inf}.
 */
public final class PyFloat {
    private PyFloat() {}

    /** Python's {@code repr(x)}. */
    public static String repr(double x) {
        if (Double.isNaN(x)) {
            return "nan";
        }
        if (Double.isInfinite(x)) {
            return x > 0 ? "inf" : "-inf";
        }
        if (x == 0) {
            return (1 / x < 0) ? "-0.0" : "0.0";
        }
        // shortest round-tripping significand (Java 17's Double.toString is not always shortest)
        BigDecimal shortest = null;
        for (int p = 0; p <= 16; p++) {
            String s = String.format(Locale.ROOT, "%." + p + "e", x);
            if (Double.parseDouble(s) == x) {
                shortest = new BigDecimal(s);
                break;
            }
        }
        if (shortest == null) {
            shortest = new BigDecimal(x);
        }
        BigDecimal stripped = shortest.stripTrailingZeros();
        int exp = stripped.precision() - stripped.scale() - 1;
        if (exp >= -4 && exp < 16) {
            String s = stripped.toPlainString();
            return s.contains(".") ? s : s + ".0";
        }
        String digits = stripped.unscaledValue().abs().toString();
        StringBuilder sb = new StringBuilder();
        if (x < 0) {
            sb.append('-');
        }
        sb.append(digits.charAt(0));
        if (digits.length() > 1) {
            sb.append('.').append(digits, 1, digits.length());
        }
        sb.append('e').append(exp < 0 ? '-' : '+');
        int a = Math.abs(exp);
        if (a < 10) {
            sb.append('0');
        }
        sb.append(a);
        return sb.toString();
    }
}
