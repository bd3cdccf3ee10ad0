package dev.cramjet.eval;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Expected values are sacreBLEU 2.x's own test cases (test/test_bleu.py, test/test_sentence_bleu.py). */
class BleuTest {
    private static final List<String> HYPS = List.of("The dog bit the man.", "It wasn't surprising.", "The man had just bitten him.");
    private static final List<List<String>> REF_STREAMS = List.of(
            List.of("The dog bit the man.", "It was not unexpected.", "The man bit him first."),
            List.of("The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."));

    /** sacreBLEU takes one list per reference set; we take one list per segment. */
    static List<List<String>> perSegment(List<List<String>> streams) {
        List<List<String>> out = new ArrayList<>();
        for (int i = 0; i < streams.getFirst().size(); i++) {
            List<String> refs = new ArrayList<>();
            for (List<String> s : streams) refs.add(s.get(i));
            out.add(refs);
        }
        return out;
    }

    private static double corpus(List<String> hyps, List<List<String>> refs, Bleu.Settings s) {
        return Bleu.corpus(hyps, refs, s).score();
    }

    @Test
    void corpusBleuOfTheReadmeExample() {
        var refs = perSegment(REF_STREAMS);
        assertEquals(48.530827, corpus(HYPS, refs, Bleu.Settings.DEFAULT), 1e-6);
        assertEquals(49.1919566, corpus(HYPS, refs, Bleu.Settings.DEFAULT.tokenize(Bleu.Tokenize.NONE)), 1e-6);
        assertEquals(48.530827, corpus(HYPS, refs, new Bleu.Settings(Bleu.Tokenize.T13A, false, Bleu.Smoothing.NONE, 0, false)), 1e-6);
        assertEquals(0.0, corpus(List.of("", "", ""), refs, Bleu.Settings.DEFAULT), 0);
    }

    /** raw_corpus_bleu: no tokenization, floor smoothing, effective order. */
    private static double raw(String hyp, String ref, double floor) {
        return Bleu.corpus(List.of(hyp), List.of(List.of(ref)),
                new Bleu.Settings(Bleu.Tokenize.NONE, false, Bleu.Smoothing.FLOOR, floor, true)).score() / 100;
    }

    @Test
    void rawBleuAndEffectiveOrder() {
        var s = new Bleu.Settings(Bleu.Tokenize.NONE, false, Bleu.Smoothing.FLOOR, 0.01, true);
        // no n-gram matches at all: 0 whatever the smoothing (sacreBLEU #141)
        assertEquals(0.0, Bleu.corpus(List.of("this is a test", "another test"),
                List.of(List.of("ref1"), List.of("ref2")), s).score() / 100, 1e-8);
        assertEquals(1.0, raw("this is a test", "this is a test", 0.01), 1e-8);
        assertEquals(0.223606797749979, raw("this is a fest", "this is a test", 0.01), 1e-8);
        assertEquals(0.3678794411714425, raw("test", "a test", 0.01), 1e-8);
        assertEquals(1.0, raw("a test", "a test", 0.01), 1e-8);
        assertEquals(0.03218297948685433, raw("a little test", "a test", 0.01), 1e-8);
    }

    @Test
    void statisticsAndFloorDefault() {
        var s = new Bleu.Settings(Bleu.Tokenize.NONE, false, Bleu.Smoothing.FLOOR, 0.01, true);
        Bleu.Score sc = Bleu.corpus(List.of("am I am a character sequence"), List.of(List.of("I am a symbol string sequence a a")), s);
        assertArrayEquals(new long[] {4, 2, 1, 0}, sc.correct());
        assertArrayEquals(new long[] {6, 5, 4, 3}, sc.total());
        // floor's default value is 0.1; a floor of 0 leaves log(0), floored to -9999999999
        assertEquals(0.1555722182, raw("am I am a character sequence", "I am a symbol string sequence a a", Double.NaN), 1e-8);
        assertEquals(0.0, raw("am I am a character sequence", "I am a symbol string sequence a a", 0), 1e-8);
        assertEquals(0.8375922397, Bleu.fromStatistics(new long[] {9, 7, 5, 3}, new long[] {10, 8, 6, 4}, 11, 11,
                new Bleu.Settings(Bleu.Tokenize.NONE, false, Bleu.Smoothing.NONE, 0, false)).score() / 100, 1e-8);
        // degenerate statistics (floor smoothing with the given offsets)
        assertEquals(0.0, Bleu.fromStatistics(new long[] {0, 0, 0, 0}, new long[] {4, 4, 2, 1}, 0, 1,
                new Bleu.Settings(Bleu.Tokenize.NONE, false, Bleu.Smoothing.FLOOR, 0, false)).score());
        assertEquals(0.0, Bleu.fromStatistics(new long[] {6, 5, 4, 0}, new long[] {6, 5, 4, 3}, 6, 6,
                new Bleu.Settings(Bleu.Tokenize.NONE, false, Bleu.Smoothing.FLOOR, 0, false)).score());
        assertEquals(0.0, Bleu.fromStatistics(new long[] {0, 0, 0, 0}, new long[] {0, 0, 0, 0}, 1, 5,
                new Bleu.Settings(Bleu.Tokenize.NONE, false, Bleu.Smoothing.FLOOR, 0.01, false)).score());
    }

