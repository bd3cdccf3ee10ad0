package dev.cramjet.eval;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Expected values are sacreBLEU 2.x's own test cases (test/test_chrf.py). */
class ChrFTest {
    private static final double EPS = 1e-4;

    private static double corpus(List<String> hyps, List<String> refs, ChrF.Settings s) {
        return ChrF.corpus(hyps, refs.stream().map(List::of).toList(), s);
    }

    @Test
    void chrF3WithEpsilonSmoothing() {
        var s = new ChrF.Settings(6, 0, 3, false, false, true);
        assertEquals(0.0, corpus(List.of("abcdefg"), List.of("hijklmnop"), s), EPS);
        assertEquals(0.0, corpus(List.of("a"), List.of("b"), s), EPS);
        assertEquals(0.0, corpus(List.of(""), List.of("reference"), s), EPS);
        assertEquals(8.3333, corpus(List.of("aa"), List.of("ab"), s), EPS);
        assertEquals(8.3333, corpus(List.of("a", "b"), List.of("a", "c"), s), EPS);
        assertEquals(16.6667, corpus(List.of("a"), List.of("a"), s), EPS);
        assertEquals(50.0, corpus(List.of("a b c"), List.of("a b c"), s), EPS);
        assertEquals(50.0, corpus(List.of("a b c"), List.of("abc"), s), EPS);
        assertEquals(63.361730, corpus(List.of(" risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists ."),
                List.of("risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ."), s), EPS);
        assertEquals(64.1302698, corpus(List.of(" Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. "),
                List.of("Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."), s), EPS);
        assertEquals(100.0, corpus(List.of("Niemand hat die Absicht, eine Mauer zu errichten"), List.of("Niemand hat die Absicht, eine Mauer zu errichten"), s), EPS);
    }

    @Test
    void chrF3WithEffectiveOrder() {
        var s = new ChrF.Settings(6, 0, 3, false, false, false);
        assertEquals(100.0, corpus(List.of("a"), List.of("a"), s), EPS);
        assertEquals(0.0, corpus(List.of(""), List.of("reference"), s), EPS);
        assertEquals(100.0, corpus(List.of("a b c"), List.of("a b c"), s), EPS);
        assertEquals(100.0, corpus(List.of("a b c"), List.of("abc"), s), EPS);
        assertEquals(0.0, corpus(List.of(""), List.of("c"), s), EPS);
        assertEquals(50.0, corpus(List.of("a", "b"), List.of("a", "c"), s), EPS);
        assertEquals(25.0, corpus(List.of("aa"), List.of("ab"), s), EPS);
    }

    @Test
    void keepingWhitespace() {
        var s = new ChrF.Settings(6, 0, 3, false, true, false);
        assertEquals(67.3481606, corpus(List.of("Die Beziehung zwischen Obama und Netanjahu ist nicht gerade freundlich."),
                List.of("Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."), s), EPS);
        assertEquals(65.2414427, corpus(List.of("risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists ."),
                List.of("risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ."), s), EPS);
    }

    @Test
    void sentenceLevelChrF2() {
        var s = new ChrF.Settings(6, 0, 2, false, false, true);
        assertEquals(39.14078509, ChrF.sentence("Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře.",
                List.of("Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře."), s), EPS);
        assertEquals(31.22557079, ChrF.sentence("Nebo prostě nemají vybavení, které by jim pomohlo, uvedli lékaři.",
                List.of("A někdy nemáme ani potřebný materiál, abychom jim pomohli, popsali lékaři."), s), EPS);
        assertEquals(57.15704367, ChrF.sentence("Lapali po dechu, jejich životy skončily dřív, než skutečně začaly.",
                List.of("Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli."), s), EPS);
    }

    /** chrF++ by hand: identical texts score 100; with two references the better one is taken. */
    @Test
    void chrFPlusPlusAndMultipleReferences() {
        assertEquals(100.0, ChrF.sentence("the cat sat.", List.of("the cat sat."), ChrF.Settings.CHRF_PLUS_PLUS), 1e-9);
        double one = ChrF.sentence("the cat sat", List.of("a dog ran"), ChrF.Settings.CHRF);
        double best = ChrF.sentence("the cat sat", List.of("a dog ran", "the cat sat"), ChrF.Settings.CHRF);
        assertEquals(100.0, best, 1e-9);
        assertEquals(true, one < 30, "unrelated reference scores low: " + one);
    }

    @Test
    void exactMatchIgnoresSurroundingWhitespaceOnly() {
        assertEquals(0.5, ExactMatch.corpus(List.of(" Paris\n", "paris"), List.of(List.of("Paris"), List.of("Paris", "Lyon"))), 1e-12);
    }
}
