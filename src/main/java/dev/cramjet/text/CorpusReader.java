package dev.cramjet.text;

import dev.cramjet.CramjetException;
import dev.cramjet.io.Json;
import dev.cramjet.io.TextFile;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * Streams documents out of corpus files, one file at a time, so a corpus larger than memory works (a single
 * .txt/.json/mail file is read whole; line formats are read line by line). A long plain text is cut into
 * {@link Pieces} at paragraph breaks, so one book is a corpus of many documents. Files ending in .gz are decompressed on
 * the fly. Every bad document — invalid UTF-8, a binary file, a malformed JSON line, a missing field, an unreadable
 * file — goes to {@link BadInput} with a message naming the file and line or field and what was expected.
 */
public final class CorpusReader {
    /** Receives documents in corpus order; returns false to stop reading. */
    @FunctionalInterface
    public interface Sink {
        boolean accept(Document doc);
    }

    private final Format format;
    private final FieldPath field;
    private final BadInput bad;

    private long files, documents, bytes;

    /**
     * @param format the format of every file, or null to pick one per file from its extension
     * @param field  for JSON/JSONL, the field path of the text (default {@code text}); for LINES, an optional
     *               1-based tab-separated column; ignored otherwise
     */
    public CorpusReader(Format format, String field, BadInput bad) {
        this.format = format;
        this.field = field == null ? null : FieldPath.parse(field);
        this.bad = bad;
        if (format == Format.LINES && field != null && !field.matches("[1-9][0-9]*")) {
            throw new CramjetException("--field for --format lines is a 1-based column number, got '" + field + "'");
        }
    }

    /** Reads the files in order; returns false when the sink asked to stop. */
    public boolean read(List<Path> paths, Sink sink) {
        for (Path p : paths) {
            if (!readFile(p, sink)) return false;
        }
        return true;
    }

    public long files() { return files; }

    public long documents() { return documents; }

    /** Bytes of (decompressed) input read. */
    public long bytes() { return bytes; }

    private boolean readFile(Path path, Sink sink) {
        Format f = format != null ? format : Format.detect(path);
        files++;
        try (InputStream in = open(path)) {
            return switch (f) {
                case LINES, JSONL -> readLines(path, in, f, sink);
                default -> readWhole(path, in, f, sink);
            };
        } catch (IOException e) {
            bad.report(path + ": cannot read file: " + describe(e));
            return true;
        }
    }

    private static InputStream open(Path path) throws IOException {
        InputStream in = new BufferedInputStream(Files.newInputStream(path), 1 << 16);
        if (path.getFileName().toString().endsWith(".gz")) in = new BufferedInputStream(new GZIPInputStream(in, 1 << 16), 1 << 16);
        return in;
    }

    private static String describe(IOException e) {
        String m = e.getMessage();
        return switch (e) {
            case AccessDeniedException a -> "permission denied";
            case ZipException z -> "not valid gzip data (" + m + ")";
            case EOFException eof -> "unexpected end of file (truncated?)";
            default -> m == null ? e.getClass().getSimpleName() : m;
        };
    }

    // ---- whole-file formats -----------------------------------------------------------------------------------

    private boolean readWhole(Path path, InputStream in, Format f, Sink sink) throws IOException {
        byte[] raw = in.readAllBytes();
        bytes += raw.length;
        String where = path.toString();
        boolean jsonFile = Format.detect(path) == Format.JSON;
        if (f == Format.EMAIL && !jsonFile) {
            int nul = indexOfNul(raw);
            if (nul >= 0) {
                bad.report(where + ": NUL byte at offset " + nul + " (a binary file?); expected a mail message");
                return true;
            }
            return emit(new Document(Email.parse(raw).text(), where), sink);
        }
        String text = decode(raw, 0, raw.length, where, 1);
        if (text == null) return true;
        return switch (f) {
            case TXT -> plainText(text, where, sink);
            case BROWN -> emit(new Document(Brown.untag(text), where), sink);
            case JSON -> readJson(text, where, false, sink);
            case EMAIL -> readJson(text, where, true, sink); // a message stored in a JSON field (spam-assassin's .json)
            default -> throw new IllegalStateException(f.toString());
        };
    }

