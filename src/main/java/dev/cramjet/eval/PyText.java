package dev.cramjet.eval;

import java.util.ArrayList;
import java.util.List;

/**
 * Python's notion of white space ({@code str.split()}, {@code str.strip()}), which sacreBLEU's tokenizers and
 * n-gram extraction rely on. It differs from Java's {@link Character#isWhitespace}: it includes the no-break
 * spaces (U+00A0, U+2007, U+202F) and NEL (U+0085), so splitting with Java's rule would change scores.
 */
final class PyText {
    private PyText() {}

    /** {@code str.isspace()} for one code point. */
    static boolean isSpace(int c) {
        return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680
                || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
    }

    /** {@code s.split()}: the runs of non-space characters. */
    static List<String> split(String s) {
        List<String> out = new ArrayList<>();
        int start = -1;
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            if (isSpace(c)) {
                if (start >= 0) out.add(s.substring(start, i));
                start = -1;
            } else if (start < 0) {
                start = i;
            }
            i += Character.charCount(c);
        }
        if (start >= 0) out.add(s.substring(start));
        return out;
    }

    /** {@code s.strip()}. */
    static String strip(String s) {
        int from = 0, to = s.length();
        while (from < to && isSpace(s.codePointAt(from))) from += Character.charCount(s.codePointAt(from));
        while (to > from && isSpace(s.codePointBefore(to))) to -= Character.charCount(s.codePointBefore(to));
        return s.substring(from, to);
    }

    /** {@code s.rstrip()}. */
    static String rstrip(String s) {
        int to = s.length();
        while (to > 0 && isSpace(s.codePointBefore(to))) to -= Character.charCount(s.codePointBefore(to));
        return s.substring(0, to);
    }
}
