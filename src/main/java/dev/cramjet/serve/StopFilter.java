package dev.cramjet.serve;

import java.util.List;

/**
 * Streams generated text while watching for stop sequences, so that a stop sequence never reaches the client, even
 * when the model writes it across several tokens: text that could still grow into a stop sequence (a suffix that is
 * a prefix of one) is held back until the next piece decides it. Once a stop sequence appears, the text before it is
 * all that is released, and the filter is stopped.
 */
final class StopFilter {
    private final List<String> stops;
    private final int longest;
    private final StringBuilder text = new StringBuilder();
    /** Characters of text released so far. */
    private int released;
    private boolean stopped;

    StopFilter(List<String> stops) {
        this.stops = List.copyOf(stops);
        int max = 0;
        for (String s : stops) max = Math.max(max, s.length());
        this.longest = max;
    }

    /** Adds a piece of generated text; returns what may be released now (possibly ""). */
    String push(String piece) {
        if (stopped) throw new IllegalStateException("push() after a stop sequence");
        int searchFrom = Math.max(0, text.length() - longest + 1);
        text.append(piece);
        int cut = -1;
        for (String s : stops) {
            int at = text.indexOf(s, searchFrom);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        if (cut >= 0) {
            stopped = true;
            return release(Math.max(cut, released));
        }
        return release(text.length() - heldBack());
    }

    /** The end of generation without a stop: everything held back. */
    String finish() { return stopped ? "" : release(text.length()); }

    boolean stopped() { return stopped; }

    /** Characters released so far (the visible text's length). */
    int released() { return released; }

    /** The length of the longest suffix of the text that is a proper prefix of a stop sequence. */
    private int heldBack() {
        int n = text.length();
        for (int k = Math.min(longest - 1, n - released); k > 0; k--) {
            for (String s : stops) {
                if (s.length() > k && endsWith(n - k, s, k)) return k;
            }
        }
        return 0;
    }

    /** text[from, from + k) equals the first k characters of s. */
    private boolean endsWith(int from, String s, int k) {
        for (int i = 0; i < k; i++) if (text.charAt(from + i) != s.charAt(i)) return false;
        return true;
    }

    private String release(int upTo) {
        String out = text.substring(released, upTo);
        released = upTo;
        return out;
    }
}
