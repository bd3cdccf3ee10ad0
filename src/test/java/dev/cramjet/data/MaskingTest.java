package dev.cramjet.data;

import dev.cramjet.CramjetException;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** BERT's corruption rule on a fixed seed: the rate, the 80/10/10 split, specials untouched, reproducible. */
class MaskingTest {
    private static final int VOCAB = 1000, MASK = 999, EOT = 994, PAD = 995;

    @Test
    void ratesSplitAndSpecialsOnAFixedSeed() {
        int n = 400_000;
        SplittableRandom r = new SplittableRandom(1);
        int[] original = new int[n];
        for (int i = 0; i < n; i++) original[i] = i % 50 == 0 ? EOT : i % 77 == 0 ? PAD : r.nextInt(990);
        int[] tokens = original.clone(), targets = new int[n];
        Masking m = new Masking(0.25, MASK, VOCAB, EOT, PAD, 996, 997, 998);   // 990–993: ordinary, never in the text
        m.apply(tokens, targets, n, 42);
        long ordinary = 0, chosen = 0, masked = 0, random = 0, kept = 0;
        for (int i = 0; i < n; i++) {
            boolean special = original[i] >= 994;
            if (special) {
                assertEquals(-1, targets[i], "a special is never scored");
                assertEquals(original[i], tokens[i], "a special is never changed");
                continue;
            }
            ordinary++;
            if (targets[i] < 0) {
                assertEquals(original[i], tokens[i], "an unchosen position is untouched");
                continue;
            }
            chosen++;
            assertEquals(original[i], targets[i], "the target is the original token");
            if (tokens[i] == MASK) masked++;
            else if (tokens[i] == original[i]) kept++;
            else {
                random++;
                assertTrue(tokens[i] < 994, "a random replacement is never special: " + tokens[i]);
            }
        }
        assertEquals(0.25, (double) chosen / ordinary, 0.005, "masking rate");
        assertEquals(0.8, (double) masked / chosen, 0.01, "[MASK] share");
        // A random draw lands on the original token once in 994: the "kept" tenth grows by that little.
        assertEquals(0.1, (double) random / chosen, 0.01, "random share");
        assertEquals(0.1, (double) kept / chosen, 0.01, "unchanged share");

        int[] again = original.clone(), againTargets = new int[n];
        m.apply(again, againTargets, n, 42);
        assertArrayEquals(tokens, again, "a pure function of the seed");
        int[] other = original.clone();
        m.apply(other, againTargets, n, 43);
        assertFalse(java.util.Arrays.equals(tokens, other), "another seed masks elsewhere");
    }

    @Test
    void refusesImpossibleSettings() {
        assertThrows(CramjetException.class, () -> new Masking(0, MASK, VOCAB));
        assertThrows(CramjetException.class, () -> new Masking(0.15, VOCAB, VOCAB));
        assertThrows(CramjetException.class, () -> new Masking(0.15, 0, 1));
    }
}
