package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.text.BadInput;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class LabelledDataTest {
    @TempDir
    Path tmp;

    private List<Example> read(String text, String label, boolean skip, Path... files) throws Exception {
        return new LabelledReader(text, label, new BadInput(skip)).read(java.util.Arrays.stream(files).map(Path::toString).toList());
    }

    @Test
    void csvFollowsRfc4180() {
        String csv = "text,label\r\n\"a, quoted\nfield with \"\"quotes\"\"\",pos\nplain,neg\n\n\"\",neg\n";
        var rows = Csv.parse(csv, ',', "x.csv");
        assertEquals(4, rows.size());
        assertEquals(List.of("a, quoted\nfield with \"quotes\"", "pos"), rows.get(1).fields());
        assertEquals(2, rows.get(1).line());
        assertEquals(4, rows.get(2).line(), "the quoted line break counts");
        assertEquals(List.of("", "neg"), rows.get(3).fields());
        var e = assertThrows(CramjetException.class, () -> Csv.parse("a,\"open\n", ',', "y.csv"));
        assertTrue(e.getMessage().startsWith("y.csv:1: a quoted field is never closed"), e.getMessage());
        e = assertThrows(CramjetException.class, () -> Csv.parse("a,\"x\"y\n", ',', "z.csv"));
        assertTrue(e.getMessage().startsWith("z.csv:1: text after a closing quote"), e.getMessage());
    }

    @Test
    void readsJsonlJsonCsvTsvAndLabelDirectories() throws Exception {
        Path jsonl = Files.writeString(tmp.resolve("a.jsonl"), "{\"review\":{\"body\":\"great\"},\"stars\":5}\n\n{\"review\":{\"body\":\"bad\"},\"stars\":1}\n");
        var ex = read("review.body", "stars", false, jsonl);
        assertEquals(List.of(new Example("great", "5", jsonl + ":1"), new Example("bad", "1", jsonl + ":3")), ex);

        Path flags = Files.writeString(tmp.resolve("f.jsonl"), "{\"t\":\"win\",\"spam\":true}\n{\"t\":\"hi\",\"spam\":2.5}\n");
        var e = assertThrows(CramjetException.class, () -> read("t", "spam", false, flags));
        assertEquals(flags + ":2: field 'spam' is a number, expected a label (a string, an integer or true/false)"
                + " (pass --skip-bad to skip bad documents instead)", e.getMessage());
        assertEquals("true", read("t", "spam", true, flags).getFirst().label());

        Path json = Files.writeString(tmp.resolve("b.json"), "[{\"t\":\"x\",\"l\":\"p\"},{\"t\":[\"two\",\"lines\"],\"l\":\"q\"}]");
        assertEquals("two\nlines", read("t", "l", false, json).get(1).text());

        Path tsv = Files.writeString(tmp.resolve("c.tsv"), "id\tsentence\tlabel\n1\thello\tpos\n");
        assertEquals(List.of(new Example("hello", "pos", tsv + ":2")), read("sentence", "label", false, tsv));
        assertEquals("hello", read("2", "3", false, tsv).getFirst().text(), "columns by 1-based number");

        Path dirs = tmp.resolve("mail");
        Files.createDirectories(dirs.resolve("spam"));
        Files.createDirectories(dirs.resolve("ham/sub"));
        Files.writeString(dirs.resolve("spam/1.txt"), "buy now");
        Files.writeString(dirs.resolve("ham/sub/2.eml"), "Subject: lunch\n\nat noon?");
        var d = read("text", "label", false, dirs);
        assertEquals(2, d.size());
        assertEquals("ham", d.get(0).label());
        assertEquals("lunch\n\nat noon?", d.get(0).text(), "mail is parsed: subject and body");
        assertEquals(new Example("buy now", "spam", dirs.resolve("spam/1.txt").toString()), d.get(1));
    }

    @Test
    void badRowsNameFileAndLineOrAreCountedWithSkipBad() throws Exception {
        Path f = Files.writeString(tmp.resolve("bad.jsonl"), "{\"text\":\"ok\",\"label\":\"a\"}\n{\"text\":\"no label\"}\n{broken\n{\"text\":\"x\",\"label\":\" \"}\n");
        var e = assertThrows(CramjetException.class, () -> read("text", "label", false, f));
        assertTrue(e.getMessage().startsWith(f + ":2: missing field 'label'"), e.getMessage());
        BadInput bad = new BadInput(true);
        var ex = new LabelledReader("text", "label", bad).read(List.of(f.toString()));
        assertEquals(1, ex.size());
        assertEquals(3, bad.skipped());
        assertTrue(bad.examples().get(2).contains(":4: the label is empty"), bad.examples().toString());

        Path csv = Files.writeString(tmp.resolve("short.csv"), "text,label\nonly one field\n");
        e = assertThrows(CramjetException.class, () -> read("text", "label", false, csv));
        assertTrue(e.getMessage().startsWith(csv + ":2: has 1 field(s), expected at least 2"), e.getMessage());
        e = assertThrows(CramjetException.class, () -> read("body", "label", false, csv));
        assertTrue(e.getMessage().contains("no column 'body' in the header [text, label]"), e.getMessage());
    }

    private static List<Example> corpus() {
        List<Example> ex = new ArrayList<>();
        for (int i = 0; i < 300; i++) ex.add(new Example("message number " + i + " about topic " + (i % 7) + " with unique words w" + i * 31 + " z" + i,
                i % 3 == 0 ? "spam" : "ham", "m" + i));
        ex.add(new Example("message number 5 about topic 5 with unique words w155 z5", "spam", "dup-of-5"));  // an exact copy, other label
        return ex;
    }

    @Test
    void splitIsStratifiedDeterministicAndKeepsDuplicatesOnOneSide() throws Exception {
        var s = new TaskData.Settings(0.1, 0.2, 7, 0.8);
        TaskData a = TaskData.split(corpus(), s, "test", new BadInput(false));
        TaskData b = TaskData.split(corpus().reversed(), s, "test", new BadInput(false));
        assertEquals(List.of("ham", "spam"), a.labels);
        assertEquals(1L, a.summary.get("exact_duplicates_dropped"));
        // 200 ham and 100 spam: 20%/10% of each label.
        assertEquals(40, a.test().stream().filter(e -> e.label().equals("ham")).count());
        assertEquals(20, a.test().stream().filter(e -> e.label().equals("spam")).count());
        assertEquals(10, a.val().stream().filter(e -> e.label().equals("spam")).count());
        Set<String> testA = new HashSet<>(), testB = new HashSet<>();
        a.test().forEach(e -> testA.add(e.text()));
        b.test().forEach(e -> testB.add(e.text()));
        assertEquals(testA, testB, "the split depends on content, not on order");
        TaskData other = TaskData.split(corpus(), new TaskData.Settings(0.1, 0.2, 8, 0.8), "test", new BadInput(false));
        assertNotEquals(testA, new HashSet<>(other.test().stream().map(Example::text).toList()), "another seed, another split");
        Set<String> all = new HashSet<>();
        for (var split : a.splits.values()) for (Example e : split) assertTrue(all.add(e.text()), "no text twice: " + e.text());
    }

    @Test
    void groupsStayTogetherAndTheTaskRoundTrips() throws Exception {
        List<Example> ex = new ArrayList<>();
        for (int g = 0; g < 40; g++) {
            for (int p = 0; p < 5; p++) ex.add(new Example("text " + g + " passage " + p + " " + "abcdefghij".repeat(p + 1) + g, g % 2 == 0 ? "a" : "b", g + "#" + p, "g" + g));
        }
        TaskData t = TaskData.split(ex, new TaskData.Settings(0.1, 0.1, 1, 0), "groups", new BadInput(false));
        Map<String, String> sideOf = new java.util.HashMap<>();
        t.splits.forEach((name, list) -> list.forEach(e -> {
            String g = e.source().substring(0, e.source().indexOf('#'));
            assertEquals(sideOf.computeIfAbsent(g, k -> name), name, "group " + g + " split across sides");
        }));
        assertEquals(20, t.test().size(), "10% of each label's 100 passages: two groups of five");
        t.write(tmp.resolve("task"));
        TaskData back = TaskData.read(tmp.resolve("task"));
        assertEquals(t.labels, back.labels);
        assertEquals(t.test().stream().map(Example::text).toList(), back.test().stream().map(Example::text).toList());
        assertTrue(TaskData.isTaskDir(tmp.resolve("task")));
    }

    @Test
    void brownPassagesJoinParagraphsToAboutAHundredAndFiftyWords() {
        String para = "word ".repeat(60).strip();
        List<String> p = Tasks.passages(String.join("\n\n", para, para, para, para, para, "short tail"));
        assertEquals(2, p.size(), "3 paragraphs (180 words) make a passage, the remaining 122 words another");
        assertTrue(p.getLast().endsWith("short tail"));
        p = Tasks.passages(String.join("\n\n", para, para, para, "short tail"));
        assertEquals(1, p.size(), "a short remainder joins the last passage");
        assertTrue(p.getFirst().endsWith("short tail"));
    }

    @Test
    void poetryCollectionsComeFromTheFileNames() {
        assertEquals("song_ci", Tasks.collection("ci.song.2000.json[17]"));
        assertEquals("song_shi", Tasks.collection("poet.song.1000.json[0]"));
        assertEquals("tang_shi", Tasks.collection("poet.tang.0.json[3]"));
        assertThrows(CramjetException.class, () -> Tasks.collection("authors.song.json"));
    }

    @Test
    void capPerLabelKeepsTheLowestHashesWhateverTheOrder() {
        List<Example> ex = new ArrayList<>();
        for (int i = 0; i < 50; i++) ex.add(new Example("poem " + i, i < 30 ? "tang" : "song", "p" + i));
        var a = Tasks.capPerLabel(ex, 10);
        var b = Tasks.capPerLabel(ex.reversed(), 10);
        assertEquals(20, a.size());
        assertEquals(new HashSet<>(a), new HashSet<>(b));
    }
}
