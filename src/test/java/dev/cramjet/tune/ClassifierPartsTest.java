package dev.cramjet.tune;

import dev.cramjet.data.Batch;
import dev.cramjet.tokenizer.BpeTrainer;
import dev.cramjet.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ClassifierPartsTest {
    private static int[][] seqs(int n) {
        int[][] s = new int[n][];
        for (int i = 0; i < n; i++) s[i] = new int[] {0, i + 1, i + 2};
        return s;
    }

    @Test
    void anEpochVisitsEveryExampleOnceAndResumesWhereItStopped() {
        int n = 10;
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) labels[i] = i % 2;
        ClassBatches a = new ClassBatches(seqs(n), labels, 2, null, 3);
        Batch b = a.allocate(5, 4);
        assertEquals(5, b.targets.length);
        assertEquals(5, b.lengths.length);
        List<Integer> seen = new ArrayList<>();
        for (int k = 0; k < 2; k++) {
            a.next(b);
            for (int r = 0; r < 5; r++) {
                assertEquals(3, b.lengths[r]);
                assertEquals(0, b.tokens[r * 4 + 3], "padding past the length");
                seen.add(b.tokens[r * 4 + 1] - 1);
                assertEquals(labels[b.tokens[r * 4 + 1] - 1], b.targets[r]);
            }
        }
        assertEquals(List.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), seen.stream().sorted().toList());
        var state = a.state();
        a.next(b);
        int[] next = b.tokens.clone();
        ClassBatches c = new ClassBatches(seqs(n), labels, 2, null, 3);
        c.restore(state, "test state");
        c.next(b);
        assertArrayEquals(next, b.tokens, "restored at the same draw");
    }

    @Test
    void balancedWeightsDrawEachClassEquallyOften() {
        int n = 100;
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) labels[i] = i < 90 ? 0 : 1;
        double[] w = ClassBatches.balanced(labels, 2);
        assertEquals(100 / (2 * 90.0), w[0], 1e-12);
        assertEquals(100 / (2 * 10.0), w[1], 1e-12);
        ClassBatches s = new ClassBatches(seqs(n), labels, 2, w, 1);
        Batch b = s.allocate(100, 3);
        int ones = 0;
        for (int k = 0; k < 40; k++) {
            s.next(b);
            for (int t : b.targets) ones += t;
        }
        assertEquals(0.5, ones / 4000.0, 0.03);
    }

    @Test
    void truncationKeepsTheHeadOrTheHeadAndTail() {
        List<String> docs = List.of("one two three four five six seven eight nine ten eleven twelve", "short");
        Tokenizer tok = new BpeTrainer().train(docs, 270, Tokenizer.DEFAULT_SPECIALS);
        String text = docs.getFirst();
        int[] all = tok.encodeOrdinary(text);
        assertTrue(all.length > 20, "bytes mostly: " + all.length);
        var head = Classifier.encode(tok, List.of(text, "short"), 9, Classifier.Truncation.HEAD);
        assertEquals(1, head.truncated());
        int[] h = head.tokens()[0];
        assertEquals(9, h.length);
        assertEquals(tok.eot(), h[0]);
        assertArrayEquals(Arrays.copyOf(all, 8), Arrays.copyOfRange(h, 1, 9));
        int[] ht = Classifier.encode(tok, List.of(text), 9, Classifier.Truncation.HEAD_TAIL).tokens()[0];
        // 8 slots: a quarter (2) for the start, 6 for the end.
        assertArrayEquals(new int[] {tok.eot(), all[0], all[1], all[all.length - 6], all[all.length - 5], all[all.length - 4],
                all[all.length - 3], all[all.length - 2], all[all.length - 1]}, ht);
        int[] s = head.tokens()[1];
        assertEquals(tok.encodeOrdinary("short").length + 1, s.length, "short texts are not padded here");
    }

    /**
     * Naive Bayes by hand: spam docs "win money", "win win"; ham doc "lunch money". Vocabulary {win, money, lunch}.
     * P(win|spam) = (3+1)/(4+3), P(money|spam) = (1+1)/7; P(win|ham) = 1/5, P(money|ham) = 2/5; priors 2/3, 1/3.
     * "win money": spam ∝ 2/3·4/7·2/7, ham ∝ 1/3·1/5·2/5.
     */
    @Test
    void naiveBayesMatchesTheHandComputedPosterior() {
        NaiveBayes nb = new NaiveBayes(List.of("Win money!", "win, WIN", "lunch money"), new int[] {1, 1, 0}, 2);
        double spam = 2.0 / 3 * 4 / 7 * 2 / 7, ham = 1.0 / 3 * 1 / 5 * 2 / 5;
        float[] p = nb.probabilities("win money unseen-word");
        assertEquals(spam / (spam + ham), p[1], 1e-6);
        assertEquals(List.of("春", "眠", "abc", "12"), NaiveBayes.words("春眠 ABC,12"));
    }

    @Test
    void softmaxAndArgmax() {
        float[] p = Classifier.softmax(new float[] {9, 1, 2, 3}, 1, 3);
        assertEquals(1.0, p[0] + p[1] + p[2], 1e-6);
        assertEquals(Math.exp(3) / (Math.exp(1) + Math.exp(2) + Math.exp(3)), p[2], 1e-6);
        assertArrayEquals(new int[] {2, 0}, Classifier.argmax(new float[][] {p, {0.7f, 0.2f, 0.1f}}));
    }

    private static float[][] binary(double... positive) {
        float[][] p = new float[positive.length][];
        for (int i = 0; i < p.length; i++) p[i] = new float[] {(float) (1 - positive[i]), (float) positive[i]};
        return p;
    }

    /**
     * Spam F1 of the top k by score, positives 3: k=1 2/4, k=2 4/5, k=3 4/6, k=4 6/7 (best), k=5 6/8, k=6 6/9,
     * so the cut falls between 0.6 and 0.3.
     */
    @Test
    void thresholdMaximisesTheF1OfTheSecondClass() {
        int[] truth = {1, 0, 1, 0, 1, 0};
        float[][] p = binary(0.9, 0.7, 0.8, 0.3, 0.6, 0.2);
        assertEquals(0.45, Evaluation.bestThreshold(truth, p), 1e-6);
        Evaluation e = Evaluation.of(List.of("ham", "spam"), truth, p, 0.45);
        assertArrayEquals(new int[] {1, 1, 1, 0, 1, 0}, e.predicted);
        assertEquals(6.0 / 7, e.metrics.perClass().get(1).f1(), 1e-9);
        assertEquals(0.45, (double) e.toJson().get("threshold"), 1e-6);
        // equal scores are cut together: not k=1 (F1 1 at 0.7), but both 0.7s (2/3), cut at the midpoint 0.4
        assertEquals(0.4, Evaluation.bestThreshold(new int[] {1, 0, 0}, binary(0.7, 0.7, 0.1)), 1e-6);
        // F1 2/3 at k=1 (cut 0.985) and at k=4 (cut 0.305): the one nearer 0.5
        assertEquals(0.305, Evaluation.bestThreshold(new int[] {1, 0, 0, 1, 0}, binary(0.99, 0.98, 0.97, 0.6, 0.01)), 1e-6);
        assertThrows(dev.cramjet.CramjetException.class, () -> Evaluation.bestThreshold(new int[] {0, 0}, binary(0.2, 0.9)));
        assertThrows(dev.cramjet.CramjetException.class, () -> Evaluation.of(List.of("a", "b", "c"), new int[] {0}, new float[][] {{1, 0, 0}}, 0.5));
    }
}
