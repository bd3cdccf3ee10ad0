package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.eval.ClassificationMetrics;
import dev.cramjet.eval.Validation;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A classifier scored on labelled examples: the mean cross-entropy, the {@link ClassificationMetrics}, ROC-AUC
 * for two classes (the second label is the positive one: "spam" after "ham"), and — as a {@link Validation} —
 * the objective a fine-tuning run monitors.
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
    private final double loss, auc;
    private final Monitor monitor;

    private Evaluation(List<String> labels, int[] truth, float[][] probabilities, Monitor monitor) {
        this.truth = truth;
        this.probabilities = probabilities;
        this.predicted = Classifier.argmax(probabilities);
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
        return new Evaluation(labels, truth, probabilities, Monitor.LOSS);
    }

    /** Runs {@code classifier} over encoded examples with class ids {@code truth}. */
    public static Evaluation run(Classifier classifier, int[][] seqs, int[] truth, Monitor monitor) {
        if (seqs.length == 0) throw new CramjetException("nothing to evaluate: the split has no examples");
        return new Evaluation(classifier.spec.labels(), truth, classifier.probabilities(seqs), monitor);
    }

    @Override public double loss() { return loss; }

    /** ROC-AUC of the second class's probability (NaN unless there are two classes). */
    public double auc() { return auc; }

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
        m.putAll(metrics.toJson());
        if (!Double.isNaN(auc)) m.put("roc_auc", auc);
        return m;
    }
}
