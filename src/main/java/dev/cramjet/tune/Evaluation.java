package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.eval.ClassificationMetrics;
import dev.cramjet.eval.Validation;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A classifier scored on labelled examples: the mean cross-entropy, the {@link ClassificationMetrics}, ROC-AUC
 * for two classes (the second label is the positive one: "spam" after "ham"), and — as a {@link Validation} —
 * the objective a fine-tuning run monitors. A text's predicted class is its most probable one, or, for two classes
 * with a decision threshold, the positive one when its probability reaches the threshold.
 */
public final class Evaluation implements Validation {

    /** What early stopping and the best checkpoint follow. */
    public enum Monitor {
        LOSS, ACCURACY, MACRO_F1;

        public static Monitor parse(String s) {
            return switch (s) {
                case "loss" -> LOSS;
                case "accuracy" -> ACCURACY;
                case "macro-f1" -> MACRO_F1;
                default -> throw new CramjetException("--monitor must be loss, accuracy or macro-f1, got '" + s + "'");
            };
        }

        public String cliName() { return name().toLowerCase(Locale.ROOT).replace('_', '-'); }
    }

    public final ClassificationMetrics metrics;
    public final float[][] probabilities;
    public final int[] truth, predicted;
    private final double loss, auc, threshold;
    private final Monitor monitor;

    private Evaluation(List<String> labels, int[] truth, float[][] probabilities, double threshold, Monitor monitor) {
        if (!Double.isNaN(threshold) && labels.size() != 2) {
            throw new CramjetException("a decision threshold needs two classes, not " + labels.size());
        }
        this.truth = truth;
        this.probabilities = probabilities;
        this.threshold = threshold;
        this.predicted = Classifier.decide(probabilities, threshold);
        this.metrics = ClassificationMetrics.of(labels, truth, predicted);
        this.monitor = monitor;
        double nll = 0;
        for (int i = 0; i < truth.length; i++) nll -= Math.log(Math.max(probabilities[i][truth[i]], 1e-30));
        this.loss = truth.length == 0 ? Double.NaN : nll / truth.length;
        if (labels.size() == 2) {
            boolean[] pos = new boolean[truth.length];
            double[] score = new double[truth.length];
            for (int i = 0; i < truth.length; i++) {
                pos[i] = truth[i] == 1;
                score[i] = probabilities[i][1];
            }
            auc = ClassificationMetrics.rocAuc(pos, score);
        } else {
            auc = Double.NaN;
        }
    }

    /** Scores given class probabilities (a baseline's) against class ids {@code truth}. */
    public static Evaluation of(List<String> labels, int[] truth, float[][] probabilities) {
        return of(labels, truth, probabilities, Double.NaN);
    }

    /** The same, with a decision threshold on the second class's probability (NaN: the most probable class). */
    public static Evaluation of(List<String> labels, int[] truth, float[][] probabilities, double threshold) {
        return new Evaluation(labels, truth, probabilities, threshold, Monitor.LOSS);
    }

    /**
     * The threshold on the second class's probability that maximises that class's F1 on these examples — chosen
     * on a validation split, then applied to the test split. Each cut between two adjacent distinct scores is a
     * candidate, and the threshold is the midpoint between them, so it does not sit on a validation score; among
     * equal F1s the threshold nearest 0.5 wins.
     */
    public static double bestThreshold(int[] truth, float[][] probabilities) {
        int n = truth.length, positives = 0;
        for (int t : truth) if (t == 1) positives++;
        if (positives == 0) throw new CramjetException("no example of the positive class to choose a threshold on");
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Float.compare(probabilities[b][1], probabilities[a][1]));
        double best = Double.NaN, bestF1 = -1;
        int tp = 0;
        for (int k = 1; k <= n; k++) {
            float s = probabilities[order[k - 1]][1];
            if (truth[order[k - 1]] == 1) tp++;
            if (k < n && probabilities[order[k]][1] == s) continue;
            double cut = k == n ? s : (s + (double) probabilities[order[k]][1]) / 2, f1 = 2.0 * tp / (k + positives);
            if (f1 > bestF1 + 1e-12 || (Math.abs(f1 - bestF1) <= 1e-12 && Math.abs(cut - 0.5) < Math.abs(best - 0.5))) {
                bestF1 = f1;
                best = cut;
            }
        }
        return best;
    }

    /** Runs {@code classifier} over encoded examples with class ids {@code truth}. */
    public static Evaluation run(Classifier classifier, int[][] seqs, int[] truth, Monitor monitor) {
        if (seqs.length == 0) throw new CramjetException("nothing to evaluate: the split has no examples");
        return new Evaluation(classifier.spec.labels(), truth, classifier.probabilities(seqs), Double.NaN, monitor);
    }

    @Override public double loss() { return loss; }

    /** ROC-AUC of the second class's probability (NaN unless there are two classes). */
    public double auc() { return auc; }

    /** The decision threshold on the second class's probability, or NaN where the most probable class is taken. */
    public double threshold() { return threshold; }

    @Override
    public double objective() {
        return switch (monitor) {
            case LOSS -> loss;
            case ACCURACY -> -metrics.accuracy();
            case MACRO_F1 -> -metrics.macro().f1();
        };
    }

    @Override
    public Map<String, Object> metrics() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("val_loss", loss);
        m.put("val_accuracy", metrics.accuracy());
        m.put("val_macro_f1", metrics.macro().f1());
        if (!Double.isNaN(auc)) m.put("val_auc", auc);
        return m;
    }

    @Override
    public String describe() {
        return String.format(Locale.ROOT, "loss %.4f, accuracy %.4f, macro-F1 %.4f%s", loss, metrics.accuracy(), metrics.macro().f1(),
                Double.isNaN(auc) ? "" : String.format(Locale.ROOT, ", ROC-AUC %.4f", auc));
    }

    /** The metrics JSON {@code cramjet eval --task classify} writes: loss, AUC and everything in ClassificationMetrics. */
    public Map<String, Object> toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("loss", loss);
        if (!Double.isNaN(threshold)) m.put("threshold", threshold);
        m.putAll(metrics.toJson());
        if (!Double.isNaN(auc)) m.put("roc_auc", auc);
        return m;
    }
}
