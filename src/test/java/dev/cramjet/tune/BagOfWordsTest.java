package dev.cramjet.tune;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class BagOfWordsTest {

    @Test
    void aTextIsItsDistinctWordsAndWordPairs() {
        assertEquals(List.of("win", "money", "now", "win money", "money win", "win now"),
                List.copyOf(BagOfWords.bag("Win money, WIN now")));
    }

    /**
     * No feature is in two texts, so only the biases are fitted, and without a penalty on them the fit is the
     * maximum-likelihood one: the classes' frequencies, 2/3 and 1/3, for any text.
     */
    @Test
    void withoutSharedFeaturesTheFitIsTheClassFrequencies() {
        BagOfWords b = new BagOfWords(List.of("alpha", "beta", "gamma"), new int[] {0, 0, 1}, 2);
        assertEquals(0, b.features());
        float[] p = b.probabilities("alpha beta anything");
        assertEquals(2.0 / 3, p[0], 1e-4);
        assertEquals(1.0 / 3, p[1], 1e-4);
    }

    @Test
    void learnsWhichWordsAndPairsMarkAClass() {
        List<String> texts = List.of("buy cheap pills now", "cheap pills for you now", "buy now", "see you at lunch",
                "lunch at noon, see you", "meeting at noon");
        BagOfWords b = new BagOfWords(texts, new int[] {1, 1, 1, 0, 0, 0}, 2);
        // in two texts or more: buy, cheap, pills, now, you, at, lunch, noon, see and the pairs "cheap pills",
        // "see you", "at noon"
        assertEquals(12, b.features());
        assertTrue(b.probabilities("cheap pills")[1] > 0.9, "spam words");
        assertTrue(b.probabilities("lunch at noon")[0] > 0.9, "ham words");
        // the fit is a function of the texts: a second fit gives the same probabilities bit for bit
        assertArrayEquals(b.probabilities("buy lunch now"), new BagOfWords(texts, new int[] {1, 1, 1, 0, 0, 0}, 2).probabilities("buy lunch now"));
    }

    @Test
    void threeClasses() {
        List<String> texts = List.of("rain storm", "storm wind rain", "bake salt", "salt oven bake", "goal match", "match goal team");
        BagOfWords b = new BagOfWords(texts, new int[] {0, 0, 1, 1, 2, 2}, 3);
        float[] p = b.probabilities("the match and the goal");
        assertEquals(1, p[0] + p[1] + p[2], 1e-6);
        assertTrue(p[2] > p[0] && p[2] > p[1], java.util.Arrays.toString(p));
    }
}
