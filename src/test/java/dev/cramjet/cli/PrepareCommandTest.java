package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.data.BatchSampler;
import dev.cramjet.data.Prepare;
import dev.cramjet.data.ShardReader;
import dev.cramjet.data.TokenShards;
import dev.cramjet.io.Json;
import dev.cramjet.text.Corpora;
import dev.cramjet.tokenizer.Tokenizer;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

class PrepareCommandTest {
    @TempDir Path dir;

    /** Drops what a run shows; the tests read its summary. */
    static final Prepare.Listener QUIET = new Prepare.Listener() {
        @Override public void stage(Prepare.Stage s) {}

        @Override public void message(String line) {}
    };

    private static Map<String, Object> prepare(String... argv) throws IOException {
        return Prepare.run(PrepareCommand.plan(new Args(argv)), QUIET);
    }

    /** Runs prepare and returns the messages it showed (the summary is on disk). */
    private static List<String> messages(String... argv) throws IOException {
        List<String> said = new java.util.ArrayList<>();
        Prepare.run(PrepareCommand.plan(new Args(argv)), new Prepare.Listener() {
            @Override public void stage(Prepare.Stage s) {}

            @Override public void message(String line) { said.add(line); }
        });
        return said;
    }

    /** A novel-like text: paragraphs of varied length, separated by blank lines. */
    static String book(int paragraphs, long seed) {
        Random rnd = new Random(seed);
        String[] words = "call me ishmael some years ago never mind how long precisely having little or no money in my purse"
                .split(" ");
        StringBuilder sb = new StringBuilder();
        for (int p = 0; p < paragraphs; p++) {
            int n = 10 + rnd.nextInt(120);
            for (int w = 0; w < n; w++) sb.append(w == 0 ? "" : " ").append(words[rnd.nextInt(words.length)]);
            sb.append(".\n\n");
        }
        return sb.toString();
    }

    /** A JSONL corpus of varied sentences, plus one exact duplicate and one HTML document. */
    private Path corpus(int docs) throws IOException {
        Random rnd = new Random(3);
        String[] words = "the river runs past a stone mill where amber lanterns glow and quiet falcons watch over meadows of copper grass"
                .split(" ");
        StringBuilder sb = new StringBuilder();
        for (int d = 0; d < docs; d++) {
            StringBuilder text = new StringBuilder("Story " + d + ":");
            for (int w = 0; w < 40 + rnd.nextInt(40); w++) text.append(' ').append(words[rnd.nextInt(words.length)]);
            sb.append(Json.write(Map.of("id", d, "body", text.toString()))).append('\n');
            if (d == 5) sb.append(Json.write(Map.of("id", d, "body", text.toString()))).append('\n');
        }
        sb.append(Json.write(Map.of("body", "<p>Fish &amp; chips</p>"))).append('\n');
        Path p = dir.resolve("in/corpus.jsonl");
        Files.createDirectories(p.getParent());
        Files.writeString(p, sb.toString());
        return p;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object o) { return (Map<String, Object>) o; }

