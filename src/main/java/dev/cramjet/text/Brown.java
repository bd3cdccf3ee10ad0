package dev.cramjet.text;

import java.util.Set;

/**
 * Plain text from the Brown corpus's tagged files: each token is {@code word/tag}; the tag after the last '/' is
 * dropped, the words are re-joined with the usual spacing (none before closing punctuation, none after an opening
 * quote or bracket, {@code ``} and {@code ''} become '"'). Sentence lines stay lines; blank lines stay paragraph
 * breaks.
 */
final class Brown {
    private Brown() {}

    private static final Set<String> NO_SPACE_BEFORE = Set.of(".", ",", ";", ":", "!", "?", ")", "''", "'", "]");
    private static final Set<String> NO_SPACE_AFTER = Set.of("``", "(", "[");

    static String untag(String tagged) {
        StringBuilder out = new StringBuilder(tagged.length() / 2);
        boolean blank = false;
        for (String line : tagged.split("\n")) {
            String[] tokens = line.strip().split("\\s+");
            if (tokens.length == 1 && tokens[0].isEmpty()) { blank = out.length() > 0; continue; }
            if (out.length() > 0) out.append(blank ? "\n\n" : "\n");
            blank = false;
            String prev = null;
            for (String t : tokens) {
                int slash = t.lastIndexOf('/');
                String w = slash > 0 ? t.substring(0, slash) : t;
                if (prev != null && !NO_SPACE_BEFORE.contains(w) && !NO_SPACE_AFTER.contains(prev)) out.append(' ');
                out.append(w.equals("``") || w.equals("''") ? "\"" : w);
                prev = w;
            }
        }
        return out.toString();
    }
}
