package dev.cramjet.tokenizer;

import dev.cramjet.CramjetException;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Splits text into pre-tokens, the pieces BPE merges within (merges never cross a pre-token boundary). Works on
 * UTF-8 bytes so any byte sequence can be split: a byte that is not part of a well-formed UTF-8 character counts as
 * one character that is neither letter, number nor space. The pattern is kept in the regex dialect tokenizer.json
 * uses, so Hugging Face `tokenizers` splits the same way.
 */
sealed interface PreTokenizer permits PreTokenizer.Cl100k, PreTokenizer.Regex {
    /** GPT-4's cl100k_base pattern: contractions, letter runs with one leading non-letter, 1–3 digits, punctuation runs, whitespace. */
    String CL100K = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** GPT-2's pattern, implied by a ByteLevel pre-tokenizer with use_regex=true. */
    String GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    /** Receives each pre-token as a byte range [start, end). */
    @FunctionalInterface
    interface Sink {
        void accept(int start, int end);
    }

    /** The pattern in tokenizer.json's (Oniguruma) dialect. */
    String pattern();

    /** Calls sink for each pre-token of text[from, to), in order, covering the range exactly. */
    void split(byte[] text, int from, int to, Sink sink);

    /**
     * Whether splitting may restart just after a line feed that precedes a printable ASCII character, giving the
     * same pre-tokens as one pass: true for the cl100k and GPT-2 patterns (no pre-token of theirs runs from a line
     * break into a non-space); unknown for other patterns, which are then split in one pass.
     */
    default boolean restartsAfterNewline() { return pattern().equals(CL100K) || pattern().equals(GPT2); }

    static PreTokenizer of(String pattern) {
        return pattern.equals(CL100K) ? new Cl100k() : new Regex(pattern);
    }

    // ---- character classes -------------------------------------------------------------------------------------

    int OTHER = 0, LETTER = 1, NUMBER = 2, SPACE = 3;

    /** Class of a code point: \p{L}, \p{N}, \s (Unicode White_Space, as Java's UNICODE_CHARACTER_CLASS and Oniguruma agree) or other. */
    static int classOf(int cp) {
        if (cp < 0) return OTHER;
        if (cp < Classes.BMP.length) return Classes.BMP[cp];
        return Classes.compute(cp);
    }

    final class Classes {
        static final byte[] BMP = new byte[0x10000];

        static {
            for (int c = 0; c < BMP.length; c++) BMP[c] = (byte) compute(c);
        }

        static int compute(int cp) {
            if (isWhiteSpace(cp)) return SPACE;
            if (Character.isLetter(cp)) return LETTER;
            return switch (Character.getType(cp)) {
                case Character.DECIMAL_DIGIT_NUMBER, Character.LETTER_NUMBER, Character.OTHER_NUMBER -> NUMBER;
                default -> OTHER;
            };
        }

        /** Unicode's White_Space property (Character.isWhitespace differs: it omits no-break spaces and adds U+001C–U+001F). */
        static boolean isWhiteSpace(int cp) {
            return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680
                    || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F
                    || cp == 0x3000;
        }

        private Classes() {}
    }

