package dev.cramjet;

/**
 * A failure the user can act on: bad input, a missing file, an impossible setting. The CLI prints its message
 * (which names the file, line, field or key and what was expected) and exits with status 2, without a stack trace.
 */
public class CramjetException extends RuntimeException {
    public CramjetException(String message) { super(message); }
    public CramjetException(String message, Throwable cause) { super(message, cause); }
}
