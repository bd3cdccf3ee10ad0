package dev.cramjet.text;

import dev.cramjet.CramjetException;

import java.nio.file.Path;
import java.util.Locale;

/** How a corpus file is cut into documents. */
public enum Format {
    /**
     * Plain text: a file of up to 2,000 characters (or an HTML file) is one document; a longer one is cut at
     * paragraph breaks into documents of at most that size, so one book makes a corpus.
     */
    TXT,
    /** Each non-blank line is one document; with a field N, only the N-th tab-separated column of it. */
    LINES,
    /** One JSON object per line; the field path picks the text. */
    JSONL,
    /** A JSON array of records (or one record); the field path picks the text of each. */
    JSON,
    /**
     * An RFC 822 mail message: headers are parsed off, the subject and the text body make the document. A .json
     * file holds messages in a field of its records (default {@code text}, as in spam-assassin's .json files).
     */
    EMAIL,
    /** The Brown corpus's tagged text ("The/at jury/nn ..."): the tags are stripped, one document per file. */
    BROWN;

    public static Format parse(String name) {
        try {
            return valueOf(name.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new CramjetException("--format expects one of txt, lines, jsonl, json, email, brown; got '" + name + "'");
        }
    }

    /** The format a file's extension suggests (a trailing .gz is looked through); plain text when unsure. */
    public static Format detect(Path file) {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".gz")) name = name.substring(0, name.length() - 3);
        if (name.endsWith(".jsonl") || name.endsWith(".ndjson")) return JSONL;
        if (name.endsWith(".json")) return JSON;
        if (name.endsWith(".eml")) return EMAIL;
        return TXT;
    }

    public String cliName() { return name().toLowerCase(Locale.ROOT); }
}
