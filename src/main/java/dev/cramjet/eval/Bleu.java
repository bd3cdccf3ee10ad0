package dev.cramjet.eval;

import dev.cramjet.CramjetException;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * BLEU (Papineni et al. 2002) as sacreBLEU computes it, so scores compare with published ones: each segment is
 * tokenized ({@link Tokenize}), its n-grams (n = 1…4) are clipped by the largest count in any of its references,
 * and the counts, the hypothesis length and the closest reference length (the shorter one on a tie) are summed
 * over the corpus before anything is divided:
 * <pre>
 *   p_n = matched n-grams / hypothesis n-grams        BP = 1 if c ≥ r, else e^(1 − r/c)   (c: hypothesis, r: reference length)
 *   BLEU = 100 · BP · exp(Σ_n log p_n / 4)
 * </pre>
 * A zero p_n is smoothed as {@link Smoothing} says (sacreBLEU's default for a corpus is {@code EXP}, mteval's
 * 1/2^k). Sentence BLEU uses the effective order (only the orders the hypothesis is long enough to have).
 */
public final class Bleu {
    private Bleu() {}

    public static final int ORDER = 4;

    /** How segments are split into words before counting. */
    public enum Tokenize {
        /** Whitespace only: the text is already tokenized. */
        NONE,
        /** mteval-v13a, WMT's standard: punctuation and symbols split off, a few HTML entities decoded. */
        T13A,
        /** sacreBLEU's Chinese mode: every CJK character is a word, the rest is tokenized as 13a's regexes do. */
        ZH;

        public static Tokenize parse(String name) {
            return switch (name.toLowerCase(Locale.ROOT)) {
                case "none" -> NONE;
                case "13a" -> T13A;
                case "zh" -> ZH;
                default -> throw new CramjetException("BLEU tokenization must be none, 13a or zh, got '" + name + "'");
            };
        }

        /** The segment as the space-separated words BLEU counts. */
        public String apply(String segment) {
            return switch (this) {
                case NONE -> segment;
                case T13A -> {
                    String s = segment.replace("<skipped>", "").replace("-\n", "").replace("\n", " ");
                    if (s.indexOf('&') >= 0) s = s.replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
                    yield regexps(" " + s + " ");
                }
                case ZH -> {
                    String s = PyText.strip(segment);
                    StringBuilder sb = new StringBuilder(s.length() * 2);
                    s.codePoints().forEach(c -> {
                        if (chinese(c)) sb.append(' ').appendCodePoint(c).append(' ');
                        else sb.appendCodePoint(c);
                    });
                    yield regexps(sb.toString());
                }
            };
        }
    }

    // mteval-v13a's language-dependent rules, in order.
    private static final Pattern SYMBOLS = Pattern.compile("([{-~\\[-` -&(-+:-@/])");
    private static final Pattern PERIOD_AFTER = Pattern.compile("([^0-9])([.,])");
    private static final Pattern PERIOD_BEFORE = Pattern.compile("([.,])([^0-9])");
    private static final Pattern DASH = Pattern.compile("([0-9])(-)");

    private static String regexps(String s) {
        s = SYMBOLS.matcher(s).replaceAll(" $1 ");
        s = PERIOD_AFTER.matcher(s).replaceAll("$1 $2 ");
        s = PERIOD_BEFORE.matcher(s).replaceAll(" $1 $2");
        s = DASH.matcher(s).replaceAll("$1 $2 ");
        return String.join(" ", PyText.split(s));
    }

    /**
     * sacreBLEU's table of "Chinese" code points, as it behaves rather than as it reads: two of its ranges are
     * written '\u20000'–'\u2a6d6' and '\u2f800'–'\u2fa1d', which Python parses as two-character strings, so they
     * compare as U+2001–U+2A6D (general punctuation, symbols, arrows …) and U+2F81–U+2FA1, and CJK Extension B is
     * not in the table. We keep that behaviour: it is what every published zh BLEU score was computed with.
     */
    private static final int[] CHINESE = {
        0x3400, 0x4DB5, 0x4E00, 0x9FA5, 0x9FA6, 0x9FBB, 0xF900, 0xFA2D, 0xFA30, 0xFA6A, 0xFA70, 0xFAD9,
        0x2001, 0x2A6D, 0x2F81, 0x2FA1, 0xFF00, 0xFFEF, 0x2E80, 0x2EFF, 0x3000, 0x303F, 0x31C0, 0x31EF,
        0x2F00, 0x2FDF, 0x2FF0, 0x2FFF, 0x3100, 0x312F, 0x31A0, 0x31BF, 0xFE10, 0xFE1F, 0xFE30, 0xFE4F,
        0x2600, 0x26FF, 0x2700, 0x27BF, 0x3200, 0x32FF, 0x3300, 0x33FF,
    };

    static boolean chinese(int c) {
        for (int i = 0; i < CHINESE.length; i += 2) if (c >= CHINESE[i] && c <= CHINESE[i + 1]) return true;
        return false;
    }

    /** How a zero n-gram precision is replaced (Chen and Cherry 2014's methods 1–3). */
    public enum Smoothing { NONE, FLOOR, ADD_K, EXP }

    /**
     * What BLEU is computed with; sacreBLEU's corpus defaults are {@link #DEFAULT}. {@code smoothValue} is FLOOR's
     * floor or ADD_K's k; NaN takes sacreBLEU's defaults (0.1 and 1).
     */
    public record Settings(Tokenize tokenize, boolean lowercase, Smoothing smoothing, double smoothValue, boolean effectiveOrder) {
        public static final Settings DEFAULT = new Settings(Tokenize.T13A, false, Smoothing.EXP, Double.NaN, false);

