package dev.cramjet.text;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class CleanerTest {
    private static List<Document> docs(String... texts) {
        List<Document> out = new ArrayList<>();
        for (int i = 0; i < texts.length; i++) out.add(new Document(texts[i], "doc" + i));
        return out;
    }

    private static List<String> clean(Cleaner c, String... texts) {
        return c.clean(docs(texts)).stream().map(k -> k.document().text()).toList();
    }

    /** Options with every step off, so a test switches on just the one it checks. */
    private static CleaningOptions none() {
        return new CleaningOptions().normalization(CleaningOptions.Normalization.NONE).controls(false).html(false)
                .whitespace(false).maxCompression(0).exactDedup(false).nearDuplicate(0);
    }

    @Test
    void nfcComposesAccentsButKeepsFullWidthChinesePunctuation() {
        String chinese = "床前明月光，疑是地上霜；举头望明月！（李白）";
        Cleaner nfc = new Cleaner(none().normalization(CleaningOptions.Normalization.NFC));
        assertEquals(List.of("café", chinese), clean(nfc, "cafe\u0301", chinese));
        CleaningReport.StepCount s = nfc.report().step("unicode NFC");
        assertEquals(2, s.in());
        assertEquals(2, s.out());
        assertEquals(1, s.changed());

        Cleaner nfkc = new Cleaner(none().normalization(CleaningOptions.Normalization.NFKC));
        assertEquals(List.of("床前明月光,疑是地上霜;举头望明月!(李白)", "fi"), clean(nfkc, chinese, "\uFB01"),
                "NFKC folds full-width punctuation and ligatures");
        assertEquals(2, nfkc.report().step("unicode NFKC").changed());
    }

    @Test
    void controlCharactersHtmlAndWhitespace() {
        Cleaner c = new Cleaner(none().controls(true).html(true).whitespace(true));
        List<String> out = clean(c,
                "line one\r\nline\u0007 two\u0000\rthree",
                "<html><head><style>p {x}</style></head><body><p>Fish &amp; chips&nbsp;&#233;&#x41;</p><!-- c --><br>a &lt; b</body></html>",
                "  lots   of\t\tspace  \n\n\n\n next  para \n",
                "already clean");
        assertEquals(List.of("line one\nline two\nthree", "Fish & chips éA\n\na < b", "lots of space\n\nnext para", "already clean"), out);
        CleaningReport r = c.report();
        assertEquals(1, r.step("control chars").changed());
        assertEquals(1, r.step("html").changed());
        assertEquals(2, r.step("whitespace").changed());
        assertEquals(4, r.step("whitespace").out());
        assertEquals("if a < b and c > d", Html.strip("if a < b and c > d"), "text that only looks a bit like tags survives");
    }

    /** Before, every tag-shaped run went: "a<b && c>d" lost "b && c", "vector<int>" its type. */
    @Test
    void theHtmlStepLeavesCodeAndPlainTextAlone() {
        String code = "#include <stdio.h>\nif (a<b && c>d) { std::vector<int> v; x = y & z; }\nList<String> names;";
        String page = "<div class=\"post\">A &amp; B</div>";
        Cleaner c = new Cleaner(none().html(true));
        assertEquals(List.of(code, "\nA & B\n"), clean(c, code, page));
        assertEquals(1, c.report().step("html").changed());
        assertTrue(Html.looksLike("line one<br>line two"));
        assertTrue(Html.looksLike("caf&eacute; &#233;"), "a numeric entity is HTML");
        assertFalse(Html.looksLike("x < y and y > z, so a<b>c holds in C"));
    }

    @Test
    void lengthLimitsDropAndCount() {
        Cleaner c = new Cleaner(none().minChars(3).maxChars(5));
        assertEquals(List.of("abc", "诗词歌赋曲"), clean(c, "ab", "abc", "诗词歌赋曲", "abcdef", ""));
        CleaningReport.StepCount s = c.report().step("length");
        assertEquals(5, s.in());
        assertEquals(2, s.out());
        assertEquals(3, s.dropped());
        assertEquals(List.of("doc0", "doc3", "doc4"), s.droppedExamples(), "the report names what was dropped");
    }

    @Test
    void exactDuplicatesAreDroppedAcrossBatches() {
        Cleaner c = new Cleaner(none().exactDedup(true));
        assertEquals(List.of("a", "b"), clean(c, "a", "b", "a"));
        assertEquals(List.of("c"), clean(c, "b", "c"));
        assertEquals(5, c.report().step("exact duplicates").in());
        assertEquals(3, c.report().step("exact duplicates").out());
    }

    @Test
    void nearDuplicateCaughtDifferentDocumentKept() {
        Random rnd = new Random(1);
        String[] words = "the of and a to in is you that it he was for on are as with his they at be this have from".split(" ");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 300; i++) sb.append(words[rnd.nextInt(words.length)]).append(i % 13 == 0 ? ". " : " ");
        String original = sb.toString();
        String nearCopy = original.replaceFirst("the", "THE").replaceFirst(" of ", " off ") + " Signed, the editor.";
        sb.setLength(0);
        for (int i = 0; i < 300; i++) sb.append(words[rnd.nextInt(words.length)]).append(' ');
        String different = sb.toString();
        Cleaner c = new Cleaner(none().nearDuplicate(0.8));
        List<String> kept = clean(c, original, nearCopy, different);
        assertEquals(List.of(original, different), kept);
        assertEquals(1, c.report().step("near duplicates").dropped());
        assertEquals(List.of("doc1"), c.report().step("near duplicates").droppedExamples());
    }

    @Test
    void nearDuplicatesInChinese() {
        String poem = "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。" + "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。";
        String variant = poem.replace("花落知多少", "花落知几多");
        String other = "床前明月光，疑是地上霜。举头望明月，低头思故乡。千山鸟飞绝，万径人踪灭。孤舟蓑笠翁，独钓寒江雪。";
        Cleaner c = new Cleaner(none().nearDuplicate(0.6));
        assertEquals(List.of(poem, other), clean(c, poem, variant, other));
    }

    @Test
    void compressionFilterDropsBoilerplate() {
        String boilerplate = "Click here to subscribe! Terms of service apply. ".repeat(40);
        Random rnd = new Random(2);
        StringBuilder prose = new StringBuilder();
        String[] words = "river stone quiet amber lantern falcon meadow copper whisper orchard thunder velvet harbor".split(" ");
        while (prose.length() < 2000) prose.append(words[rnd.nextInt(words.length)]).append(rnd.nextInt(1000)).append(' ');
        assertTrue(Cleaner.compressionRatio(boilerplate, 512) > 10);
        assertTrue(Cleaner.compressionRatio(prose.toString(), 512) < 4);
        assertEquals(1.0, Cleaner.compressionRatio("short", 512));
        Cleaner c = new Cleaner(none().maxCompression(6));
        assertEquals(List.of(prose.toString(), "short"), clean(c, boilerplate, prose.toString(), "short"));
        assertEquals(1, c.report().step("compression ratio").dropped());
    }

    @Test
    void lowerCaseAndStopWordsWarn() {
        Cleaner c = new Cleaner(none().lowercase(true).stopWords(true));
        assertEquals(List.of("quick fox jumps\nlazy dog."), clean(c, "The quick fox jumps over the\nlazy dog."));
        assertEquals(2, c.report().warnings().size());
        assertTrue(c.report().warnings().get(0).contains("lower-casing"));
        assertTrue(new Cleaner(new CleaningOptions()).report().warnings().isEmpty());
    }

    @Test
    void defaultsReportEveryStepAndFingerprintTheCleanText() {
        Cleaner c = new Cleaner(new CleaningOptions());
        List<Cleaner.Kept> kept = c.clean(docs("  Hello   world ", "Hello world", "other"));
        assertEquals(2, kept.size());
        assertEquals(Cleaner.fingerprint("Hello world"), kept.getFirst().fingerprint());
        assertEquals("doc0", kept.getFirst().document().source());
        List<String> steps = c.report().steps().stream().map(CleaningReport.StepCount::step).toList();
        assertEquals(List.of("control chars", "html", "unicode NFC", "whitespace", "length", "compression ratio",
                "exact duplicates", "near duplicates"), steps);
        assertEquals(1, c.report().step("exact duplicates").dropped());
        assertEquals(8, ((List<?>) c.report().toJson().get("steps")).size());
    }
}
