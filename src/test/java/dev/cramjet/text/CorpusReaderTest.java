package dev.cramjet.text;

import dev.cramjet.CramjetException;
import dev.cramjet.io.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.*;

class CorpusReaderTest {
    @TempDir Path dir;

    private Path write(String name, String text) throws IOException { return write(name, text.getBytes(StandardCharsets.UTF_8)); }

    private Path write(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.createDirectories(p.getParent());
        if (name.endsWith(".gz")) {
            try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(p))) { out.write(bytes); }
        } else {
            Files.write(p, bytes);
        }
        return p;
    }

    private static List<Document> read(Format f, String field, BadInput bad, Path... files) {
        List<Document> docs = new ArrayList<>();
        new CorpusReader(f, field, bad).read(List.of(files), docs::add);
        return docs;
    }

    private static List<Document> read(Format f, String field, Path... files) { return read(f, field, new BadInput(false), files); }

    private static List<String> texts(List<Document> docs) { return docs.stream().map(Document::text).toList(); }

    @Test
    void plainTextFilesDirectoriesAndGlobs() throws IOException {
        write("corpus/a.txt", "\uFEFFfirst file\n");
        write("corpus/sub/b.txt", "second");
        write("corpus/sub/c.md", "third");
        write("corpus/.hidden/d.txt", "hidden");
        List<Path> all = Inputs.expand(List.of(dir.resolve("corpus").toString()), false).files();
        assertEquals(List.of(dir.resolve("corpus/a.txt"), dir.resolve("corpus/sub/b.txt"), dir.resolve("corpus/sub/c.md")), all);
        List<Document> docs = read(null, null, all.toArray(Path[]::new));
        assertEquals(List.of("first file\n", "second", "third"), texts(docs), "BOM dropped, one document per file");
        assertEquals(dir.resolve("corpus/a.txt").toString(), docs.getFirst().source());

        List<Path> globbed = Inputs.expand(List.of(dir + "/corpus/**/*.txt"), false).files();
        assertEquals(List.of(dir.resolve("corpus/sub/b.txt")), globbed, "** needs at least one directory level");
        assertEquals(2, Inputs.expand(List.of(dir + "/corpus/{a,sub/b}.txt"), false).files().size());

        CramjetException e = assertThrows(CramjetException.class, () -> Inputs.expand(List.of(dir + "/corpus/*.json"), false));
        assertTrue(e.getMessage().endsWith("matches no files"), e.getMessage());
        e = assertThrows(CramjetException.class, () -> Inputs.expand(List.of(dir + "/missing.txt"), false));
        assertEquals(dir + "/missing.txt: no such file or directory", e.getMessage());
    }

    /** A book of short and long paragraphs, as a novel has them. */
    private static String book(int paragraphs) {
        java.util.Random r = new java.util.Random(7);
        String[] words = "whale ship sea captain harpoon deck storm sail white voyage crew".split(" ");
        StringBuilder sb = new StringBuilder("CHAPTER 1\n\n");
        for (int p = 0; p < paragraphs; p++) {
            int n = r.nextInt(10) == 0 ? 3 : 20 + r.nextInt(150);
            for (int w = 0; w < n; w++) sb.append(w == 0 ? "" : w % 12 == 0 ? "\n" : " ").append(words[r.nextInt(words.length)]);
            sb.append(".\n\n");
        }
        return sb.toString();
    }

    @Test
    void aLongPlainTextIsCutAtParagraphBreaksIntoDocumentsOfAtMost2000Characters() throws IOException {
        String text = book(400);
        Path p = write("book.txt", text);
        List<Document> docs = read(null, null, p);
        assertTrue(docs.size() > text.length() / 2000, docs.size() + " documents");
        String[] lines = text.split("\n", -1);
        for (Document d : docs) {
            assertTrue(d.text().length() <= 2000, d.source());
            int line = Integer.parseInt(d.source().substring(d.source().lastIndexOf(':') + 1));
            assertEquals(lines[line - 1], d.text().lines().findFirst().orElseThrow(), "the source names the first line");
            assertTrue(text.startsWith(d.text(), text.indexOf(d.text())), "a piece is a slice of the text");
            assertTrue(d.text().endsWith("."), "cut at a paragraph break: " + d.source());
        }
        assertEquals(text, String.join("\n\n", texts(docs)) + "\n\n", "the pieces and the blank lines between them are the whole text");
        assertEquals(p + ":1", docs.getFirst().source());

        // No blank lines at all (a Chinese novel: one paragraph per line): cut at line ends.
        String lined = "　　天下大势，分久必合，合久必分。".repeat(20) + "\n";
        List<Document> chinese = read(null, null, write("三国.txt", lined.repeat(30)));
        assertTrue(chinese.size() > 1);
        for (Document d : chinese) assertTrue(d.text().endsWith("合久必分。") && d.text().length() <= 2000, d.source());
        assertEquals(lined.repeat(30), String.join("\n", texts(chinese)) + "\n");
        // One line without spaces: after a sentence end; without one, never inside a surrogate pair.
        List<Document> oneLine = read(null, null, write("one-line.txt", "天下大势，分久必合。".repeat(500)));
        for (Document d : oneLine) assertTrue(d.text().endsWith("。"), d.text());
        List<Document> emoji = read(null, null, write("emoji.txt", "\uD83D\uDE00".repeat(3000)));
        assertEquals("\uD83D\uDE00".repeat(3000), String.join("", texts(emoji)));
        for (Document d : emoji) assertFalse(Character.isHighSurrogate(d.text().charAt(d.text().length() - 1)));
        // An HTML file stays whole: its tags and script blocks must not be cut apart.
        String html = "<html><body>" + "<p>paragraph</p>\n\n".repeat(300) + "</body></html>";
        assertEquals(List.of(html), texts(read(null, null, write("page.html", html))));
    }

    @Test
    void aDirectoryWalkReadsTextFormatsOnlyUnlessTheFormatIsGiven() throws IOException {
        write("mixed/notes.txt", "text");
        write("mixed/ca01", "Brown files have no extension");
        write("mixed/figure.png", new byte[] {(byte) 0x89, 'P', 'N', 'G', 0});
        Inputs.Found found = Inputs.expand(List.of(dir.resolve("mixed").toString()), false);
        assertEquals(List.of(dir.resolve("mixed/ca01"), dir.resolve("mixed/notes.txt")), found.files());
        assertEquals(List.of(dir.resolve("mixed/figure.png")), found.skipped());
        assertEquals(3, Inputs.expand(List.of(dir.resolve("mixed").toString()), true).files().size());
        write("pictures/a.png", new byte[] {0});
        CramjetException e = assertThrows(CramjetException.class, () -> Inputs.expand(List.of(dir.resolve("pictures").toString()), false));
        assertEquals(dir.resolve("pictures") + ": matches no files of a text format (found " + dir.resolve("pictures/a.png")
                + "; give --format to read them)", e.getMessage());
    }

    @Test
    void gzipLinesWithSourcesAndColumns() throws IOException {
        Path p = write("lines.txt.gz", "one\r\n\n  \ntwo\tsecond column\nthree");
        List<Document> docs = read(Format.LINES, null, p);
        assertEquals(List.of("one", "two\tsecond column", "three"), texts(docs));
        assertEquals(p + ":4", docs.get(1).source());
        Path cols = write("cols.tsv", "a\tb\nc");
        BadInput skip = new BadInput(true);
        assertEquals(List.of("b"), texts(read(Format.LINES, "2", skip, cols)));
        assertEquals(1, skip.skipped());
        CramjetException e = assertThrows(CramjetException.class, () -> read(Format.LINES, "2", dir.resolve("cols.tsv")));
        assertTrue(e.getMessage().startsWith(dir.resolve("cols.tsv") + ":2: has 1 tab-separated column(s), expected at least 2"), e.getMessage());
        assertEquals(Format.JSONL, Format.detect(Path.of("x.jsonl.gz")));
    }

    @Test
    void longLinesGrowTheBuffer() throws IOException {
        String longLine = "x".repeat(200_000);
        Path p = write("long.txt", longLine + "\nshort\n");
        assertEquals(List.of(longLine, "short"), texts(read(Format.LINES, null, p)));
    }

    @Test
    void jsonlWithANestedField() throws IOException {
        Path p = write("docs.jsonl", "{\"meta\": {\"body\": \"hello\"}}\n{\"meta\": {\"body\": [\"a\", \"b\"]}}\n");
        List<Document> docs = read(null, "meta.body", p);
        assertEquals(List.of("hello", "a\nb"), texts(docs));
        assertEquals(p + ":2", docs.get(1).source());
        assertEquals(List.of("x"), texts(read(null, null, write("t.jsonl", "{\"text\": \"x\"}"))), "default field is text");
    }

    @Test
    void jsonArraysWithAlternativesAndJoinedParts() throws IOException {
        Path p = write("poems.json", """
                [{"title": "静夜思", "author": "李白", "paragraphs": ["床前明月光，疑是地上霜。", "举头望明月，低头思故乡。"]},
                 {"rhythmic": "清平乐", "paragraphs": ["夢魂尋遍。"]},
                 {"title": "", "paragraphs": ["无题"]}]""");
        List<Document> docs = read(Format.JSON, "title|rhythmic+paragraphs", p);
        assertEquals(List.of("静夜思\n床前明月光，疑是地上霜。\n举头望明月，低头思故乡。", "清平乐\n夢魂尋遍。", "无题"), texts(docs));
        assertEquals(p + "[1]", docs.get(1).source());
        assertEquals(List.of("b"), texts(read(Format.JSON, "items.1", write("one.json", "{\"items\": [\"a\", \"b\"]}"))),
                "a top-level object is one record; numeric path parts index arrays");
    }

    @Test
    void emailHeadersAreSeparatedFromTheBody() throws IOException {
        String plain = "From someone@example.com  Tue Aug  6 11:52:20 2002\n"
                + "Return-Path: <a@example.com>\nSubject: Re: meeting\n  on Friday\nContent-Type: text/plain\n\n"
                + "See you there.\nReceived: not a header here\n";
        Path p = write("mail/0001.txt", plain);
        Email m = Email.parse(Files.readAllBytes(p));
        assertEquals("Re: meeting on Friday", m.headers().get("subject"));
        assertEquals("<a@example.com>", m.headers().get("return-path"));
        assertEquals("Re: meeting on Friday\n\nSee you there.\nReceived: not a header here\n", texts(read(Format.EMAIL, null, p)).getFirst());

        String multipart = "Subject: offer\nContent-Type: multipart/alternative; boundary=\"XX\"\n\npreamble\n--XX\n"
                + "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n"
                + "Caf=E9 soft=\nbreak\n--XX\nContent-Type: text/html\n\n<p>html</p>\n--XX--\n";
        byte[] latin1 = multipart.getBytes(StandardCharsets.ISO_8859_1);
        assertEquals("offer\n\nCafé softbreak\n\n\n<p>html</p>\n", Email.parse(latin1).text(),
                "the plain alternative, then the HTML one");
        String htmlOnly = "Subject: s\nContent-Type: multipart/alternative; boundary=YY\n\n--YY\nContent-Type: text/html\n\n"
                + "<b>x</b>\n--YY\nContent-Type: text/html\n\n<i>second</i>\n--YY--\n";
        assertEquals("s\n\n<b>x</b>\n", Email.parse(htmlOnly.getBytes(StandardCharsets.ISO_8859_1)).text(),
                "without a plain part, the first HTML part alone");
        assertEquals("caf\u00e9", Email.parse("\n\ncaf\u00e9".getBytes(StandardCharsets.ISO_8859_1)).body().strip(),
                "undeclared 8-bit mail falls back to ISO-8859-1");
        Path json = write("mail/0002.json", Json.write(Map.of("id", "0002", "text", "Subject: hi\nX-Spam: no\n\nBody text\n")));
        assertEquals(List.of("hi\n\nBody text\n"), texts(read(Format.EMAIL, null, json)), "a message in a JSON field");
        String mailer = "Subject: News\nTo: qqqq@example.com\nX-Mailer: Accucast (http://www.accucast.com)\n"
                + "User-Agent: Mutt/1.4i\n\nIssue 49\n";
        assertEquals("News\nX-Mailer: Accucast (http://www.accucast.com)\n\nIssue 49\n",
                Email.parse(mailer.getBytes(StandardCharsets.ISO_8859_1)).text(),
                "the mailer follows the subject; X-Mailer wins over User-Agent; addresses are left out");
        assertEquals("X-Mailer: Mutt/1.4i\n\nhi\n", Email.parse("User-Agent: Mutt/1.4i\n\nhi\n".getBytes(StandardCharsets.ISO_8859_1)).text(),
                "User-Agent when there is no X-Mailer, and no subject line when there is no subject");
        assertEquals("Jeff Bezos amazon.com", Email.sender("\"Jeff Bezos\" <jeffb@amazon.com>"), "a name and a domain");
        assertEquals("journal wrox.com", Email.sender("journal@wrox.com (journal)"), "an old-style comment is the name");
        assertEquals("Justin Mason", Email.sender("Justin Mason <yyyy@spamassassin.taint.org>"),
                "the SpamAssassin collector's rewritten addresses lose their domain");
        assertEquals("Sales Team", Email.sender("Sales Team"), "no address");
        assertEquals("Re: x\nFrom: Jeff Bezos amazon.com\n\nbody\n",
                Email.parse("From: Jeff Bezos <jeffb@amazon.com>\nSubject: Re: x\n\nbody\n".getBytes(StandardCharsets.ISO_8859_1)).text(),
                "the sender follows the subject");
        assertEquals("Café offer 100% free", Email.decodeWords("=?utf-8?B?Q2Fmw6k=?= =?iso-8859-1?Q?_offer_100=25?= free"),
                "white space between encoded words is dropped (RFC 2047)");
    }

    @Test
    void brownTagsAreStripped() throws IOException {
        Path p = write("ca01", "\n\n\tThe/at Fulton/np-tl County/nn-tl said/vbd ``/`` no/at evidence/nn ''/'' ,/, he/pps said/vbd ./.\n\n\n\tIt/pps ended/vbd ./.\n");
        assertEquals("The Fulton County said \"no evidence\", he said.\n\nIt ended.", texts(read(Format.BROWN, null, p)).getFirst());
    }

    @Test
    void stopsWhenTheSinkSaysSo() throws IOException {
        Path p = write("many.txt", "a\nb\nc\nd\n");
        List<Document> docs = new ArrayList<>();
        CorpusReader r = new CorpusReader(Format.LINES, null, new BadInput(false));
        assertFalse(r.read(List.of(p, p), d -> docs.add(d) && docs.size() < 2));
        assertEquals(2, docs.size());
    }

    @Test
    void badInputNamesFileLineAndField() throws IOException {
        byte[] badUtf8 = "ok line\nbad \u00e9 here\n".getBytes(StandardCharsets.ISO_8859_1);
        Path lines = write("bad.txt", badUtf8);
        assertMessage(Format.LINES, null, lines, lines + ":2: invalid UTF-8 at column 5 (byte 0xE9); expected UTF-8 text");
        assertMessage(Format.TXT, null, lines, lines + ":2: invalid UTF-8 at column 5 (byte 0xE9)");

        Path binary = write("image.txt", new byte[]{'G', 'I', 'F', 0, 1, 2});
        assertMessage(null, null, binary, binary + ":1: NUL byte at column 4 (a binary file?); expected UTF-8 text");

        Path jsonl = write("bad.jsonl", "{\"text\": \"fine\"}\n{\"text\": \"oops}\n");
        assertMessage(null, null, jsonl, jsonl + ":2: invalid JSON at column 16: unterminated string");

        Path missing = write("poems.json", "[{\"title\": \"t\", \"paragraphs\": [\"p\"]}, {\"title\": \"u\"}]");
        assertMessage(null, "title+paragraphs", missing,
                missing + "[1]: missing field 'paragraphs' (expected a string or an array of strings; the record has keys [title])");
        Path typed = write("typed.jsonl", "{\"text\": {\"a\": 1}}\n");
        assertMessage(null, null, typed, typed + ":1: field 'text' is an object, expected a string or an array of strings");
        Path number = write("number.jsonl", "{\"text\": 123}\n");
        assertMessage(null, null, number, number + ":1: field 'text' is a number, expected a string or an array of strings");
        Path numbers = write("numbers.jsonl", "{\"text\": [\"a\", 2]}\n");
        assertMessage(null, null, numbers, numbers + ":1: field 'text' is an array holding a number, expected a string or an array of strings");

        Path notGzip = write("broken.txt.gz", new byte[0]);
        Files.write(notGzip, "plain".getBytes(StandardCharsets.UTF_8));
        assertMessage(null, null, notGzip, notGzip + ": cannot read file: not valid gzip data");

        Path json = write("broken.json", "[1, 2");
        assertMessage(null, null, json, json + ": invalid JSON at line 1, column 6");
    }

    private static void assertMessage(Format f, String field, Path p, String expectedPrefix) {
        CramjetException e = assertThrows(CramjetException.class, () -> read(f, field, p));
        assertTrue(e.getMessage().startsWith(expectedPrefix), "expected '" + expectedPrefix + "…', got: " + e.getMessage());
        assertTrue(e.getMessage().endsWith("(pass --skip-bad to skip bad documents instead)"), e.getMessage());
    }

    @Test
    void skipBadCountsAndKeepsGoing() throws IOException {
        Path p = write("mixed.jsonl", "{\"text\": \"a\"}\nnot json\n{\"body\": \"no text\"}\n{\"text\": \"b\"}\n");
        BadInput bad = new BadInput(true);
        assertEquals(List.of("a", "b"), texts(read(Format.JSONL, null, bad, p)));
        assertEquals(2, bad.skipped());
        assertTrue(bad.examples().get(0).startsWith(p + ":2: invalid JSON"), bad.examples().get(0));
        assertTrue(bad.examples().get(1).startsWith(p + ":3: missing field 'text'"), bad.examples().get(1));
    }
}