        /** sentence_bleu's defaults: exp smoothing with the effective order. */
        public static final Settings SENTENCE = new Settings(Tokenize.T13A, false, Smoothing.EXP, Double.NaN, true);

        public Settings tokenize(Tokenize t) { return new Settings(t, lowercase, smoothing, smoothValue, effectiveOrder); }
    }

    /** A score with the statistics it came from, for reports ("48.5 82.4/50.0/45.5/37.5 (BP = 0.943 …)"). */
    public record Score(double score, long[] correct, long[] total, double[] precisions, double brevityPenalty,
                        long hypothesisLength, long referenceLength) {
        @Override
        public String toString() {
            StringBuilder p = new StringBuilder();
            for (double x : precisions) p.append(p.isEmpty() ? "" : "/").append(String.format(Locale.ROOT, "%.1f", x));
            return String.format(Locale.ROOT, "BLEU = %.2f %s (BP = %.3f ratio = %.3f hyp_len = %d ref_len = %d)", score, p,
                    brevityPenalty, referenceLength == 0 ? 0.0 : (double) hypothesisLength / referenceLength, hypothesisLength, referenceLength);
        }
    }

    /**
     * Corpus BLEU of {@code hypotheses} against {@code references}, where {@code references.get(i)} holds the
     * references of segment i (one or more; an empty list scores the segment against nothing).
     */
    public static Score corpus(List<String> hypotheses, List<List<String>> references, Settings s) {
        if (hypotheses.size() != references.size()) {
            throw new IllegalArgumentException(hypotheses.size() + " hypotheses but " + references.size() + " reference lists");
        }
        long[] correct = new long[ORDER], total = new long[ORDER];
        long hypLen = 0, refLen = 0;
        for (int i = 0; i < hypotheses.size(); i++) {
            Map<List<String>, Integer> refMax = new HashMap<>();
            int[] refLens = new int[references.get(i).size()];
            for (int r = 0; r < refLens.length; r++) {
                List<String> words = PyText.split(preprocess(references.get(i).get(r), s));
                refLens[r] = words.size();
                ngrams(words).forEach((g, n) -> refMax.merge(g, n, Math::max));
            }
            List<String> words = PyText.split(preprocess(hypotheses.get(i), s));
            hypLen += words.size();
            refLen += closest(words.size(), refLens);
            for (Map.Entry<List<String>, Integer> e : ngrams(words).entrySet()) {
                int n = e.getKey().size() - 1;
                total[n] += e.getValue();
                correct[n] += Math.min(e.getValue(), refMax.getOrDefault(e.getKey(), 0));
            }
        }
        return fromStatistics(correct, total, hypLen, refLen, s);
    }

    /** BLEU of one segment ({@link Settings#SENTENCE} gives sacreBLEU's sentence_bleu). */
    public static Score sentence(String hypothesis, List<String> references, Settings s) {
        return corpus(List.of(hypothesis), List.of(references), s);
    }

    private static String preprocess(String segment, Settings s) {
        String t = s.lowercase() ? segment.toLowerCase(Locale.ROOT) : segment;
        return s.tokenize().apply(PyText.rstrip(t));
    }

    private static Map<List<String>, Integer> ngrams(List<String> words) {
        Map<List<String>, Integer> m = new HashMap<>();
        for (int n = 1; n <= ORDER; n++) {
            for (int i = 0; i + n <= words.size(); i++) m.merge(words.subList(i, i + n), 1, Integer::sum);
        }
        return m;
    }

    /** The reference length closest to the hypothesis length, the shorter on a tie (0 with no references). */
    private static int closest(int hyp, int[] refs) {
        int best = -1;
        for (int r : refs) {
            if (best < 0 || Math.abs(hyp - r) < Math.abs(hyp - best) || (Math.abs(hyp - r) == Math.abs(hyp - best) && r < best)) best = r;
        }
        return Math.max(best, 0);
    }

    /** BLEU from summed statistics: sacreBLEU's compute_bleu, including its log(0) floor of −9999999999. */
    public static Score fromStatistics(long[] correctCounts, long[] totalCounts, long hypLen, long refLen, Settings s) {
        double bp = hypLen < refLen ? (hypLen > 0 ? Math.exp(1 - (double) refLen / hypLen) : 0) : 1;
        double[] precisions = new double[ORDER];
        long[] correct = correctCounts.clone(), total = totalCounts.clone();
        if (Arrays.stream(correct).allMatch(c -> c == 0)) return new Score(0, correct, total, precisions, bp, hypLen, refLen);
        double value = !Double.isNaN(s.smoothValue()) ? s.smoothValue() : s.smoothing() == Smoothing.FLOOR ? 0.1 : 1;
        double smoothMteval = 1;
        int effective = ORDER;
        for (int n = 1; n <= ORDER; n++) {
            double c = correct[n - 1], t = total[n - 1];
            if (s.smoothing() == Smoothing.ADD_K && n > 1) { c += value; t += value; }
            if (t == 0) break;
            if (s.effectiveOrder()) effective = n;
            if (c == 0) {
                if (s.smoothing() == Smoothing.EXP) {
                    smoothMteval *= 2;
                    precisions[n - 1] = 100 / (smoothMteval * t);
                } else if (s.smoothing() == Smoothing.FLOOR) {
                    precisions[n - 1] = 100 * value / t;
                }
            } else {
                precisions[n - 1] = 100 * c / t;
            }
        }
        double logs = 0;
        for (int n = 0; n < effective; n++) logs += precisions[n] == 0 ? -9999999999.0 : Math.log(precisions[n]);
        return new Score(bp * Math.exp(logs / effective), correct, total, precisions, bp, hypLen, refLen);
    }
}
