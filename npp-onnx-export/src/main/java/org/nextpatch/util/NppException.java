package org.nextpatch.util;

/**
 * A failure the user can act on: bad input, a missing or corrupt file, an unknown model name.
 * <p>
 * The message is written to be shown as one line on its own (the command line prints it without a
 * stack trace unless {@code --verbose}), so it names the file or setting and what is wrong with it.
 */
public class NppException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public NppException(String message) {
        super(message);
    }

    public NppException(String message, Throwable cause) {
        super(message, cause);
    }
}