    /** A plain text file: one document when short (or HTML, whose tags must stay whole), else its {@link Pieces}. */
    private boolean plainText(String text, String where, Sink sink) {
        if (text.length() <= Pieces.MAX_CHARS || Html.looksLike(text)) return emit(new Document(text, where), sink);
        for (Pieces.Piece p : Pieces.cut(text)) {
            if (!emit(new Document(p.text(), where + ":" + p.line()), sink)) return false;
        }
        return true;
    }

    /** The records of a JSON file; with {@code email}, each extracted text is a raw mail message to split. */
    private boolean readJson(String text, String where, boolean email, Sink sink) {
        Object root;
        try {
            root = Json.parse(text, where);
        } catch (CramjetException e) {
            bad.report(e.getMessage());
            return true;
        }
        FieldPath fp = field != null ? field : FieldPath.parse("text");
        if (!(root instanceof List<?> records)) return record(fp, root, where, email, sink);
        for (int i = 0; i < records.size(); i++) {
            if (!record(fp, records.get(i), where + "[" + i + "]", email, sink)) return false;
        }
        return true;
    }

    private boolean record(FieldPath fp, Object rec, String where, boolean email, Sink sink) {
        try {
            String text = fp.extract(rec, where);
            if (email) text = Email.parse(text.getBytes(StandardCharsets.UTF_8)).text();
            return emit(new Document(text, where), sink);
        } catch (FieldPath.MissingField e) {
            bad.report(e.getMessage());
            return true;
        }
    }

    // ---- line formats -----------------------------------------------------------------------------------------

    private boolean readLines(Path path, InputStream in, Format f, Sink sink) throws IOException {
        byte[] buf = new byte[1 << 16];
        int len = 0;
        long line = 0;
        int column = field != null && f == Format.LINES ? Integer.parseInt(field.toString()) : 0;
        FieldPath fp = f == Format.JSONL ? (field != null ? field : FieldPath.parse("text")) : null;
        boolean eof = false;
        int start = 0;
        while (true) {
            int nl = -1;
            for (int k = start; k < len; k++) if (buf[k] == '\n') { nl = k; break; }
            if (nl < 0 && !eof) {
                // Shift the partial line to the front and read more (growing the buffer for long lines).
                System.arraycopy(buf, start, buf, 0, len - start);
                len -= start;
                start = 0;
                if (len == buf.length) buf = Arrays.copyOf(buf, buf.length * 2);
                int n = in.read(buf, len, buf.length - len);
                if (n < 0) eof = true; else { len += n; bytes += n; }
                continue;
            }
            int end = nl < 0 ? len : nl;
            if (end == start && nl < 0) return true; // end of file
            line++;
            int lineEnd = end > start && buf[end - 1] == '\r' ? end - 1 : end;
            if (!line(path, line, buf, start, lineEnd, column, fp, sink)) return false;
            start = nl < 0 ? len : nl + 1;
        }
    }

    private boolean line(Path path, long line, byte[] buf, int from, int to, int column, FieldPath fp, Sink sink) {
        String where = path + ":" + line;
        String text = decode(buf, from, to - from, where, 0);
        if (text == null || text.isBlank()) return true;
        if (fp != null) {
            Object rec;
            try {
                rec = Json.parse(text, where);
            } catch (CramjetException e) {
                bad.report(e.getMessage().replace(where + ": invalid JSON at line 1,", where + ": invalid JSON at"));
                return true;
            }
            return record(fp, rec, where, false, sink);
        }
        if (column > 0) {
            String[] cols = text.split("\t", -1);
            if (cols.length < column) {
                bad.report(where + ": has " + cols.length + " tab-separated column(s), expected at least " + column);
                return true;
            }
            text = cols[column - 1];
        }
        return emit(new Document(text, where), sink);
    }

    // ---- shared -----------------------------------------------------------------------------------------------

    private boolean emit(Document d, Sink sink) {
        documents++;
        return sink.accept(d);
    }

    private static int indexOfNul(byte[] b) {
        for (int i = 0; i < b.length; i++) if (b[i] == 0) return i;
        return -1;
    }

    /** Strict UTF-8 (see {@link TextFile#decode}); returns null for a bad document, reported to {@link BadInput}. */
    private String decode(byte[] b, int off, int len, String where, int firstLine) {
        try {
            return TextFile.decode(b, off, len, where, firstLine);
        } catch (CramjetException e) {
            bad.report(e.getMessage() + "; expected UTF-8 text");
            return null;
        }
    }
}
