package dev.cramjet.text;

import java.util.ArrayList;
import java.util.List;

/**
 * Cuts a long plain text — a novel, a manual — into documents of at most {@link #MAX_CHARS} characters, at the
 * best boundary in the second half of each window: a blank line (a paragraph break), else a line end, else the end
 * of a sentence, else a space, else anywhere (never inside a surrogate pair). A book read as one document could
 * give the validation split nothing or everything; documents of a few paragraphs split by hash like any corpus.
 * Paragraphs are packed rather than made documents one by one: short ones ("Yes," said he.) would be removed as
 * duplicates, and every paragraph would end in end-of-text, where generation stops.
 */
final class Pieces {
    private Pieces() {}

    static final int MAX_CHARS = 2000;

    /** A piece of the text and the 1-based line it starts on. */
    record Piece(String text, int line) {}

    static List<Piece> cut(String s) {
        List<Piece> out = new ArrayList<>();
        int n = s.length(), at = skipBlankLines(s, 0), line = 1 + count(s, 0, at);
        while (at < n) {
            int end = n - at <= MAX_CHARS ? withoutTrailingBlankLines(s, at, n) : cutPoint(s, at, at + MAX_CHARS);
            int stop = end > at && s.charAt(end - 1) == '\n' ? end - 1 : end; // the line break between pieces is theirs
            if (stop > at && s.charAt(stop - 1) == '\r') stop--;
            out.add(new Piece(s.substring(at, stop), line));
            int next = skipBlankLines(s, end);
            line += count(s, at, next);
            at = next;
        }
        return out;
    }

    /** The best cut in (from + MAX/2, limit]: the piece is [from, cut). */
    private static int cutPoint(String s, int from, int limit) {
        int lo = from + MAX_CHARS / 2;
        for (int i = limit; i > lo; i--) if (s.charAt(i - 1) == '\n' && blankLineAt(s, i)) return i;
        for (int i = limit; i > lo; i--) if (s.charAt(i - 1) == '\n') return i;
        for (int i = limit; i > lo; i--) if (sentenceEnd(s, i)) return i;
        for (int i = limit; i > lo; i--) if (Character.isWhitespace(s.charAt(i - 1))) return i;
        return Character.isHighSurrogate(s.charAt(limit - 1)) ? limit - 1 : limit;
    }

    /** The end of the last line in [from, to) that is not blank (from starts a line that is not). */
    private static int withoutTrailingBlankLines(String s, int from, int to) {
        int end = to;
        while (end > from) {
            int start = s.lastIndexOf('\n', end - 2) + 1;
            if (start <= from || !blankLineAt(s, start)) return end;
            end = start;
        }
        return end;
    }

    /** True when the line starting at {@code i} holds nothing but white space. */
    private static boolean blankLineAt(String s, int i) {
        for (; i < s.length() && s.charAt(i) != '\n'; i++) if (!Character.isWhitespace(s.charAt(i))) return false;
        return true;
    }

    private static boolean sentenceEnd(String s, int i) {
        char c = s.charAt(i - 1);
        if (c == '。' || c == '！' || c == '？' || c == '…') return true;
        return (c == '.' || c == '!' || c == '?') && Character.isWhitespace(s.charAt(i));
    }

    /** The start of the first line at or after {@code i} (itself a line start) that is not blank. */
    private static int skipBlankLines(String s, int i) {
        while (i < s.length() && blankLineAt(s, i)) {
            int nl = s.indexOf('\n', i);
            i = nl < 0 ? s.length() : nl + 1;
        }
        return i;
    }

    private static int count(String s, int from, int to) {
        int k = 0;
        for (int i = from; i < to; i++) if (s.charAt(i) == '\n') k++;
        return k;
    }
}
