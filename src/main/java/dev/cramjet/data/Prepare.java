package dev.cramjet.data;

import dev.cramjet.CramjetException;
import dev.cramjet.io.AtomicFile;
import dev.cramjet.io.Json;
import dev.cramjet.text.BadInput;
import dev.cramjet.text.Cleaner;
import dev.cramjet.text.CleaningOptions;
import dev.cramjet.text.CleaningReport;
import dev.cramjet.text.CorpusReader;
import dev.cramjet.text.Document;
import dev.cramjet.text.Format;
import dev.cramjet.tokenizer.BpeTrainer;
import dev.cramjet.tokenizer.Tokenizer;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.stream.IntStream;
import java.util.stream.Stream;

/**
 * The pipeline of {@code cramjet prepare}: corpus → cleaned documents → tokenizer (trained or given) → token shards.
 *
 * <p>Three passes. (1) Read and clean, in batches, spilling the surviving documents (with their train/validation
 * side) to a temporary file, so memory holds only the duplicate indexes, not the corpus; every bad-input error
 * surfaces here, before any output exists. (2) Train the tokenizer on the training side (capped by
 * {@code tokenizerBytes}), unless one is given. (3) Encode in parallel and write the shards. Everything is written
 * into a staging directory inside {@code out} and moved into place at the end, so a failed run leaves the previous
 * output (or nothing) rather than a mix.
 */
public final class Prepare {
    private static final int BATCH = 4096;

    private Prepare() {}

    /**
     * Everything a run needs: the input files in reading order (and the packaged corpus they are, or null), how to
     * read and clean them, the tokenizer to use (null: train one of {@code vocab} ids on at most
     * {@code tokenizerBytes} of text), the split and the shard size, and the output directory.
     */
    public record Plan(String corpus, List<Path> files, Format format, String field, long maxDocs, boolean skipBad,
                       CleaningOptions cleaning, Path tokenizer, int vocab, long tokenizerBytes, Split split,
                       int shardTokens, Path out) {}

    /**
     * How far a stage ("read+clean", "encode") has come: the fraction done (NaN when unknown), the documents and
     * bytes handled, a detail such as "12,345 kept", and the seconds since the stage began; {@code done} once, at
     * its end.
     */
    public record Stage(String name, double fraction, long documents, long bytes, String detail, double seconds, boolean done) {}

    /** What a run shows as it goes. */
    public interface Listener {
        void stage(Stage s);

        /** A line for the user: what is happening, or a warning. */
        void message(String line);
    }

    /** Runs the whole preparation and returns the summary that prepare.json holds (plus "cleaning_table"). */
    public static Map<String, Object> run(Plan plan, Listener listener) throws IOException {
        if (plan.tokenizer != null && !Files.isRegularFile(plan.tokenizer)) {
            throw new CramjetException(plan.tokenizer + ": no such tokenizer file");
        }
        Files.createDirectories(plan.out);
        Path stage = Files.createTempDirectory(plan.out, ".prepare-");
        try {
            Map<String, Object> r = prepareInto(plan, stage, listener);
            publish(stage, plan.out);
            return r;
        } finally {
            deleteTree(stage);
        }
    }