    @Test
    void sentenceBleuWithEachSmoothing() {
        String ref = "producţia de zahăr brut se exprimă în zahăr alb;";
        String sys = "Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;";
        record Case(Bleu.Smoothing smoothing, double value, Bleu.Tokenize tok, double expected) {}
        for (Case c : List.of(new Case(Bleu.Smoothing.EXP, Double.NaN, Bleu.Tokenize.T13A, 8.493),
                new Case(Bleu.Smoothing.NONE, Double.NaN, Bleu.Tokenize.T13A, 0.0),
                new Case(Bleu.Smoothing.FLOOR, Double.NaN, Bleu.Tokenize.T13A, 4.51688),
                new Case(Bleu.Smoothing.FLOOR, 0.5, Bleu.Tokenize.T13A, 10.10),
                new Case(Bleu.Smoothing.ADD_K, Double.NaN, Bleu.Tokenize.T13A, 14.882),
                new Case(Bleu.Smoothing.ADD_K, 2, Bleu.Tokenize.T13A, 21.389),
                new Case(Bleu.Smoothing.EXP, Double.NaN, Bleu.Tokenize.NONE, 7.347))) {
            double got = Bleu.sentence(sys, List.of(ref), new Bleu.Settings(c.tok(), false, c.smoothing(), c.value(), true)).score();
            assertEquals(c.expected(), got, 1e-3, c.toString());
        }
        for (Bleu.Smoothing sm : Bleu.Smoothing.values()) {
            assertEquals(0.0, Bleu.sentence("this is a cat", List.of("okay thanks"), new Bleu.Settings(Bleu.Tokenize.T13A, false, sm, Double.NaN, true)).score());
        }
    }

    @Test
    void tokenizers() {
        assertEquals("It wasn't surprising .", Bleu.Tokenize.T13A.apply("It wasn't surprising."));
        assertEquals("3.14 , 1,000 and 5 - 6 \" x \" & y", Bleu.Tokenize.T13A.apply("3.14, 1,000 and 5-6 &quot;x&quot; &amp; y"));
        // Every CJK character is a word; Latin runs stay words; full-width punctuation is CJK too.
        assertEquals("我 是 来 自 中 国 的 BLEU 玩 家 。", Bleu.Tokenize.ZH.apply("我是来自中国的BLEU玩家。"));
        // sacreBLEU's mis-parsed range U+2001–U+2A6D: the ellipsis counts as a Chinese character, Extension B does not.
        assertEquals("好 … 𠀀", Bleu.Tokenize.ZH.apply("好…𠀀"));
        assertEquals("a … b", Bleu.Tokenize.ZH.apply("a…b"));
    }

    /**
     * zh by hand: hyp 我爱北京 (4 words), ref 我爱北京天安门 (7): p1..p4 = 4/4, 3/3, 2/2, 1/1, BP = e^(1 − 7/4).
     * sacreBLEU's tests hold no zh score, so this one is computed from the definition.
     */
    @Test
    void chineseCorpusBleuByHand() {
        var s = Bleu.Settings.DEFAULT.tokenize(Bleu.Tokenize.ZH);
        Bleu.Score sc = Bleu.corpus(List.of("我爱北京"), List.of(List.of("我爱北京天安门")), s);
        assertEquals(100 * Math.exp(1 - 7.0 / 4), sc.score(), 1e-9);
        assertEquals(4, sc.hypothesisLength());
        assertEquals(7, sc.referenceLength());
    }
}
