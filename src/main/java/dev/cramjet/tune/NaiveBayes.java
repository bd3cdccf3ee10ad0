package dev.cramjet.tune;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The classic baseline: multinomial Naive Bayes over bags of words with add-one (Laplace) smoothing — the spam
 * filter of Sahami et al. 1998 and Graham's "A Plan for Spam", and scikit-learn's MultinomialNB(alpha=1) on
 * CountVectorizer(lowercase) counts. Words are lower-cased runs of letters and digits; a CJK ideograph is a word
 * on its own, since Chinese has no spaces. It lives here, not in a test, so that {@code cramjet eval --task
 * classify --baseline naive-bayes} scores it on any task's split with the same metrics code as a model.
 */
public final class NaiveBayes {
    private final int classes;
    private final double[] logPrior;
    private final Map<String, double[]> logLikelihood = new HashMap<>();
    private final double[] unseen;

    /** Fits on texts with class ids in [0, classes). */
    public NaiveBayes(List<String> texts, int[] labels, int classes) {
        this.classes = classes;
        double[] docs = new double[classes], words = new double[classes];
        Map<String, double[]> counts = new HashMap<>();
        for (int i = 0; i < texts.size(); i++) {
            docs[labels[i]]++;
            for (String w : words(texts.get(i))) {
                counts.computeIfAbsent(w, k -> new double[classes])[labels[i]]++;
                words[labels[i]]++;
            }
        }
        int vocab = counts.size();
        logPrior = new double[classes];
        unseen = new double[classes];
        for (int c = 0; c < classes; c++) {
            logPrior[c] = Math.log(docs[c] / texts.size());
            unseen[c] = -Math.log(words[c] + vocab);
        }
        counts.forEach((w, n) -> {
            double[] l = new double[classes];
            for (int c = 0; c < classes; c++) l[c] = Math.log(n[c] + 1) + unseen[c];
            logLikelihood.put(w, l);
        });
    }

    /** Class probabilities of a text (the posterior, normalised from log space). */
    public float[] probabilities(String text) {
        double[] s = logPrior.clone();
        for (String w : words(text)) {
            double[] l = logLikelihood.get(w);
            if (l == null) continue; // a word never seen in training carries no evidence (as in scikit-learn)
            for (int c = 0; c < classes; c++) s[c] += l[c];
        }
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (double v : s) max = Math.max(max, v);
        float[] p = new float[classes];
        for (int c = 0; c < classes; c++) sum += Math.exp(s[c] - max);
        for (int c = 0; c < classes; c++) p[c] = (float) (Math.exp(s[c] - max) / sum);
        return p;
    }

    static List<String> words(String text) {
        List<String> out = new ArrayList<>();
        String t = text.toLowerCase(Locale.ROOT);
        int start = -1;
        for (int i = 0; i < t.length(); ) {
            int c = t.codePointAt(i);
            int n = Character.charCount(c);
            if (Character.isIdeographic(c)) {
                if (start >= 0) out.add(t.substring(start, i));
                start = -1;
                out.add(t.substring(i, i + n));
            } else if (Character.isLetterOrDigit(c)) {
                if (start < 0) start = i;
            } else if (start >= 0) {
                out.add(t.substring(start, i));
                start = -1;
            }
            i += n;
        }
        if (start >= 0) out.add(t.substring(start));
        return out;
    }
}