    @Test
    void prepareEndToEndOnAGeneratedCorpus() throws IOException {
        Path in = corpus(400);
        Path out = dir.resolve("out");
        Map<String, Object> j = prepare("--input", in.toString(), "--field", "body", "--out", out.toString(), "--vocab", "300",
                "--val-fraction", "0.1", "--shard-tokens", "4096");
        assertEquals(402L, ((Number) map(j.get("read")).get("documents")).longValue());
        Map<String, Object> train = map(j.get("train")), val = map(j.get("val"));
        long docs = (Long) train.get("documents") + (Long) val.get("documents");
        assertEquals(401, docs, "the exact duplicate is gone, the rest (HTML included) stays");
        assertTrue((Long) val.get("documents") > 15 && (Long) val.get("documents") < 70, "about 10% validation: " + val);
        assertTrue(((List<?>) train.get("shards")).size() > 1, "small shards force several");

        // The summary on disk, the tokenizer and the shards agree.
        Map<String, Object> onDisk = map(Json.parse(Files.readString(out.resolve("prepare.json")), "prepare.json"));
        assertEquals(train.get("tokens"), map(onDisk.get("train")).get("tokens"));
        Tokenizer tok = Tokenizer.load(out.resolve("tokenizer.json"));
        assertEquals(300, tok.vocabSize());
        try (TokenShards s = TokenShards.open(out, "train", tok.hash()); TokenShards v = TokenShards.open(out, "val", tok.hash())) {
            assertEquals(train.get("tokens"), s.tokens());
            assertEquals(val.get("tokens"), v.tokens());
            // The first training document decodes back to its cleaned text.
            ShardReader first = s.shards().getFirst();
            assertEquals(tok.eot(), first.get(0));
            int end = 1;
            while (first.get(end) != tok.eot()) end++;
            int[] ids = new int[end - 1];
            first.read(1, ids, 0, ids.length);
            String text = tok.decode(ids);
            assertTrue(text.matches("Story [0-9]+:( [a-z]+)+"), text);
            assertFalse(text.contains("  "), "whitespace was cleaned");
            // The trainer's sampler runs over the output.
            BatchSampler sampler = new BatchSampler(s, 2, 32, 1);
            int[] x = new int[64], y = new int[64];
            sampler.next(x, y);
            assertTrue(Arrays.stream(x).allMatch(t -> t >= 0 && t < 300));
        }
        try (Stream<Path> files = Files.list(out)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().startsWith(".")), "no staging leftovers");
        }
        double bpt = (Double) j.get("bytes_per_token");
        assertTrue(bpt > 1.5 && bpt < 8, "bytes per token " + bpt);
    }

    /** One book in one .txt file: before, one document, no validation split, and train refused the data. */
    @Test
    void oneBookInOneFileGetsAValidationSplitByDocument() throws IOException {
        Path in = Files.writeString(dir.resolve("book.txt"), book(1500, 1));
        Path out = dir.resolve("book");
        List<String> said = messages("--input", in.toString(), "--vocab", "300", "--out", out.toString());
        Map<String, Object> j = map(Json.parse(Files.readString(out.resolve("prepare.json")), "prepare.json"));
        Map<String, Object> train = map(j.get("train")), val = map(j.get("val"));
        assertEquals("by document", map(j.get("split")).get("method"));
        double share = ((Number) val.get("bytes")).doubleValue() / ((Number) train.get("bytes")).longValue();
        assertTrue(share > 0.01 && share < 0.04, "about 2% of the text: " + share);
        assertTrue((Long) train.get("documents") > 100, train.toString());
        assertEquals(List.of(), said.stream().filter(m -> m.startsWith("warning") || m.startsWith("note")).toList());
        try (TokenShards v = TokenShards.open(out, "val", null)) {
            assertEquals(val.get("tokens"), v.tokens());
        }
    }

    /** A one-line file, or a corpus of two documents: the tail of the text is validation. */
    @Test
    void tooFewDocumentsHoldOutTheTailOfTheText() throws IOException {
        String line = book(200, 2).replace("\n\n", " ").strip();
        Path in = Files.writeString(dir.resolve("one-line.txt"), line.substring(0, 1900) + "\n");
        Path out = dir.resolve("tail");
        List<String> said = messages("--input", in.toString(), "--vocab", "300", "--val-fraction", "0.1", "--out", out.toString());
        Map<String, Object> j = map(Json.parse(Files.readString(out.resolve("prepare.json")), "prepare.json"));
        assertEquals("tail of the text", map(j.get("split")).get("method"));
        assertTrue(said.stream().anyMatch(m -> m.startsWith("note: splitting by document gave validation 0 of 1 documents")), said.toString());
        assertTrue(said.stream().anyMatch(m -> m.startsWith("warning: the validation split is tiny")), said.toString());
        Tokenizer tok = Tokenizer.load(out.resolve("tokenizer.json"));
        try (TokenShards t = TokenShards.open(out, "train", tok.hash()); TokenShards v = TokenShards.open(out, "val", tok.hash())) {
            String head = decodeAll(tok, t), tail = decodeAll(tok, v);
            assertEquals(line.substring(0, 1900), head + tail, "the text, cut once");
            assertEquals(190, tail.length(), 10, "a tenth of the text");
            assertFalse(tail.isEmpty() || head.isEmpty());
        }
    }

    private static String decodeAll(Tokenizer tok, TokenShards s) {
        int[] all = new int[(int) s.tokens()];
        s.shards().getFirst().read(0, all, 0, all.length);
        return tok.decode(Arrays.stream(all).filter(t -> t != tok.eot()).toArray());
    }

    @Test
    void valFractionZeroWritesNoValidationSplitAndSaysWhatTrainNeeds() throws IOException {
        Path in = Files.writeString(dir.resolve("book.txt"), book(300, 3));
        Path out = dir.resolve("noval");
        List<String> said = messages("--input", in.toString(), "--vocab", "300", "--val-fraction", "0", "--out", out.toString());
        assertEquals(List.of("note: --val-fraction 0: no validation split; train on this data with evaluation off (--eval-minutes 0)"),
                said.stream().filter(m -> m.startsWith("note")).toList());
        try (Stream<Path> files = Files.list(out)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().startsWith("val_")));
        }
    }

    @Test
    void anExistingDatasetIsReplacedOnlyWithForceAndNothingElseIsReplaced() throws IOException {
        Path in = Files.writeString(dir.resolve("book.txt"), book(100, 4));
        Path out = dir.resolve("data");
        prepare("--input", in.toString(), "--vocab", "300", "--out", out.toString());
        String hash = Tokenizer.load(out.resolve("tokenizer.json")).hash();
        CramjetException e = assertThrows(CramjetException.class, () -> prepare("--input", in.toString(), "--vocab", "290", "--out", out.toString()));
        assertEquals(out + ": already holds a prepared dataset; pass --force to replace it", e.getMessage());
        prepare("--input", in.toString(), "--vocab", "290", "--out", out.toString(), "--force");
        assertNotEquals(hash, Tokenizer.load(out.resolve("tokenizer.json")).hash());
        assertEquals(290, Tokenizer.load(out.resolve("tokenizer.json")).vocabSize());
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of("book.txt", "data"), files.map(p -> p.getFileName().toString()).sorted().toList(), "no staging or swap leftovers");
        }

        Path notes = Files.createDirectories(dir.resolve("notes"));
        Files.writeString(notes.resolve("thesis.txt"), "years of work");
        e = assertThrows(CramjetException.class, () -> prepare("--input", in.toString(), "--out", notes.toString(), "--force"));
        assertEquals(notes + ": exists and is not a prepared data directory (no prepare.json); choose another --out", e.getMessage());
        assertTrue(Files.exists(notes.resolve("thesis.txt")));
    }

    /** A killed run leaves its staging directory beside the output; the next run into it removes that. */
    @Test
    void stagingLeftOverByAKilledRunIsRemoved() throws IOException {
        Path in = Files.writeString(dir.resolve("book.txt"), book(100, 5));
        Path dead = Files.createDirectories(dir.resolve(".data.prepare-" + Long.MAX_VALUE));
        Files.writeString(dead.resolve("train_000.bin"), "half a shard");
        Path live = Files.createDirectories(dir.resolve(".data.prepare-" + ProcessHandle.current().pid() + "0"));
        prepare("--input", in.toString(), "--vocab", "300", "--out", dir.resolve("data").toString());
        assertFalse(Files.exists(dead));
        assertEquals(ProcessHandle.of(ProcessHandle.current().pid() * 10).isPresent(), Files.exists(live),
                "a directory whose process still runs is left alone");
    }

    /** Settings are checked before the corpus is read: here the input is bad too, and would fail later. */
    @Test
    void badSettingsAreReportedBeforeTheCorpusIsRead() throws IOException {
        Path bad = Files.write(dir.resolve("latin1.txt"), "caf\u00e9".getBytes(StandardCharsets.ISO_8859_1));
        CramjetException e = assertThrows(CramjetException.class, () -> prepare("--input", bad.toString(), "--vocab", "100"));
        assertTrue(e.getMessage().startsWith("vocabulary size 100 must be at least 256 bytes"), e.getMessage());
        Path missing = dir.resolve("missing.json");
        e = assertThrows(CramjetException.class, () -> prepare("--input", bad.toString(), "--tokenizer", missing.toString()));
        assertEquals(missing + ": no such tokenizer file", e.getMessage());
        e = assertThrows(CramjetException.class, () -> prepare("--input", bad.toString(), "--tokenizer", dir.toString()));
        assertEquals(dir + ": is a directory, expected a tokenizer file", e.getMessage());
    }

    @Test
    void aVocabularyTheTextCannotFillIsAWarning() throws IOException {
        Path in = Files.writeString(dir.resolve("small.txt"), book(20, 6));
        List<String> said = messages("--input", in.toString(), "--vocab", "70000", "--out", dir.resolve("v").toString());
        assertTrue(said.stream().anyMatch(m -> m.matches("warning: the tokenizer has [0-9,]+ ids, not the 70,000 asked for: .*")), said.toString());
    }

    @Test
    void anExistingTokenizerIsReusedAndItsHashStamped() throws IOException {
        Path in = corpus(60);
        Path first = dir.resolve("first"), second = dir.resolve("second");
        prepare("--input", in.toString(), "--field", "body", "--out", first.toString(), "--vocab", "280");
        Map<String, Object> j = prepare("--input", in.toString(), "--field", "body", "--out", second.toString(),
                "--tokenizer", first.resolve("tokenizer.json").toString());
        String hash = Tokenizer.load(first.resolve("tokenizer.json")).hash();
        assertEquals(hash, map(j.get("tokenizer")).get("hash"));
        try (ShardReader r = ShardReader.open(second.resolve("train_000.bin"), hash)) {
            assertEquals(hash, r.header().tokenizerHash());
        }
        assertThrows(CramjetException.class, () -> prepare("--input", in.toString(), "--field", "body", "--tokenizer",
                first.resolve("tokenizer.json").toString(), "--vocab", "500"));
    }

    @Test
    void badInputStopsBeforeWritingAnythingAndSkipBadCounts() throws IOException {
        Path in = corpus(50);
        Files.writeString(in, "{\"body\": \"fine\"}\n{\"text\": \"no body\"}\n", java.nio.file.StandardOpenOption.APPEND);
        Path out = dir.resolve("out");
        CramjetException e = assertThrows(CramjetException.class,
                () -> prepare("--input", in.toString(), "--field", "body", "--out", out.toString(), "--vocab", "280"));
        assertTrue(e.getMessage().startsWith(in + ":54: missing field 'body'"), e.getMessage());
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(dir.resolve("in")), files.toList(), "nothing written, not even staging files");
        }
        Path more = dir.resolve("in/more.jsonl");
        Files.writeString(more, "{\"body\": \"one more document\"}\n");
        Map<String, Object> j = prepare("--input", in.toString(), "--field", "body", "--out", out.toString(), "--vocab", "280",
                "--skip-bad", more.toString());
        assertEquals(1L, map(j.get("read")).get("bad_skipped"));
        assertEquals(2L, map(j.get("read")).get("files"), "a path after a flag is still an input");
        assertTrue(Files.exists(out.resolve("train_000.bin")));
    }

    @Test
    void emptyCorpusAfterFilteringExplainsWhy() throws IOException {
        Path in = dir.resolve("short.txt");
        Files.writeString(in, "a\nbb\n");
        CramjetException e = assertThrows(CramjetException.class,
                () -> prepare("--input", in.toString(), "--format", "lines", "--min-chars", "5", "--out", dir.resolve("o").toString()));
        assertTrue(e.getMessage().startsWith("no documents left: read 2 from 1 file(s); per step (in → out): "), e.getMessage());
        assertTrue(e.getMessage().contains("length 2 → 0"), e.getMessage());
    }

    @Test
    void commandLineErrorsAreUserErrors() {
        assertEquals(2, Main.run(new String[]{"prepare", "--corpus", "nope"}));
        assertEquals(2, Main.run(new String[]{"prepare"}));
        assertEquals(2, Main.run(new String[]{"prepare", "--input", dir.resolve("missing").toString()}));
        assertEquals(0, Main.run(new String[]{"prepare", "--help"}));
    }

    /** The real chinese-poetry package, capped to a few thousand poems; skipped without npm or network. */
    @Test
    void preparesTheRealChinesePoetryCorpus() throws IOException {
        Corpora corpora = Corpora.standard();
        Corpora.Corpus c = Corpora.get("chinese-poetry");
        if (!Files.isDirectory(corpora.directory(c))) {
            try {
                corpora.files(c);
            } catch (CramjetException e) {
                Assumptions.abort("chinese-poetry not available (" + e.getMessage() + ")");
            }
        }
        Path out = dir.resolve("poetry");
        Map<String, Object> j = prepare("--corpus", "chinese-poetry", "--max-docs", "3000", "--vocab", "1024", "--out", out.toString());
        assertEquals(3000L, map(j.get("read")).get("documents"));
        Tokenizer tok = Tokenizer.load(out.resolve("tokenizer.json"));
        // The first training document is one of the first poems of the first file (the split may take a few).
        Path firstFile = corpora.files(c).getFirst();
        List<Object> poems = Json.array(Json.parse(Files.readString(firstFile), firstFile.toString()), "poems");
        try (TokenShards s = TokenShards.open(out, "train", tok.hash())) {
            ShardReader first = s.shards().getFirst();
            int end = 1;
            while (first.get(end) != tok.eot()) end++;
            int[] ids = new int[end - 1];
            first.read(1, ids, 0, ids.length);
            String text = tok.decode(ids);
            boolean found = false;
            for (Object poem : poems.subList(0, 10)) {
                Map<String, Object> m = map(poem);
                String firstLine = (String) Json.array(m.get("paragraphs"), "paragraphs").getFirst();
                found |= text.equals(m.get("title") + "\n" + firstLine) || text.startsWith(m.get("title") + "\n" + firstLine + "\n");
            }
            assertTrue(found, text);
        }
    }
}