    /**
     * Decodes the UTF-8 character at text[i] (i < to): returns codePoint << 3 | byteLength, with code point -1 for a
     * byte that does not start a well-formed character (overlong forms and surrogates are not well-formed).
     */
    static long decode(byte[] text, int i, int to) {
        int b0 = text[i] & 0xFF;
        if (b0 < 0x80) return (long) b0 << 3 | 1;
        int n, cp, min;
        if (b0 >= 0xC2 && b0 <= 0xDF) { n = 2; cp = b0 & 0x1F; min = 0x80; }
        else if (b0 >= 0xE0 && b0 <= 0xEF) { n = 3; cp = b0 & 0x0F; min = 0x800; }
        else if (b0 >= 0xF0 && b0 <= 0xF4) { n = 4; cp = b0 & 0x07; min = 0x10000; }
        else return -1L << 3 | 1;
        if (i + n > to) return -1L << 3 | 1;
        for (int k = 1; k < n; k++) {
            int b = text[i + k] & 0xFF;
            if ((b & 0xC0) != 0x80) return -1L << 3 | 1;
            cp = cp << 6 | (b & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1L << 3 | 1;
        return (long) cp << 3 | n;
    }

    /**
     * The cl100k pattern compiled by hand: a scanner over UTF-8 bytes that makes the same choices as the regex
     * (alternatives tried in order, greedy runs with the backtracking the pattern implies), several times faster
     * than java.util.regex and without decoding to a String. Tests hold it to the regex on random text.
     */
    final class Cl100k implements PreTokenizer {
        @Override public String pattern() { return CL100K; }

        @Override
        public void split(byte[] t, int from, int to, Sink sink) {
            int i = from;
            while (i < to) {
                long d = decode(t, i, to);
                int cp = (int) (d >> 3), len = (int) (d & 7);
                int cls = classOf(cp);
                int end;
                if (cp == '\'' && (end = contraction(t, i + 1, to)) > 0) {
                    // (?i:'s|'t|'re|'ve|'m|'ll|'d)
                } else if (cls == LETTER) {
                    end = letters(t, i + len, to);
                } else if (cls != NUMBER && cp != '\r' && cp != '\n' && i + len < to && classOf(cp(t, i + len, to)) == LETTER) {
                    end = letters(t, i + len, to); // [^\r\n\p{L}\p{N}]\p{L}+
                } else if (cls == NUMBER) {
                    end = i + len;
                    for (int k = 1; k < 3 && end < to; k++) {
                        long e = decode(t, end, to);
                        if (classOf((int) (e >> 3)) != NUMBER) break;
                        end += (int) (e & 7);
                    }
                } else if (cls == OTHER || (cp == ' ' && i + 1 < to && classOf(cp(t, i + 1, to)) == OTHER)) {
                    end = cls == OTHER ? i : i + 1; //  ?[^\s\p{L}\p{N}]+[\r\n]*
                    while (end < to) {
                        long e = decode(t, end, to);
                        if (classOf((int) (e >> 3)) != OTHER) break;
                        end += (int) (e & 7);
                    }
                    while (end < to && (t[end] == '\r' || t[end] == '\n')) end++;
                } else {
                    end = whitespace(t, i, to);
                }
                sink.accept(i, end);
                i = end;
            }
        }

        private static int cp(byte[] t, int i, int to) { return (int) (decode(t, i, to) >> 3); }

        private static int letters(byte[] t, int i, int to) {
            while (i < to) {
                long e = decode(t, i, to);
                if (classOf((int) (e >> 3)) != LETTER) break;
                i += (int) (e & 7);
            }
            return i;
        }

        /** End of a contraction after the apostrophe at i - 1, or 0. Case-insensitive as Unicode folds: ſ (U+017F) is an s. */
        private static int contraction(byte[] t, int i, int to) {
            if (i >= to) return 0;
            long d = decode(t, i, to);
            int c = fold((int) (d >> 3));
            int j = i + (int) (d & 7);
            if (c == 's' || c == 't' || c == 'm' || c == 'd') return j;
            if (c != 'r' && c != 'v' && c != 'l' || j >= to) return 0;
            int c2 = fold((int) (decode(t, j, to) >> 3));
            return (c == 'l' ? c2 == 'l' : c2 == 'e') ? j + 1 : 0;
        }

        private static int fold(int c) {
            if (c >= 'A' && c <= 'Z') return c + 32;
            return c == 0x17F ? 's' : c;
        }

        /** \s*[\r\n]+ | \s+(?!\S) | \s+ starting at whitespace t[i]. */
        private static int whitespace(byte[] t, int i, int to) {
            int j = i, lastNewline = -1, lastStart = i, chars = 0;
            while (j < to) {
                long e = decode(t, j, to);
                int cp = (int) (e >> 3);
                if (classOf(cp) != SPACE) break;
                if (cp == '\r' || cp == '\n') lastNewline = j;
                lastStart = j;
                j += (int) (e & 7);
                chars++;
            }
            if (lastNewline >= 0) return lastNewline + 1;
            if (j == to || chars == 1) return j;
            return lastStart; // leave the last space to lead the next word
        }
    }

    /**
     * Any other pattern, run by java.util.regex with Unicode classes (Java's \s is ASCII-only without
     * UNICODE_CHARACTER_CLASS). Matches and the gaps between them both become pre-tokens, as Split(Isolated) does.
     */
    final class Regex implements PreTokenizer {
        private final String pattern;
        private final Pattern compiled;

        Regex(String pattern) {
            this.pattern = pattern;
            try {
                this.compiled = Pattern.compile(pattern, Pattern.UNICODE_CHARACTER_CLASS);
            } catch (PatternSyntaxException e) {
                throw new CramjetException("pre-tokenizer pattern is not a regex Java understands: " + e.getDescription()
                        + " near index " + e.getIndex() + " of " + pattern);
            }
        }

        @Override public String pattern() { return pattern; }

        @Override
        public void split(byte[] t, int from, int to, Sink sink) {
            // Decode to chars, remembering each char's byte offset; a malformed byte becomes U+FFFD (class other).
            StringBuilder sb = new StringBuilder(to - from);
            int[] offsets = new int[to - from + 1];
            for (int i = from; i < to; ) {
                long d = decode(t, i, to);
                int cp = (int) (d >> 3);
                offsets[sb.length()] = i;
                if (cp >= 0x10000) offsets[sb.length() + 1] = i;
                sb.appendCodePoint(cp < 0 ? 0xFFFD : cp);
                i += (int) (d & 7);
            }
            offsets[sb.length()] = to;
            Matcher m = compiled.matcher(sb);
            int last = 0;
            while (m.find()) {
                if (m.end() == m.start()) continue;
                if (m.start() > last) sink.accept(offsets[last], offsets[m.start()]);
                sink.accept(offsets[m.start()], offsets[m.end()]);
                last = m.end();
            }
            if (last < sb.length()) sink.accept(offsets[last], to);
        }
    }
}
