package dev.cramjet.infer;

import dev.cramjet.CramjetException;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class SamplerTest {
    private static final int[] NO_CONTEXT = new int[0];

    private static float[] randomLogits(int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] l = new float[vocab];
        for (int i = 0; i < vocab; i++) l[i] = (float) (r.nextGaussian() * 3);
        return l;
    }

    private static double[] softmax(float[] logits, double temperature) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) max = Math.max(max, l);
        double[] p = new double[logits.length];
        double z = 0;
        for (int i = 0; i < p.length; i++) z += p[i] = Math.exp((logits[i] - max) / temperature);
        for (int i = 0; i < p.length; i++) p[i] /= z;
        return p;
    }

    @Test
    void greedyTakesTheArgmaxAndTiesGoToTheLowestId() {
        Sampler s = new Sampler(Sampler.Settings.greedy(), 5);
        assertEquals(3, s.sample(new float[] {0, 1, 2, 5, 4}, NO_CONTEXT, 0));
        assertEquals(1, s.sample(new float[] {0, 7, 2, 7, 7}, NO_CONTEXT, 0));
        // Padding columns past the vocabulary are ignored even when larger.
        assertEquals(0, s.sample(new float[] {1, 0, 0, 0, 0, 99}, NO_CONTEXT, 0));
        // NaN never wins.
        assertEquals(2, s.sample(new float[] {Float.NaN, 0, 1, 0, 0}, NO_CONTEXT, 0));
    }

    @Test
    void aNaNLogitIsNeverDrawnInVectorLanesOrTheTail() {
        // 37 tokens: two whole vectors of 16 and a scalar tail; every other token NaN, the rest equally likely.
        int vocab = 37;
        float[] logits = new float[vocab];
        for (int i = 0; i < vocab; i += 2) logits[i] = Float.NaN;
        Sampler s = new Sampler(new Sampler.Settings(1, 0, 1, 1, 3), vocab);
        boolean[] drawn = new boolean[vocab];
        for (int i = 0; i < 2000; i++) drawn[s.sample(logits, NO_CONTEXT, 0)] = true;
        for (int i = 0; i < vocab; i++) assertEquals(i % 2 == 1, drawn[i], "token " + i);
    }

    @Test
    void topKDrawsOnlyFromTheKLargestAndReachesAllOfThem() {
        int vocab = 50_257, k = 7;
        float[] logits = randomLogits(vocab, 1);
        // Make ties at the boundary: ranks decide by id, so the set is still exactly k.
        Integer[] order = new Integer[vocab];
        for (int i = 0; i < vocab; i++) order[i] = i;
        java.util.Arrays.sort(order, (a, b) -> logits[a] != logits[b] ? Float.compare(logits[b], logits[a]) : a - b);
        logits[order[k]] = logits[order[k - 1]];
        Set<Integer> expected = new HashSet<>();
        for (int i = 0; i < k; i++) expected.add(order[i]);
        if (order[k] < order[k - 1]) { expected.remove(order[k - 1]); expected.add(order[k]); }

        // Temperature 100 flattens the distribution, so all k survivors are seen quickly.
        Sampler s = new Sampler(new Sampler.Settings(100, k, 1, 1, 42), vocab);
        Set<Integer> drawn = new HashSet<>();
        for (int i = 0; i < 300; i++) drawn.add(s.sample(logits, NO_CONTEXT, 0));
        assertEquals(expected, drawn);
    }

    @Test
    void topPKeepsTheSmallestSetReachingTheMass() {
        // Probabilities 0.5, 0.25, 0.125, 0.0625, 0.0625 (logits are log-probabilities).
        float[] logits = new float[] {(float) Math.log(0.0625), (float) Math.log(0.25), (float) Math.log(0.5),
            (float) Math.log(0.125), (float) Math.log(0.0625)};
        // p = 0.7 needs {2, 1} (0.75); p = 0.8 needs {2, 1, 3} (0.875).
        assertEquals(Set.of(2, 1), drawSet(new Sampler.Settings(1, 0, 0.7, 1, 3), logits, 3000));
        assertEquals(Set.of(2, 1, 3), drawSet(new Sampler.Settings(1, 0, 0.8, 1, 3), logits, 3000));
        // Top-p applies after top-k: k = 2 leaves {2, 1}, renormalised to 2/3, 1/3; p = 0.6 keeps only token 2.
        assertEquals(Set.of(2), drawSet(new Sampler.Settings(1, 2, 0.6, 1, 3), logits, 1000));
    }

    @Test
    void topPOnALargeVocabularyMatchesASortedReference() {
        int vocab = 50_257;
        float[] logits = randomLogits(vocab, 9);
        double[] p = softmax(logits, 1);
        Integer[] order = new Integer[vocab];
        for (int i = 0; i < vocab; i++) order[i] = i;
        java.util.Arrays.sort(order, (a, b) -> Double.compare(p[b], p[a]));
        double topP = 0.5, acc = 0;
        Set<Integer> nucleus = new HashSet<>();
        for (Integer id : order) {
            nucleus.add(id);
            acc += p[id];
            if (acc >= topP) break;
        }
        Set<Integer> drawn = drawSet(new Sampler.Settings(1, 0, topP, 1, 5), logits, 2000);
        assertTrue(nucleus.containsAll(drawn), "drew a token outside the nucleus");
        assertTrue(drawn.size() > nucleus.size() / 2, "drew " + drawn.size() + " of " + nucleus.size());
    }

    private static Set<Integer> drawSet(Sampler.Settings settings, float[] logits, int draws) {
        Sampler s = new Sampler(settings, logits.length);
        Set<Integer> drawn = new HashSet<>();
        for (int i = 0; i < draws; i++) drawn.add(s.sample(logits, NO_CONTEXT, 0));
        return drawn;
    }

    @Test
    void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOnce() {
        // Token 0 leads (3.0) but is in the context twice: 3/2 = 1.5 < 2.0, so token 1 wins greedily.
        Sampler s = new Sampler(new Sampler.Settings(0, 0, 1, 2, 0), 4);
        float[] logits = {3f, 2f, -1f, -1.5f};
        assertEquals(1, s.sample(logits, new int[] {0, 0}, 2));
        assertEquals(3f, logits[0], "the caller's logits are untouched");
        // Negative logits are multiplied: token 2's -1 becomes -2, which ranks below token 3's -1.5.
        assertEquals(3, s.sample(new float[] {-5f, -5f, -1f, -1.5f}, new int[] {2}, 1));
        // Only the first `length` context entries count: with length 0 nothing is penalised.
        assertEquals(0, s.sample(logits, new int[] {0, 0}, 0));
        // The penalty changes the sampling distribution by exactly the CTRL rule: p(0)/p(1) = e^(1.5-2).
        Sampler sampled = new Sampler(new Sampler.Settings(1, 0, 1, 2, 11), 2);
        int zeros = 0, n = 40_000;
        for (int i = 0; i < n; i++) if (sampled.sample(new float[] {3f, 2f}, new int[] {0}, 1) == 0) zeros++;
        double expected = 1 / (1 + Math.exp(0.5));
        assertEquals(expected, zeros / (double) n, 0.01);
    }

    @Test
    void presenceAndFrequencyPenaltiesSubtractFromGeneratedTokensOnly() {
        // Context {1, 0, 0 | 0, 2}: the prompt is {1, 0, 0}; generated 0 once, 2 once. Logit 0 → 3 − 1·1 − 0.5 = 1.5,
        // logit 2 → 2.2 − 1 − 0.5 = 0.7; token 1 (only in the prompt) keeps 2.0 and wins.
        Sampler s = new Sampler(new Sampler.Settings(0, 0, 1, 1, 0.5, 1.0, 0), 3);
        int[] context = {1, 0, 0, 0, 2};
        assertEquals(1, s.sample(new float[] {3f, 2f, 2.2f}, context, 3, 5));
        // Frequency counts repeats: generated {0, 0, 0} takes 3 × 0.4 off token 0 (3 → 1.8 < 2).
        Sampler f = new Sampler(new Sampler.Settings(0, 0, 1, 1, 0, 0.4, 0), 3);
        assertEquals(0, f.sample(new float[] {3f, 2f, 0f}, new int[] {0, 0}, 0, 2));
        assertEquals(1, f.sample(new float[] {3f, 2f, 0f}, new int[] {0, 0, 0}, 0, 3));
        // Negative values encourage repetition.
        Sampler neg = new Sampler(new Sampler.Settings(0, 0, 1, 1, -1.5, 0, 0), 3);
        assertEquals(2, neg.sample(new float[] {3f, 2f, 2f}, new int[] {2}, 0, 1));
        assertThrows(CramjetException.class, () -> new Sampler.Settings(1, 0, 1, 1, 2.5, 0, 0));
        assertThrows(CramjetException.class, () -> new Sampler.Settings(1, 0, 1, 1, 0, Double.NaN, 0));
    }

    @Test
    void logprobsAreTheModelsLogSoftmaxWithTheTopTokensInOrder() {
        float[] logits = randomLogits(5000, 4);
        double[] p = softmax(logits, 1);
        Sampler s = new Sampler(new Sampler.Settings(0.7, 40, 0.9, 1.3, 1), logits.length);
        int token = s.sample(logits, new int[] {3, 4}, 2);
        int[] ids = new int[5];
        double[] lp = new double[5];
        assertEquals(Math.log(p[token]), s.logprob(logits, token, 5, ids, lp), 1e-5);
        Integer[] order = new Integer[logits.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        java.util.Arrays.sort(order, (a, b) -> Double.compare(p[b], p[a]));
        for (int k = 0; k < 5; k++) {
            assertEquals(order[k], ids[k], "rank " + k);
            assertEquals(Math.log(p[order[k]]), lp[k], 1e-5, "rank " + k);
        }
    }

    @Test
    void drawsAndLogprobsHaveTheSameBitsInTheInterpreterAndOnceCompiled() {
        // The first calls run interpreted (the Vector API's per-lane fallbacks); after many, C2's intrinsics. A seed
        // must give the same text either way, so nothing the sampler computes may depend on the tier.
        float[] logits = randomLogits(2000, 6);
        Sampler.Settings set = new Sampler.Settings(1.3, 0, 0.95, 1.1, 0.3, 0.2, 99);
        long[] cold = fingerprint(set, logits);
        for (int i = 0; i < 3000; i++) fingerprint(set, logits);
        assertArrayEquals(cold, fingerprint(set, logits));
    }

    /** Twenty draws and every logprob computed along the way, as bits. */
    private static long[] fingerprint(Sampler.Settings set, float[] logits) {
        Sampler s = new Sampler(set, logits.length);
        int[] context = new int[20], ids = new int[3];
        double[] lp = new double[3];
        long[] out = new long[40];
        for (int i = 0; i < 20; i++) {
            context[i] = s.sample(logits, context, 0, i);
            out[2 * i] = context[i];
            out[2 * i + 1] = Double.doubleToRawLongBits(s.logprob(logits, context[i], 3, ids, lp)) ^ Double.doubleToRawLongBits(lp[2]);
        }
        return out;
    }

    @Test
    void aSeedReproducesTheSequenceAndAnotherSeedDoesNot() {
        float[] logits = randomLogits(1000, 2);
        int[] a = draws(new Sampler(new Sampler.Settings(1, 50, 0.9, 1.1, 7), 1000), logits);
        int[] b = draws(new Sampler(new Sampler.Settings(1, 50, 0.9, 1.1, 7), 1000), logits);
        int[] c = draws(new Sampler(new Sampler.Settings(1, 50, 0.9, 1.1, 8), 1000), logits);
        assertArrayEquals(a, b);
        assertFalse(java.util.Arrays.equals(a, c));
    }

    private static int[] draws(Sampler s, float[] logits) {
        int[] out = new int[100];
        for (int i = 0; i < out.length; i++) out[i] = s.sample(logits, out, i);
        return out;
    }

    @Test
    void frequenciesMatchTheSoftmaxAtTheTemperature() {
        float[] logits = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f, -3.0f};
        for (double t : new double[] {1.0, 0.7, 2.0}) {
            double[] p = softmax(logits, t);
            Sampler s = new Sampler(new Sampler.Settings(t, 0, 1, 1, 123), logits.length);
            int n = 60_000;
            int[] counts = new int[logits.length];
            for (int i = 0; i < n; i++) counts[s.sample(logits, NO_CONTEXT, 0)]++;
            for (int i = 0; i < logits.length; i++) {
                double sd = Math.sqrt(p[i] * (1 - p[i]) / n);
                assertEquals(p[i], counts[i] / (double) n, 5 * sd + 1e-4, "token " + i + " at temperature " + t);
            }
        }
    }

    @Test
    void badSettingsNameTheSetting() {
        assertTrue(assertThrows(CramjetException.class, () -> new Sampler.Settings(-1, 0, 1, 1, 0)).getMessage().startsWith("temperature"));
        assertTrue(assertThrows(CramjetException.class, () -> new Sampler.Settings(1, -2, 1, 1, 0)).getMessage().startsWith("top-k"));
        assertTrue(assertThrows(CramjetException.class, () -> new Sampler.Settings(1, 0, 0, 1, 0)).getMessage().startsWith("top-p"));
        assertTrue(assertThrows(CramjetException.class, () -> new Sampler.Settings(1, 0, 1.5, 1, 0)).getMessage().startsWith("top-p"));
        assertTrue(assertThrows(CramjetException.class, () -> new Sampler.Settings(1, 0, 1, 0, 0)).getMessage().startsWith("repetition"));
    }
}
