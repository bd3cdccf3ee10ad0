package dev.cramjet.text;

import java.util.Locale;
import java.util.Set;

/**
 * Stop-word removal for classic NLP uses (bag-of-words classifiers, keyword statistics). It destroys grammar, so a
 * language model trained on its output learns broken English; {@link Cleaner} warns when it is on.
 */
final class StopWords {
    private StopWords() {}

    /** A short English list (the common core of the NLTK and scikit-learn lists). */
    static final Set<String> ENGLISH = Set.of(
            "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at",
            "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could",
            "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has",
            "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if",
            "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor",
            "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out",
            "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs",
            "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too",
            "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who",
            "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves");

    /** Drops every space-separated word whose letters, lower-cased, are a stop word; keeps the line structure. */
    static String remove(String text, Set<String> words) {
        StringBuilder out = new StringBuilder(text.length());
        for (String line : text.split("\n", -1)) {
            StringBuilder kept = new StringBuilder(line.length());
            for (String w : line.split(" ")) {
                if (w.isEmpty() || words.contains(letters(w))) continue;
                if (!kept.isEmpty()) kept.append(' ');
                kept.append(w);
            }
            out.append(kept).append('\n');
        }
        out.setLength(out.length() - 1);
        return out.toString();
    }

    private static String letters(String w) {
        int a = 0, b = w.length();
        while (a < b && !Character.isLetter(w.charAt(a))) a++;
        while (b > a && !Character.isLetter(w.charAt(b - 1))) b--;
        return w.substring(a, b).toLowerCase(Locale.ROOT);
    }
}
