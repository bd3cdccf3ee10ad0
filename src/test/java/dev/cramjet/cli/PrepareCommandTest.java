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
        try (Stream<Path> files = Files.list(out)) {
            assertEquals(List.of(), files.toList(), "nothing written, not even staging files");
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