    private static Map<String, Object> prepareInto(Plan plan, Path stage, Listener listener) throws IOException {
        long t0 = System.nanoTime();
        // ---- pass 1: read, clean, split, spill -----------------------------------------------------------------
        Path spill = stage.resolve("cleaned.tmp");
        Cleaned cleaned = readAndClean(plan, spill, listener);
        CorpusReader reader = cleaned.reader;
        BadInput bad = cleaned.bad;
        CleaningReport report = cleaned.report;
        long[] kept = cleaned.kept;
        long docs = kept[0] + kept[1];
        if (docs == 0) {
            throw new CramjetException("no documents left: read " + reader.documents() + " from " + reader.files() + " file(s)"
                    + (bad.skipped() > 0 ? ", skipped " + bad.skipped() + " bad" : "") + "; per step (in → out): " + steps(report)
                    + ". Loosen the filters (e.g. --min-chars, --max-compression 0, --near-dup 0) or check the input");
        }
        // A validation split that drew nothing (tiny corpora) gets the last document, so training can measure it.
        boolean moveLastToVal = kept[1] == 0 && plan.split.validationFraction() > 0 && docs >= 2;
        long t1 = System.nanoTime();

        // ---- pass 2: tokenizer -----------------------------------------------------------------------------------
        Tokenizer tok;
        Map<String, Object> tokJson = new LinkedHashMap<>();
        if (plan.tokenizer != null) {
            tok = Tokenizer.load(plan.tokenizer);
            tokJson.put("source", "loaded " + plan.tokenizer);
        } else {
            listener.message("training a " + plan.vocab + "-token BPE tokenizer on up to " + plan.tokenizerBytes + " bytes…");
            Iterable<String> trainingText = () -> trainingSide(spill, plan.tokenizerBytes);
            tok = new BpeTrainer().train(trainingText, plan.vocab, Tokenizer.DEFAULT_SPECIALS);
            tokJson.put("source", "trained");
            tokJson.put("training_bytes_cap", plan.tokenizerBytes);
        }
        tok.save(stage.resolve("tokenizer.json"));
        tokJson.put("vocab_size", tok.vocabSize());
        tokJson.put("eot", tok.eot());
        tokJson.put("hash", tok.hash());
        long t2 = System.nanoTime();

        // ---- pass 3: encode and write shards ---------------------------------------------------------------------
        ShardWriter[] writers = {
            new ShardWriter(stage, "train", tok.vocabSize(), tok.eot(), tok.hash(), plan.shardTokens),
            new ShardWriter(stage, "val", tok.vocabSize(), tok.eot(), tok.hash(), plan.shardTokens)};
        long[] splitDocs = new long[2], splitBytes = new long[2];
        try (Spill.Reader in = new Spill.Reader(spill)) {
            long seen = 0;
            List<byte[]> texts = new ArrayList<>(BATCH);
            List<Integer> sides = new ArrayList<>(BATCH);
            while (in.hasNext()) {
                texts.clear();
                sides.clear();
                while (texts.size() < BATCH && in.hasNext()) {
                    Spill.Doc d = in.next();
                    seen++;
                    int side = moveLastToVal && seen == docs ? 1 : d.side();
                    texts.add(d.text());
                    sides.add(side);
                    splitDocs[side]++;
                    splitBytes[side] += d.text().length;
                }
                int[][] ids = new int[texts.size()][];
                IntStream.range(0, texts.size()).parallel().forEach(i -> ids[i] = tok.encodeOrdinary(texts.get(i)));
                for (int i = 0; i < ids.length; i++) writers[sides.get(i)].add(ids[i]);
                listener.stage(new Stage("encode", seen / (double) docs, seen, splitBytes[0] + splitBytes[1],
                        String.format("%,d tokens", writers[0].tokens() + writers[1].tokens()), (System.nanoTime() - t2) / 1e9, false));
            }
            listener.stage(new Stage("encode", 1, seen, splitBytes[0] + splitBytes[1],
                    String.format("%,d tokens", writers[0].tokens() + writers[1].tokens()), (System.nanoTime() - t2) / 1e9, true));
        }
        List<List<Path>> shards = List.of(writers[0].finish(), writers[1].finish());
        Files.delete(spill);
        long t3 = System.nanoTime();

        // ---- summary ---------------------------------------------------------------------------------------------
        Map<String, Object> j = new LinkedHashMap<>();
        List<Path> files = plan.files;
        j.put("corpus", plan.corpus);
        j.put("inputs", files.size() <= 20 ? files.stream().map(Path::toString).toList()
                : List.of(files.size() + " files, first " + files.getFirst() + ", last " + files.getLast()));
        j.put("format", plan.format == null ? "by extension" : plan.format.cliName());
        j.put("field", plan.field);
        Map<String, Object> read = new LinkedHashMap<>();
        read.put("files", reader.files());
        read.put("documents", reader.documents());
        read.put("bytes", reader.bytes());
        read.put("bad_skipped", bad.skipped());
        read.put("bad_examples", bad.examples());
        j.put("read", read);
        j.put("cleaning", report.toJson());
        j.put("cleaning_table", report.table());
        for (int s = 0; s < 2; s++) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("documents", splitDocs[s]);
            m.put("bytes", splitBytes[s]);
            m.put("tokens", writers[s].tokens());
            m.put("shards", shards.get(s).stream().map(p -> p.getFileName().toString()).toList());
            j.put(s == 0 ? "train" : "val", m);
        }
        j.put("split", Map.of("val_fraction", plan.split.validationFraction(), "seed", plan.split.seed(),
                "last_document_moved_to_val", moveLastToVal));
        j.put("tokenizer", tokJson);
        long textTokens = writers[0].tokens() + writers[1].tokens() - docs; // minus one end-of-text per document
        j.put("bytes_per_token", (splitBytes[0] + splitBytes[1]) / (double) Math.max(1, textTokens));
        Map<String, Object> secs = new LinkedHashMap<>();
        secs.put("read_clean", (t1 - t0) / 1e9);
        secs.put("tokenizer", (t2 - t1) / 1e9);
        secs.put("encode_write", (t3 - t2) / 1e9);
        secs.put("total", (t3 - t0) / 1e9);
        j.put("seconds", secs);
        j.put("peak_heap_bytes", peakHeap());
        Map<String, Object> file = new LinkedHashMap<>(j);
        file.remove("cleaning_table");
        AtomicFile.writeString(stage.resolve("prepare.json"), Json.pretty(file));
        return j;
    }

    /** What pass 1 leaves behind; the cleaner itself (and its duplicate indexes) is garbage once it returns. */
    private record Cleaned(CorpusReader reader, BadInput bad, CleaningReport report, long[] kept) {}

    private static Cleaned readAndClean(Plan plan, Path spill, Listener listener) throws IOException {
        BadInput bad = new BadInput(plan.skipBad);
        CorpusReader reader = new CorpusReader(plan.format, plan.field, bad);
        Cleaner cleaner = new Cleaner(plan.cleaning);
        cleaner.warnings().forEach(w -> listener.message("warning: " + w));
        long[] kept = new long[2];
        long start = System.nanoTime();
        try (Spill.Writer out = new Spill.Writer(spill)) {
            List<Document> batch = new ArrayList<>(BATCH);
            long[] taken = {0};
            IOException[] failure = {null};
            CorpusReader.Sink sink = d -> {
                batch.add(d);
                taken[0]++;
                if (batch.size() == BATCH) {
                    failure[0] = spillBatch(cleaner, batch, plan.split, out, kept);
                    // Files started, or documents against maxDocs, whichever is further along.
                    double fraction = Math.max(Math.max(0, reader.files() - 1) / (double) plan.files.size(), taken[0] / (double) plan.maxDocs);
                    listener.stage(new Stage("read+clean", fraction, taken[0], reader.bytes(),
                            String.format("%,d kept", kept[0] + kept[1]), (System.nanoTime() - start) / 1e9, false));
                }
                return failure[0] == null && taken[0] < plan.maxDocs;
            };
            reader.read(plan.files, sink);
            if (failure[0] != null) throw failure[0];
            IOException last = spillBatch(cleaner, batch, plan.split, out, kept);
            if (last != null) throw last;
            listener.stage(new Stage("read+clean", 1, taken[0], reader.bytes(), String.format("%,d kept", kept[0] + kept[1]),
                    (System.nanoTime() - start) / 1e9, true));
        }
        return new Cleaned(reader, bad, cleaner.report(), kept);
    }

    /** Cleans a batch and spills the survivors with their split side; clears the batch. */
    private static IOException spillBatch(Cleaner cleaner, List<Document> batch, Split split, Spill.Writer out, long[] kept) {
        try {
            for (Cleaner.Kept k : cleaner.clean(batch)) {
                int side = split.isValidation(k.fingerprint()) ? 1 : 0;
                out.add(side, k.document().text().getBytes(StandardCharsets.UTF_8));
                kept[side]++;
            }
            batch.clear();
            return null;
        } catch (IOException e) {
            return e;
        }
    }

    /** The training side of the spill as strings, stopping once {@code capBytes} have been handed out. */
    private static Iterator<String> trainingSide(Path spill, long capBytes) {
        Spill.Reader in;
        try {
            in = new Spill.Reader(spill);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return new Iterator<>() {
            private long given;
            private String next = advance();

            private String advance() {
                while (given < capBytes && in.hasNext()) {
                    Spill.Doc d = in.next();
                    if (d.side() != 0) continue;
                    given += d.text().length;
                    return new String(d.text(), StandardCharsets.UTF_8);
                }
                try {
                    in.close();
                } catch (IOException ignored) {
                    // a read-only stream: nothing was lost
                }
                return null;
            }

            @Override
            public boolean hasNext() { return next != null; }

            @Override
            public String next() {
                if (next == null) throw new NoSuchElementException();
                String s = next;
                next = advance();
                return s;
            }
        };
    }

    /** The sum of the heap pools' peak use since the JVM started (an upper bound on what this run needed at once). */
    private static long peakHeap() {
        long sum = 0;
        for (var pool : ManagementFactory.getMemoryPoolMXBeans()) {
            if (pool.getType() == MemoryType.HEAP) sum += pool.getPeakUsage().getUsed();
        }
        return sum;
    }

    private static String steps(CleaningReport r) {
        return String.join(", ", r.steps().stream().map(s -> s.step() + " " + s.in() + " → " + s.out()).toList());
    }

    /** Replaces the previous output's files with the staged ones. */
    private static void publish(Path stage, Path out) throws IOException {
        try (Stream<Path> old = Files.list(out)) {
            for (Path p : old.toList()) {
                String n = p.getFileName().toString();
                if (n.matches("(train|val)_[0-9]+\\.bin") || n.equals("tokenizer.json") || n.equals("prepare.json")) Files.delete(p);
            }
        }
        try (Stream<Path> staged = Files.list(stage)) {
            for (Path p : staged.sorted().toList()) {
                Files.move(p, out.resolve(p.getFileName()), StandardCopyOption.ATOMIC_MOVE);
            }
        }
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) return;
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
