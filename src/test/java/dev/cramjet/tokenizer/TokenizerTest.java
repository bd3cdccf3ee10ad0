package dev.cramjet.tokenizer;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenizerTest {
    static Tokenizer tok;

    /** A small mixed English/Chinese corpus, enough for a few hundred merges. */
    static List<String> corpus() {
        List<String> docs = new ArrayList<>();
        String[] en = {"The quick brown fox jumps over the lazy dog.", "It's what we'll do, isn't it? They've said so.",
                "Numbers like 12345 and 3.14159 appear\n\n  in text\twith  odd   spacing.", "Hello, world! Hello again."};
        String[] zh = {"床前明月光，疑是地上霜。举头望明月，低头思故乡。", "人工智能正在改变世界，我们需要学习新的知识。",
                "今天天气很好，我们去公园散步吧！"};
        for (int i = 0; i < 50; i++) {
            docs.add(en[i % en.length] + " " + zh[i % zh.length]);
            docs.add(zh[(i + 1) % zh.length] + "\n" + en[(i + 2) % en.length]);
        }
        return docs;
    }

    @BeforeAll
    static void train() {
        tok = new BpeTrainer().train(corpus(), 400, Tokenizer.DEFAULT_SPECIALS);
    }

    @Test
    void vocabularyHasBytesMergesAndSpecialsLast() {
        assertEquals(400, tok.vocabSize());
        assertEquals(394, tok.eot());
        assertEquals(398, tok.special("<|assistant|>"));
        assertEquals(399, tok.special(Tokenizer.MASK));
        for (int b = 0; b < 256; b++) assertArrayEquals(new byte[] {(byte) b}, tok.token(b));
    }

    @Test
    void roundTripsRandomBytesIncludingInvalidUtf8() {
        Random r = new Random(1);
        for (int k = 0; k < 300; k++) {
            byte[] b = new byte[r.nextInt(200)];
            r.nextBytes(b);
            assertArrayEquals(b, tok.decodeBytes(tok.encode(b)));
        }
    }

    @Test
    void roundTripsRandomUnicodeAndChinese() {
        Random r = new Random(2);
        for (int k = 0; k < 300; k++) {
            String s = randomText(r, 1 + r.nextInt(120));
            assertEquals(s, tok.decode(tok.encode(s)), () -> "text: " + s);
        }
        String zh = "我们需要学习新的知识。床前明月光，疑是地上霜。 混合 English 和中文 text!";
        int[] ids = tok.encode(zh);
        assertEquals(zh, tok.decode(ids));
        assertTrue(ids.length < zh.getBytes(StandardCharsets.UTF_8).length / 2, "Chinese seen in training compresses");
    }

    @Test
    void specialsInTextBecomeTheirIds() {
        int[] ids = tok.encode("Hello<|endoftext|><|user|>你好");
        String text = tok.decode(ids);
        assertEquals("Hello<|endoftext|><|user|>你好", text);
        assertEquals(tok.eot(), ids[tok.encode("Hello").length]);
        assertEquals((int) tok.special("<|user|>"), ids[tok.encode("Hello").length + 1]);
    }

    @Test
    void largeInputsEncodeInParallelToTheSameIds() {
        StringBuilder sb = new StringBuilder();
        Random r = new Random(3);
        List<String> docs = corpus();
        while (sb.length() < 3_000_000) sb.append(docs.get(r.nextInt(docs.size()))).append(r.nextBoolean() ? "\n" : "\n\n  ");
        String big = sb.toString();
        int[] all = tok.encode(big);
        // The same text piece by piece, split only where a line starts with a letter, as the parallel split does.
        List<Integer> pieces = new ArrayList<>();
        int from = 0;
        for (int i = 1; i <= big.length(); i++) {
            if (i == big.length() || (big.charAt(i - 1) == '\n' && Character.isLetter(big.charAt(i)) && big.charAt(i) < 0x7F && i - from > 50_000)) {
                for (int id : tok.encode(big.substring(from, i))) pieces.add(id);
                from = i;
            }
        }
        assertArrayEquals(pieces.stream().mapToInt(Integer::intValue).toArray(), all);
        assertEquals(big, tok.decode(all));
    }

    @Test
    void trainingIsDeterministic() {
        Tokenizer again = new BpeTrainer().train(corpus(), 400, Tokenizer.DEFAULT_SPECIALS);
        assertEquals(tok.hash(), again.hash());
        Tokenizer smaller = new BpeTrainer().train(corpus(), 390, Tokenizer.DEFAULT_SPECIALS);
        assertNotEquals(tok.hash(), smaller.hash());
    }

    @Test
    void learnsTheExpectedMergesOnATinyCorpus() {
        // Pre-tokens: "ab" ×1, " ab" ×2, "abc" ×1. Pair counts: (a,b)=4, (' ',a)=2, (b,c)=1.
        // Merge 1: a+b → 256. Then (' ',256)=2, (256,c)=1. Merge 2: ' '+256 → 257. Merge 3: 256+c → 258.
        Tokenizer t = new BpeTrainer().train(List.of("ab ab ab", "abc"), 259, List.of());
        assertEquals(259, t.vocabSize());
        assertEquals("ab", new String(t.token(256), StandardCharsets.US_ASCII));
        assertEquals(" ab", new String(t.token(257), StandardCharsets.US_ASCII));
        assertEquals("abc", new String(t.token(258), StandardCharsets.US_ASCII));
        // " abc": a+b first (rank 0), then ' '+ab (rank 1) beats ab+c (rank 2).
        assertArrayEquals(new int[] {256, 257, 'c'}, t.encode("ab abc"));
        // Equal counts: the pair with the smaller ids wins, so "xy" (120,121) merges before "zw".
        Tokenizer tie = new BpeTrainer().train(List.of("zw", "xy"), 257, List.of());
        assertEquals("xy", new String(tie.token(256), StandardCharsets.US_ASCII));
    }

    @Test
    void specialsInTrainingTextAreNotLearned() {
        List<String> docs = new ArrayList<>();
        for (int i = 0; i < 40; i++) docs.add("<|endoftext|>hello<|user|>world<|endoftext|>");
        Tokenizer t = new BpeTrainer().train(docs, 256 + 20 + 5, Tokenizer.DEFAULT_SPECIALS);
        for (int id = 256; id < t.eot(); id++) {
            String token = new String(t.token(id), StandardCharsets.UTF_8);
            assertTrue(!token.contains("<") && !token.contains(">"), "learned " + token);
        }
        assertEquals(List.of("hello", "world"), List.of(new String(t.token(t.encode("hello")[0]), StandardCharsets.UTF_8),
                new String(t.token(t.encode("world")[0]), StandardCharsets.UTF_8)));
    }

    @Test
    void mergesAllOccurrencesOfRepeatedSymbols() {
        // "aaaa" and " aaa": (a,a) counts 3 + 2 (overlaps count) and merges left to right: [aa, aa] and [' ', aa, a].
        // Then (aa,aa), (' ',aa) and (aa,a) all count 1; the smallest ids win: ' ' (32) + aa (256).
        Tokenizer t = new BpeTrainer().train(List.of("aaaa aaa"), 258, List.of());
        assertEquals("aa", new String(t.token(256), StandardCharsets.US_ASCII));
        assertEquals(" aa", new String(t.token(257), StandardCharsets.US_ASCII));
        assertArrayEquals(new int[] {256, 256}, t.encode("aaaa"));
        assertArrayEquals(new int[] {257, 'a'}, t.encode(" aaa"));
    }

    @Test
    void savesAndLoadsTheSameTokenizer(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("tokenizer.json");
        tok.save(f);
        Tokenizer back = Tokenizer.load(f);
        assertEquals(tok.hash(), back.hash());
        assertEquals(tok.specials(), back.specials());
        String s = "It's 床前明月光 <|pad|> 12345!!\n\n";
        assertArrayEquals(tok.encode(s), back.encode(s));
    }

    /** Text drawn from the classes the pre-tokenizer treats differently, including the awkward ones. */
    static String randomText(Random r, int n) {
        String[] pieces = {"a", "Z", "é", "ſ", "S", "T", "'", "'s", "'LL", "'Re", "1", "٣", "½", " ", "  ", "\t", "\n", "\r\n",
                "\u00A0", "\u3000", "\u2028", "!", "...", "\"", "-", "你", "好", "世界", "😀", "👍🏽", "\u0301", "Ⅻ", "\u000B",
                "\u0085", "\u200B", "x", "Hello", " world"};
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            if (r.nextInt(10) == 0) sb.appendCodePoint(randomCodePoint(r));
            else sb.append(pieces[r.nextInt(pieces.length)]);
        }
        return sb.toString();
    }

    static int randomCodePoint(Random r) {
        while (true) {
            int cp = r.nextInt(4) == 0 ? r.nextInt(0x20000) : r.nextInt(0x3000);
            int type = Character.getType(cp);
            if (type != Character.UNASSIGNED && type != Character.SURROGATE && type != Character.PRIVATE_USE) return cp;
        }
    }

    @Test
    void ordinaryEncodingNeverProducesSpecials() {
        String text = "a quoted <|endoftext|> and <|user|> stay text";
        int[] literal = tok.encodeOrdinary(text);
        for (int id : literal) assertTrue(id < 256 + tok.mergeCount(), "special id " + id + " in " + java.util.Arrays.toString(literal));
        assertEquals(text, tok.decode(literal));
        int[] withSpecials = tok.encode(text);
        assertTrue(java.util.Arrays.stream(withSpecials).anyMatch(id -> id == tok.eot()));
    }
}
