package dev.cramjet.tune;

import dev.cramjet.CramjetException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;

/**
 * The other classic baseline, and the wide half of a {@link Blend}: multinomial logistic regression over which
 * words and word pairs a text holds — binary features, Wang and Manning's "Baselines and Bigrams" (2012) without
 * the Naive Bayes scaling. Words are {@link NaiveBayes#words}' (lower-cased runs of letters and digits, a CJK
 * ideograph on its own); a feature is a word or two adjacent words that occur in at least {@link #MIN_TEXTS}
 * training texts, so a pair seen once (mostly noise) costs no weight.
 *
 * <p>Training minimises the mean cross-entropy plus (λ/2)·‖W‖² (the biases unpenalised) by full-batch gradient
 * descent with heavy-ball momentum, a fixed number of steps: with no sampling and a fixed summation order the
 * weights are a function of the training texts alone, so a blend refitted later (by {@code classify}, by
 * {@code eval}) is the same one. Why it earns its place next to a language model: the model reads a text through
 * a few hundred dimensions of pooled state, this reads a hundred thousand sparse features at once, and on the
 * SpamAssassin split they get different mails wrong (docs/CLASSIFICATION.md, the seventh round).
 */
public final class BagOfWords {
    static final int MIN_TEXTS = 2, STEPS = 400;
    /**
     * Slices of the training texts whose gradients are summed in parallel, then in order: a fixed number, not the
     * core count, so the order of the sums (and so the weights) is the same on every machine.
     */
    static final int CHUNKS = 2;
    static final double LAMBDA = 1e-4, RATE = 0.25, MOMENTUM = 0.9;

    private final int classes;
    private final Map<String, Integer> features;
    /** [class][feature], class-major, so each class's dot product is one sum over the text's features. */
    private final double[][] weights;
    private final double[] bias;

    /** Fits on texts with class ids in [0, classes). */
    public BagOfWords(List<String> texts, int[] labels, int classes) {
        if (texts.isEmpty()) throw new CramjetException("no training texts for the bag-of-words model");
        this.classes = classes;
        List<Set<String>> bags = texts.stream().map(BagOfWords::bag).toList();
        Map<String, Integer> seen = new HashMap<>();
        for (Set<String> b : bags) for (String f : b) seen.merge(f, 1, Integer::sum);
        features = new HashMap<>();
        for (Set<String> b : bags) for (String f : b) if (seen.get(f) >= MIN_TEXTS) features.putIfAbsent(f, features.size());
        int[][] x = bags.stream().map(this::ids).toArray(int[][]::new);
        weights = new double[classes][features.size()];
        bias = new double[classes];
        fit(x, labels);
    }

    /** The distinct words and adjacent word pairs of a text, in order of first appearance. */
    static Set<String> bag(String text) {
        List<String> w = NaiveBayes.words(text);
        Set<String> out = new LinkedHashSet<>(w);
        for (int i = 1; i < w.size(); i++) out.add(w.get(i - 1) + " " + w.get(i));
        return out;
    }

    private int[] ids(Set<String> bag) {
        List<Integer> ids = new ArrayList<>();
        for (String f : bag) {
            Integer id = features.get(f);
            if (id != null) ids.add(id);
        }
        int[] out = ids.stream().mapToInt(Integer::intValue).toArray();
        Arrays.sort(out); // the weights are then read in address order
        return out;
    }

    private void fit(int[][] x, int[] labels) {
        int n = x.length, k = classes, d = features.size(), parts = Math.min(CHUNKS, n);
        double[][][] grads = new double[parts][k][d]; // each chunk's gradient
        double[][] gradBias = new double[parts][k], vel = new double[k][d];
        double[] velBias = new double[k];
        for (int step = 0; step < STEPS; step++) {
            // fixed chunks summed in a fixed order: the same weights however the threads are scheduled
            IntStream.range(0, parts).parallel().forEach(part -> {
                double[][] g = grads[part];
                double[] gb = gradBias[part], p = new double[k];
                for (double[] row : g) Arrays.fill(row, 0);
                Arrays.fill(gb, 0);
                for (int i = part * n / parts; i < (part + 1) * n / parts; i++) {
                    logits(x[i], p);
                    softmax(p);
                    p[labels[i]] -= 1; // d(cross-entropy)/d(logits) = p − onehot
                    for (int c = 0; c < k; c++) {
                        double r = p[c] / n;
                        double[] gc = g[c];
                        gb[c] += r;
                        for (int f : x[i]) gc[f] += r;
                    }
                }
            });
            for (int c = 0; c < k; c++) {
                double[] w = weights[c], v = vel[c];
                for (int f = 0; f < d; f++) {
                    double g = LAMBDA * w[f];
                    for (double[][] part : grads) g += part[c][f];
                    v[f] = MOMENTUM * v[f] - RATE * g;
                    w[f] += v[f];
                }
                double g = 0;
                for (double[] part : gradBias) g += part[c];
                velBias[c] = MOMENTUM * velBias[c] - RATE * g;
                bias[c] += velBias[c];
            }
        }
    }

    private void logits(int[] x, double[] out) {
        for (int c = 0; c < classes; c++) {
            double[] w = weights[c];
            double s = bias[c];
            for (int f : x) s += w[f];
            out[c] = s;
        }
    }

    private static void softmax(double[] z) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (double v : z) max = Math.max(max, v);
        for (int c = 0; c < z.length; c++) sum += z[c] = Math.exp(z[c] - max);
        for (int c = 0; c < z.length; c++) z[c] /= sum;
    }

    /** How many words and word pairs carry a weight. */
    public int features() { return features.size(); }

    /** Class probabilities of a text. */
    public float[] probabilities(String text) {
        double[] z = new double[classes];
        logits(ids(bag(text)), z);
        softmax(z);
        float[] p = new float[classes];
        for (int c = 0; c < classes; c++) p[c] = (float) z[c];
        return p;
    }
}
