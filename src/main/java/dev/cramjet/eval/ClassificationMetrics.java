package dev.cramjet.eval;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The figures papers and notebooks report for a classifier, from true and predicted class ids: accuracy, the
 * confusion matrix (rows true, columns predicted), precision, recall and F1 per class, and their macro average
 * (unweighted mean over classes), weighted average (by support) and micro average (from pooled counts, which for
 * single-label classification all equal accuracy). As in scikit-learn, the averages run over the classes that
 * occur in the truth or the predictions, and a ratio with a zero denominator is 0.
 */
public final class ClassificationMetrics {

    public record PerClass(String label, double precision, double recall, double f1, long support, long predicted) {}

    private final List<String> labels;
    private final long[][] confusion;
    private final long n;

    private ClassificationMetrics(List<String> labels, long[][] confusion, long n) {
        this.labels = List.copyOf(labels);
        this.confusion = confusion;
        this.n = n;
    }

    /** Counts the pairs (truth[i], predicted[i]), each a class id in [0, labels.size()). */
    public static ClassificationMetrics of(List<String> labels, int[] truth, int[] predicted) {
        if (truth.length != predicted.length) throw new IllegalArgumentException(truth.length + " labels but " + predicted.length + " predictions");
        int k = labels.size();
        long[][] m = new long[k][k];
        for (int i = 0; i < truth.length; i++) {
            if (truth[i] < 0 || truth[i] >= k || predicted[i] < 0 || predicted[i] >= k) {
                throw new IllegalArgumentException("class id out of [0, " + k + ") at " + i + ": " + truth[i] + " / " + predicted[i]);
            }
            m[truth[i]][predicted[i]]++;
        }
        return new ClassificationMetrics(labels, m, truth.length);
    }

    public List<String> labels() { return labels; }

    public long count() { return n; }

    /** The confusion matrix, [true class][predicted class]. */
    public long[][] confusion() {
        long[][] c = new long[confusion.length][];
        for (int i = 0; i < c.length; i++) c[i] = confusion[i].clone();
        return c;
    }

    public double accuracy() {
        long hits = 0;
        for (int i = 0; i < confusion.length; i++) hits += confusion[i][i];
        return n == 0 ? Double.NaN : (double) hits / n;
    }

    public PerClass perClass(int c) {
        long tp = confusion[c][c], support = Arrays.stream(confusion[c]).sum(), predicted = 0;
        for (long[] row : confusion) predicted += row[c];
        double p = ratio(tp, predicted), r = ratio(tp, support);
        return new PerClass(labels.get(c), p, r, p + r == 0 ? 0 : 2 * p * r / (p + r), support, predicted);
    }

    public List<PerClass> perClass() {
        List<PerClass> out = new ArrayList<>();
        for (int c = 0; c < labels.size(); c++) out.add(perClass(c));
        return out;
    }

    /** Precision, recall and F1 of one averaging. */
    public record Average(double precision, double recall, double f1) {}

    public Average macro() {
        double p = 0, r = 0, f = 0;
        int k = 0;
        for (PerClass pc : perClass()) {
            if (pc.support() == 0 && pc.predicted() == 0) continue;
            p += pc.precision();
            r += pc.recall();
            f += pc.f1();
            k++;
        }
        return k == 0 ? new Average(Double.NaN, Double.NaN, Double.NaN) : new Average(p / k, r / k, f / k);
    }

    public Average weighted() {
        double p = 0, r = 0, f = 0;
        for (PerClass pc : perClass()) {
            p += pc.precision() * pc.support();
            r += pc.recall() * pc.support();
            f += pc.f1() * pc.support();
        }
        return n == 0 ? new Average(Double.NaN, Double.NaN, Double.NaN) : new Average(p / n, r / n, f / n);
    }

    /** Pooled counts: every error is one false positive and one false negative, so P = R = F1 = accuracy. */
    public Average micro() {
        double a = accuracy();
        return new Average(a, a, a);
    }

    private static double ratio(long a, long b) { return b == 0 ? 0 : (double) a / b; }

