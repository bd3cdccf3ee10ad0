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
        List<Path> all = Inputs.expand(List.of(dir.resolve("corpus").toString()));
        assertEquals(List.of(dir.resolve("corpus/a.txt"), dir.resolve("corpus/sub/b.txt"), dir.resolve("corpus/sub/c.md")), all);
        List<Document> docs = read(null, null, all.toArray(Path[]::new));
        assertEquals(List.of("first file\n", "second", "third"), texts(docs), "BOM dropped, one document per file");
        assertEquals(dir.resolve("corpus/a.txt").toString(), docs.getFirst().source());

        List<Path> globbed = Inputs.expand(List.of(dir + "/corpus/**/*.txt"));
        assertEquals(List.of(dir.resolve("corpus/sub/b.txt")), globbed, "** needs at least one directory level");
        assertEquals(2, Inputs.expand(List.of(dir + "/corpus/{a,sub/b}.txt")).size());

        CramjetException e = assertThrows(CramjetException.class, () -> Inputs.expand(List.of(dir + "/corpus/*.json")));
        assertTrue(e.getMessage().endsWith("matches no files"), e.getMessage());
        e = assertThrows(CramjetException.class, () -> Inputs.expand(List.of(dir + "/missing.txt")));
        assertEquals(dir + "/missing.txt: no such file or directory", e.getMessage());
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
        assertEquals("offer\n\nCafé softbreak\n", Email.parse(latin1).text());
        assertEquals("caf\u00e9", Email.parse("\n\ncaf\u00e9".getBytes(StandardCharsets.ISO_8859_1)).body().strip(),
                "undeclared 8-bit mail falls back to ISO-8859-1");
        Path json = write("mail/0002.json", Json.write(Map.of("id", "0002", "text", "Subject: hi\nX-Spam: no\n\nBody text\n")));
        assertEquals(List.of("hi\n\nBody text\n"), texts(read(Format.EMAIL, null, json)), "a message in a JSON field");
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
        assertMessage(null, null, binary, binary + ": looks like a binary file (NUL byte at offset 3); expected text");

        Path jsonl = write("bad.jsonl", "{\"text\": \"fine\"}\n{\"text\": \"oops}\n");
        assertMessage(null, null, jsonl, jsonl + ":2: invalid JSON at column 16: unterminated string");

        Path missing = write("poems.json", "[{\"title\": \"t\", \"paragraphs\": [\"p\"]}, {\"title\": \"u\"}]");
        assertMessage(null, "title+paragraphs", missing,
                missing + "[1]: missing field 'paragraphs' (expected a string or an array of strings; the record has keys [title])");
        Path typed = write("typed.jsonl", "{\"text\": {\"a\": 1}}\n");
        assertMessage(null, null, typed, typed + ":1: field 'text' is an object, expected a string or an array of strings");

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
