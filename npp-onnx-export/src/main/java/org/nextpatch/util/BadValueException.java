package org.nextpatch.util;

/**
 * A setting given a value outside its range ({@code --top-p 2}, {@code --batch-size 0}): a usage
 * error, which the command line reports with exit status 2 rather than 1.
 */
public class BadValueException extends NppException {
    private static final long serialVersionUID = 1L;

    public BadValueException(String message) {
        super(message);
    }
}