    /**
     * ROC-AUC of scores for the positive class: the probability that a random positive scores above a random
     * negative, ties counting one half (the Mann–Whitney U statistic over average ranks). NaN when either class
     * is absent.
     */
    public static double rocAuc(boolean[] positive, double[] score) {
        int n = score.length;
        if (positive.length != n) throw new IllegalArgumentException(positive.length + " labels but " + n + " scores");
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Double.compare(score[a], score[b]));
        double rankSum = 0;
        long pos = 0;
        for (int i = 0; i < n; ) {
            int j = i;
            while (j + 1 < n && score[order[j + 1]] == score[order[i]]) j++;
            double rank = (i + j) / 2.0 + 1;          // average 1-based rank of the tied run
            for (int k = i; k <= j; k++) if (positive[order[k]]) { rankSum += rank; pos++; }
            i = j + 1;
        }
        long neg = n - pos;
        if (pos == 0 || neg == 0) return Double.NaN;
        return (rankSum - pos * (pos + 1) / 2.0) / ((double) pos * neg);
    }

    /** Everything as JSON-able maps: what {@code cramjet eval --task classify} writes. */
    public Map<String, Object> toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("examples", n);
        m.put("accuracy", accuracy());
        m.put("macro", average(macro()));
        m.put("weighted", average(weighted()));
        m.put("micro", average(micro()));
        Map<String, Object> per = new LinkedHashMap<>();
        for (PerClass pc : perClass()) {
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("precision", pc.precision());
            c.put("recall", pc.recall());
            c.put("f1", pc.f1());
            c.put("support", pc.support());
            per.put(pc.label(), c);
        }
        m.put("per_class", per);
        m.put("labels", labels);
        List<List<Long>> rows = new ArrayList<>();
        for (long[] row : confusion) rows.add(Arrays.stream(row).boxed().toList());
        m.put("confusion", rows);
        return m;
    }

    private static Map<String, Object> average(Average a) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("precision", a.precision());
        m.put("recall", a.recall());
        m.put("f1", a.f1());
        return m;
    }

    /** The table people read: per-class rows, the averages, accuracy, then the confusion matrix. */
    public String table() {
        int w = Math.max(12, labels.stream().mapToInt(String::length).max().orElse(0) + 2);
        StringBuilder sb = new StringBuilder();
        String row = "%-" + w + "s %9s %9s %9s %9s%n";
        sb.append(String.format(Locale.ROOT, row, "", "precision", "recall", "f1", "support"));
        for (PerClass pc : perClass()) {
            sb.append(String.format(Locale.ROOT, row, pc.label(), f(pc.precision()), f(pc.recall()), f(pc.f1()), pc.support()));
        }
        sb.append('\n');
        sb.append(String.format(Locale.ROOT, row, "accuracy", "", "", f(accuracy()), n));
        Average ma = macro(), wa = weighted();
        sb.append(String.format(Locale.ROOT, row, "macro avg", f(ma.precision()), f(ma.recall()), f(ma.f1()), n));
        sb.append(String.format(Locale.ROOT, row, "weighted avg", f(wa.precision()), f(wa.recall()), f(wa.f1()), n));
        sb.append("\nconfusion matrix (rows: true label, columns: predicted):\n");
        int cw = Math.max(6, labels.stream().mapToInt(String::length).max().orElse(0) + 1);
        sb.append(String.format(Locale.ROOT, "%-" + w + "s", ""));
        for (String l : labels) sb.append(String.format(Locale.ROOT, "%" + cw + "s", l));
        sb.append('\n');
        for (int i = 0; i < labels.size(); i++) {
            sb.append(String.format(Locale.ROOT, "%-" + w + "s", labels.get(i)));
            for (long v : confusion[i]) sb.append(String.format(Locale.ROOT, "%" + cw + "d", v));
            sb.append('\n');
        }
        return sb.toString();
    }

    private static String f(double v) { return Double.isFinite(v) ? String.format(Locale.ROOT, "%.4f", v) : "-"; }
}
