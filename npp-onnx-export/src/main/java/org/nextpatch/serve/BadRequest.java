package org.nextpatch.serve;

/** A request the server refuses with a 4xx status; {@link #field()} names the offending JSON field. */
public final class BadRequest extends RuntimeException {
    private final int status;
    private final String field;

    public BadRequest(String field, String message) {
        this(400, field, message);
    }

    public BadRequest(int status, String field, String message) {
        super(message);
        this.status = status;
        this.field = field;
    }

    /** HTTP status (400, 404, 405, 413). */
    public int status() {
        return status;
    }

    /** The JSON field at fault, or null. */
    public String field() {
        return field;
    }
}
