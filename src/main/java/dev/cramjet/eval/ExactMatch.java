package dev.cramjet.eval;

import java.util.List;

/** The share of hypotheses equal to one of their references, white space at either end ignored (SQuAD-style EM without its English-specific normalisation). */
public final class ExactMatch {
    private ExactMatch() {}

    public static double corpus(List<String> hypotheses, List<List<String>> references) {
        if (hypotheses.size() != references.size()) {
            throw new IllegalArgumentException(hypotheses.size() + " hypotheses but " + references.size() + " reference lists");
        }
        if (hypotheses.isEmpty()) return Double.NaN;
        int hits = 0;
        for (int i = 0; i < hypotheses.size(); i++) {
            String h = PyText.strip(hypotheses.get(i));
            for (String r : references.get(i)) {
                if (PyText.strip(r).equals(h)) { hits++; break; }
            }
        }
        return (double) hits / hypotheses.size();
    }
}
