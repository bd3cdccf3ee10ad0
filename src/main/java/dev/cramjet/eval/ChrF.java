package dev.cramjet.eval;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * chrF (Popović 2015) and chrF++ (Popović 2017) as sacreBLEU 2 computes them: character n-grams (n = 1…6, white
 * space removed unless kept) and, for chrF++, word n-grams (n = 1, 2; punctuation split off the ends of words).
 * Per segment the reference with the best score is taken; hypothesis, reference and matched n-gram counts per
 * order are summed over the corpus; then precision and recall are averaged over the orders both sides have and
 * combined as F_β = (1 + β²)·P·R / (β²·P + R), β = 2 weighting recall higher. {@code epsSmoothing} instead averages
 * per-order F scores with 1e-16 for empty orders (chrF++.py, NLTK and Moses).
 */
public final class ChrF {

    public record Settings(int charOrder, int wordOrder, double beta, boolean lowercase, boolean whitespace, boolean epsSmoothing) {
        /** chrF2, sacreBLEU's default. */
        public static final Settings CHRF = new Settings(6, 0, 2, false, false, false);
        /** chrF++: chrF plus word unigrams and bigrams. */
        public static final Settings CHRF_PLUS_PLUS = new Settings(6, 2, 2, false, false, false);

        int order() { return charOrder + wordOrder; }
    }

    private static final Set<Integer> PUNCTUATION = Set.copyOf("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".chars().boxed().toList());

    private ChrF() {}

    /** Corpus chrF (0–100); {@code references.get(i)} are segment i's references. */
    public static double corpus(List<String> hypotheses, List<List<String>> references, Settings s) {
        if (hypotheses.size() != references.size()) {
            throw new IllegalArgumentException(hypotheses.size() + " hypotheses but " + references.size() + " reference lists");
        }
        long[] sum = new long[3 * s.order()];
        for (int i = 0; i < hypotheses.size(); i++) {
            long[] st = segment(hypotheses.get(i), references.get(i), s);
            for (int k = 0; k < sum.length; k++) sum[k] += st[k];
        }
        return score(sum, s);
    }

    public static double sentence(String hypothesis, List<String> references, Settings s) {
        return score(segment(hypothesis, references, s), s);
    }

    /** [hyp, ref, match] counts per order, against the reference that scores best. */
    private static long[] segment(String hypothesis, List<String> references, Settings s) {
        List<Map<String, Integer>> hyp = ngrams(hypothesis, s);
        long[] best = new long[3 * s.order()];
        double bestScore = -1;
        for (String ref : references) {
            List<Map<String, Integer>> r = ngrams(ref, s);
            long[] st = new long[3 * s.order()];
            for (int k = 0; k < s.order(); k++) {
                long hypCount = 0, match = 0, refCount = 0;
                for (Map.Entry<String, Integer> e : hyp.get(k).entrySet()) {
                    hypCount += e.getValue();
                    match += Math.min(e.getValue(), r.get(k).getOrDefault(e.getKey(), 0));
                }
                for (int c : r.get(k).values()) refCount += c;
                st[3 * k] = r.get(k).isEmpty() ? 0 : hypCount;    // no reference n-grams of this order: no hits counted
                st[3 * k + 1] = refCount;
                st[3 * k + 2] = match;
            }
            double f = score(st, s);
            if (f > bestScore) { bestScore = f; best = st; }
        }
        return best;
    }

    private static List<Map<String, Integer>> ngrams(String text, Settings s) {
        String t = s.lowercase() ? text.toLowerCase(Locale.ROOT) : text;
        String chars = s.whitespace() ? t : String.join("", PyText.split(t));
        int[] cp = chars.codePoints().toArray();
        List<Map<String, Integer>> out = new ArrayList<>();
        for (int n = 1; n <= s.charOrder(); n++) {
            Map<String, Integer> m = new HashMap<>();
            for (int i = 0; i + n <= cp.length; i++) m.merge(new String(cp, i, n), 1, Integer::sum);
            out.add(m);
        }
        if (s.wordOrder() > 0) {
            List<String> words = words(t);
            for (int n = 1; n <= s.wordOrder(); n++) {
                Map<String, Integer> m = new HashMap<>();
                for (int i = 0; i + n <= words.size(); i++) m.merge(String.join(" ", words.subList(i, i + n)), 1, Integer::sum);
                out.add(m);
            }
        }
        return out;
    }

    /** chrF++'s words: split on white space, one punctuation mark split off the end (else the start) of each. */
    private static List<String> words(String text) {
        List<String> out = new ArrayList<>();
        for (String w : PyText.split(text)) {
            int first = w.codePointAt(0), last = w.codePointBefore(w.length());
            if (w.codePointCount(0, w.length()) == 1) {
                out.add(w);
            } else if (PUNCTUATION.contains(last)) {
                out.add(w.substring(0, w.length() - Character.charCount(last)));
                out.add(w.substring(w.length() - Character.charCount(last)));
            } else if (PUNCTUATION.contains(first)) {
                out.add(w.substring(0, Character.charCount(first)));
                out.add(w.substring(Character.charCount(first)));
            } else {
                out.add(w);
            }
        }
        return out;
    }

    private static double score(long[] st, Settings s) {
        double eps = 1e-16, factor = s.beta() * s.beta(), sum = 0, avgP = 0, avgR = 0;
        int effective = 0;
        for (int k = 0; k < s.order(); k++) {
            long hyp = st[3 * k], ref = st[3 * k + 1], match = st[3 * k + 2];
            double p = hyp > 0 ? (double) match / hyp : eps, r = ref > 0 ? (double) match / ref : eps;
            double denom = factor * p + r;
            sum += denom > 0 ? (1 + factor) * p * r / denom : eps;
            if (hyp > 0 && ref > 0) {
                avgP += p;
                avgR += r;
                effective++;
            }
        }
        if (s.epsSmoothing()) return 100 * sum / s.order();
        if (effective == 0) return 0;
        avgP /= effective;
        avgR /= effective;
        return avgP + avgR == 0 ? 0 : 100 * (1 + factor) * avgP * avgR / (factor * avgP + avgR);
    }
}
