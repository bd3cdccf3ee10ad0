package dev.cramjet.text;

import dev.cramjet.CramjetException;

import java.util.ArrayList;
import java.util.List;

/**
 * What to do with a bad document (invalid UTF-8, a binary file, a malformed JSON line, a missing field, an
 * unreadable file): stop with a message naming the file and line or field (the default, so nothing partial gets
 * written), or — with --skip-bad — skip it, count it and keep the first few messages for the report.
 */
public final class BadInput {
    private static final int EXAMPLES = 20;

    private final boolean skip;
    private long skipped;
    private final List<String> examples = new ArrayList<>();

    public BadInput(boolean skip) { this.skip = skip; }

    /** Throws unless skipping; otherwise counts the bad document and keeps its message. */
    public void report(String message) {
        if (!skip) throw new CramjetException(message + " (pass --skip-bad to skip bad documents instead)");
        skipped++;
        if (examples.size() < EXAMPLES) examples.add(message);
    }

    public boolean skipping() { return skip; }

    public long skipped() { return skipped; }

    /** The first messages, in the order they happened. */
    public List<String> examples() { return List.copyOf(examples); }
}
