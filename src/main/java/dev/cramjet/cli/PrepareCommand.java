package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.data.ShardWriter;
import dev.cramjet.data.Split;
import dev.cramjet.io.AtomicFile;
import dev.cramjet.io.Json;
import dev.cramjet.text.BadInput;
import dev.cramjet.text.Cleaner;
import dev.cramjet.text.CleaningOptions;
import dev.cramjet.text.CleaningReport;
import dev.cramjet.text.Corpora;
import dev.cramjet.text.CorpusReader;
import dev.cramjet.text.Document;
import dev.cramjet.text.Format;
import dev.cramjet.text.Inputs;
import dev.cramjet.tokenizer.BpeTrainer;
import dev.cramjet.tokenizer.Tokenizer;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.PrintStream;
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
import java.util.Locale;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.stream.IntStream;
import java.util.stream.Stream;

/**
 * `cramjet prepare`: corpus → cleaned documents → tokenizer (trained or given) → token shards.
 *
 * <p>Three passes. (1) Read and clean, in batches, spilling the surviving documents (with their train/validation
 * side) to a temporary file, so memory holds only the duplicate indexes, not the corpus; every bad-input error
 * surfaces here, before any output exists. (2) Train the tokenizer on the training side (capped by
 * --tokenizer-bytes), unless one is given. (3) Encode in parallel and write the shards. Everything is written into
 * a staging directory inside --out and moved into place at the end, so a failed run leaves the previous output
 * (or nothing) rather than a mix.
 */
public final class PrepareCommand implements Command {
    private static final int BATCH = 4096;

    @Override
    public String summary() { return "clean a corpus, train or load a tokenizer, write token shards"; }

    @Override
    public String usage() {
        return """
                usage: cramjet prepare (--corpus NAME | --input PATH...) [options]

                Reads a corpus, cleans it, trains a byte-level BPE tokenizer (or loads one) and writes token shards:
                OUT/tokenizer.json, OUT/train_NNN.bin, OUT/val_NNN.bin and OUT/prepare.json (the summary).

                input:
                  --corpus NAME          a known corpus, fetched into ~/.cache/cramjet (or $CRAMJET_CACHE):
                                         %s
                  --input PATH...        files, directories or globs ("data/**/*.jsonl"); .gz is decompressed
                  --format F             txt | lines | jsonl | json | email | brown (default: by file extension)
                  --field F              json/jsonl: field path, e.g. text, meta.body, title|rhythmic+paragraphs;
                                         lines: a 1-based tab-separated column; email in .json files: the
                                         field holding the raw message (default text)
                  --max-docs N           read at most N documents (quick runs)
                  --skip-bad             skip and count bad documents instead of stopping at the first
                cleaning (each step is counted in the summary):
                  --normalize FORM       nfc (default) | nfkc (also folds full-width Chinese punctuation) | none
                  --no-controls --no-html --no-whitespace   skip those steps
                  --min-chars N --max-chars N               drop documents outside these lengths (default 1, none)
                  --max-compression R    drop documents that deflate more than R:1, i.e. boilerplate (default 6; 0 off)
                  --no-dedup             keep exact duplicates
                  --near-dup J           drop documents with MinHash similarity >= J to an earlier one (default 0.8; 0 off)
                  --lowercase --stopwords   classic NLP steps; they hurt language models
                tokenizer and shards:
                  --tokenizer PATH       use this tokenizer.json instead of training one
                  --vocab N              vocabulary size to train (default 4096)
                  --tokenizer-bytes N    train on at most this many bytes of text (default 200000000)
                  --val-fraction F       share of documents for validation (default 0.02)
                  --seed S               seed of the train/validation split (default 1337)
                  --shard-tokens N       tokens per shard (default 50000000)
                  --out DIR              output directory (default data/NAME, or data/prepared)
                """.formatted(String.join(", ", Corpora.names()));
    }

    @Override
    public int run(Args args) throws Exception {
        Plan plan = Plan.from(args);
        args.finish();
        Result r = prepare(plan, System.err);
        System.out.print(r.table());
        System.out.println("wrote " + plan.out);
        return 0;
    }

    /** Everything a run needs, read from the command line. */
    record Plan(String corpus, List<Path> files, Format format, String field, long maxDocs, boolean skipBad,
                CleaningOptions cleaning, Path tokenizer, int vocab, long tokenizerBytes, Split split, int shardTokens,
                Path out) {

        static Plan from(Args a) {
            // Flags first: a flag followed by a path (`--skip-bad more.txt`) hands the path back as a positional.
            boolean skipBad = a.flag("skip-bad"), noControls = a.flag("no-controls"), noHtml = a.flag("no-html"),
                    noWhitespace = a.flag("no-whitespace"), noDedup = a.flag("no-dedup"), lowercase = a.flag("lowercase"),
                    stopWords = a.flag("stopwords");
            String corpus = a.string("corpus", null), outArg = a.string("out", null);
            List<String> inputs = new ArrayList<>();
            if (a.has("input")) inputs.add(a.required("input"));
            inputs.addAll(a.positionals());
            if ((corpus == null) == inputs.isEmpty()) {
                throw new CramjetException("give either --corpus NAME (one of " + String.join(", ", Corpora.names())
                        + ") or --input PATH...");
            }
            Format format;
            String field;
            List<Path> files;
            if (corpus != null) {
                Corpora.Corpus c = Corpora.get(corpus);
                if (a.has("format") || a.has("field")) throw new CramjetException("--format/--field go with --input; corpus " + corpus + " knows its own");
                format = c.format();
                field = c.field();
                files = null; // fetched when the run starts
            } else {
                format = a.has("format") ? Format.parse(a.required("format")) : null;
                field = a.string("field", null);
                files = Inputs.expand(inputs);
            }
            CleaningOptions o = new CleaningOptions()
                    .normalization(normalization(a.string("normalize", "nfc")))
                    .controls(!noControls).html(!noHtml).whitespace(!noWhitespace)
                    .minChars(a.integer("min-chars", 1)).maxChars(a.integer("max-chars", 0))
                    .maxCompression(a.number("max-compression", 6.0))
                    .exactDedup(!noDedup).nearDuplicate(a.number("near-dup", 0.8))
                    .lowercase(lowercase).stopWords(stopWords);
            Path tokenizer = a.has("tokenizer") ? Path.of(a.required("tokenizer")) : null;
            int vocab = a.integer("vocab", 4096);
            if (tokenizer != null && a.has("vocab")) throw new CramjetException("--vocab trains a tokenizer; it cannot go with --tokenizer");
            long tokBytes = a.longValue("tokenizer-bytes", 200_000_000L);
            long maxDocs = a.longValue("max-docs", Long.MAX_VALUE);
            if (maxDocs < 1) throw new CramjetException("--max-docs must be positive, got " + maxDocs);
            int shardTokens = a.integer("shard-tokens", 50_000_000);
            if (shardTokens < 1024 || shardTokens > (1 << 28)) {
                throw new CramjetException("--shard-tokens must be in [1024, 268435456], got " + shardTokens);
            }
            Split split = new Split(a.number("val-fraction", 0.02), a.longValue("seed", 1337));
            Path out = Path.of(outArg != null ? outArg : corpus != null ? "data/" + corpus : "data/prepared");
            return new Plan(corpus, files, format, field, maxDocs, skipBad, o, tokenizer, vocab, tokBytes, split,
                    shardTokens, out);
        }

        private static CleaningOptions.Normalization normalization(String s) {
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "nfc" -> CleaningOptions.Normalization.NFC;
                case "nfkc" -> CleaningOptions.Normalization.NFKC;
                case "none" -> CleaningOptions.Normalization.NONE;
                default -> throw new CramjetException("--normalize expects nfc, nfkc or none, got '" + s + "'");
            };
        }
    }

    /** The closing summary; {@link #json()} is what prepare.json holds. */
    record Result(Map<String, Object> json) {
        String table() {
            StringBuilder sb = new StringBuilder("\ncleaning:\n");
            @SuppressWarnings("unchecked")
            Map<String, Object> read = (Map<String, Object>) json.get("read");
            sb.append(String.format("  read %,d documents (%,d bytes) from %,d files; bad skipped: %,d%n",
                    read.get("documents"), read.get("bytes"), read.get("files"), read.get("bad_skipped")));
            sb.append(json.get("cleaning_table"));
            for (String split : List.of("train", "val")) {
                @SuppressWarnings("unchecked")
                Map<String, Object> s = (Map<String, Object>) json.get(split);
                sb.append(String.format("%-5s %,11d docs %,13d bytes %,13d tokens in %d shard(s)%n", split,
                        s.get("documents"), s.get("bytes"), s.get("tokens"), ((List<?>) s.get("shards")).size()));
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> tok = (Map<String, Object>) json.get("tokenizer");
            sb.append(String.format("tokenizer: %s, vocabulary %,d, %.2f bytes per token%n", tok.get("source"), tok.get("vocab_size"),
                    (Double) json.get("bytes_per_token")));
            @SuppressWarnings("unchecked")
            Map<String, Object> t = (Map<String, Object>) json.get("seconds");
            sb.append(String.format("time: read+clean %.1f s, tokenizer %.1f s, encode+write %.1f s, total %.1f s%n",
                    t.get("read_clean"), t.get("tokenizer"), t.get("encode_write"), t.get("total")));
            return sb.toString();
        }
    }

    /** Runs the whole preparation; progress goes to {@code log}. */
    static Result prepare(Plan plan, PrintStream log) throws IOException {
        long t0 = System.nanoTime();
        List<Path> files = plan.files;
        if (plan.corpus != null) {
            Corpora corpora = Corpora.standard();
            Corpora.Corpus c = Corpora.get(plan.corpus);
            if (!Files.isDirectory(corpora.directory(c))) log.println("fetching corpus " + c.name() + " (" + c.origin() + ")…");
            files = corpora.files(c);
        }
        if (plan.tokenizer != null && !Files.isRegularFile(plan.tokenizer)) {
            throw new CramjetException(plan.tokenizer + ": no such tokenizer file");
        }
        Files.createDirectories(plan.out);
        Path stage = Files.createTempDirectory(plan.out, ".prepare-");
        try {
            Result r = prepareInto(plan, files, stage, log, t0);
            publish(stage, plan.out);
            return r;
        } finally {
            deleteTree(stage);
        }
    }

    private static Result prepareInto(Plan plan, List<Path> files, Path stage, PrintStream log, long t0) throws IOException {
        // ---- pass 1: read, clean, split, spill -----------------------------------------------------------------
        Path spill = stage.resolve("cleaned.tmp");
        Cleaned cleaned = readAndClean(plan, files, spill, log);
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
            log.println("training a " + plan.vocab + "-token BPE tokenizer on up to " + plan.tokenizerBytes + " bytes…");
            Iterable<String> trainingText = () -> new SpillIterator(spill, 0, plan.tokenizerBytes);
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
        Ticker enc = new Ticker(log, "encode");
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(spill), 1 << 20))) {
            long seen = 0;
            List<byte[]> texts = new ArrayList<>(BATCH);
            List<Integer> sides = new ArrayList<>(BATCH);
            while (true) {
                texts.clear();
                sides.clear();
                while (texts.size() < BATCH && seen < docs) {
                    int side = in.readByte();
                    byte[] b = new byte[in.readInt()];
                    in.readFully(b);
                    seen++;
                    if (moveLastToVal && seen == docs) side = 1;
                    texts.add(b);
                    sides.add(side);
                    splitDocs[side]++;
                    splitBytes[side] += b.length;
                }
                if (texts.isEmpty()) break;
                int[][] ids = new int[texts.size()][];
                IntStream.range(0, texts.size()).parallel().forEach(i -> ids[i] = tok.encodeOrdinary(texts.get(i)));
                for (int i = 0; i < ids.length; i++) writers[sides.get(i)].add(ids[i]);
                enc.tick(seen / (double) docs, seen, splitBytes[0] + splitBytes[1],
                        String.format("%,d tokens", writers[0].tokens() + writers[1].tokens()));
            }
            enc.done(seen, splitBytes[0] + splitBytes[1], String.format("%,d tokens", writers[0].tokens() + writers[1].tokens()));
        }
        List<List<Path>> shards = List.of(writers[0].finish(), writers[1].finish());
        Files.delete(spill);
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
        return new Result(j);
    }

    /** What pass 1 leaves behind; the cleaner itself (and its duplicate indexes) is garbage once it returns. */
    private record Cleaned(CorpusReader reader, BadInput bad, CleaningReport report, long[] kept) {}

    private static Cleaned readAndClean(Plan plan, List<Path> files, Path spill, PrintStream log) throws IOException {
        BadInput bad = new BadInput(plan.skipBad);
        CorpusReader reader = new CorpusReader(plan.format, plan.field, bad);
        Cleaner cleaner = new Cleaner(plan.cleaning);
        cleaner.warnings().forEach(w -> log.println("warning: " + w));
        long[] kept = new long[2];
        Ticker ticker = new Ticker(log, "read+clean");
        try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(spill), 1 << 20))) {
            List<Document> batch = new ArrayList<>(BATCH);
            long[] taken = {0};
            IOException[] failure = {null};
            CorpusReader.Sink sink = d -> {
                batch.add(d);
                taken[0]++;
                if (batch.size() == BATCH) {
                    failure[0] = spillBatch(cleaner, batch, plan.split, out, kept);
                    // Files started, or documents against --max-docs, whichever is further along.
                    double fraction = Math.max(Math.max(0, reader.files() - 1) / (double) files.size(), taken[0] / (double) plan.maxDocs);
                    ticker.tick(fraction, taken[0], reader.bytes(), String.format("%,d kept", kept[0] + kept[1]));
                }
                return failure[0] == null && taken[0] < plan.maxDocs;
            };
            reader.read(files, sink);
            if (failure[0] != null) throw failure[0];
            IOException last = spillBatch(cleaner, batch, plan.split, out, kept);
            if (last != null) throw last;
            ticker.done(taken[0], reader.bytes(), String.format("%,d kept", kept[0] + kept[1]));
        }
        return new Cleaned(reader, bad, cleaner.report(), kept);
    }

    /** Cleans a batch and appends the survivors (split side byte, length, UTF-8) to the spill; clears the batch. */
    private static IOException spillBatch(Cleaner cleaner, List<Document> batch, Split split, DataOutputStream out,
                                          long[] kept) {
        try {
            for (Cleaner.Kept k : cleaner.clean(batch)) {
                int side = split.isValidation(k.fingerprint()) ? 1 : 0;
                byte[] b = k.document().text().getBytes(StandardCharsets.UTF_8);
                out.writeByte(side);
                out.writeInt(b.length);
                out.write(b);
                kept[side]++;
            }
            batch.clear();
            return null;
        } catch (IOException e) {
            return e;
        }
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

    /** The training side of the spill as strings, stopping once {@code capBytes} have been handed out. */
    private static final class SpillIterator implements Iterator<String> {
        private final DataInputStream in;
        private final int side;
        private final long cap;
        private long given;
        private String next;

        SpillIterator(Path spill, int side, long capBytes) {
            try {
                in = new DataInputStream(new BufferedInputStream(Files.newInputStream(spill), 1 << 20));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            this.side = side;
            this.cap = capBytes;
            advance();
        }

        private void advance() {
            next = null;
            try {
                while (given < cap) {
                    int s = in.readByte();
                    byte[] b = new byte[in.readInt()];
                    in.readFully(b);
                    if (s != side) continue;
                    given += b.length;
                    next = new String(b, StandardCharsets.UTF_8);
                    return;
                }
                in.close();
            } catch (EOFException e) {
                try { in.close(); } catch (IOException ignored) { /* read-only stream */ }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        @Override
        public boolean hasNext() { return next != null; }

        @Override
        public String next() {
            if (next == null) throw new NoSuchElementException();
            String s = next;
            advance();
            return s;
        }
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

    /**
     * A one-line progress bar, redrawn at most every half second on a terminal (a plain line every 10 s
     * otherwise, so logs stay readable): {@code read+clean [#######.........]  45%   123,456 docs  56.7 MB ...}.
     */
    private static final class Ticker {
        private static final int WIDTH = 24;
        private final PrintStream log;
        private final String what;
        private final boolean tty = System.console() != null;
        private final long start = System.nanoTime();
        private long last = start;

        Ticker(PrintStream log, String what) { this.log = log; this.what = what; }

        /** {@code fraction} of the work done so far; {@code docs} and {@code bytes} processed; {@code detail} the rest. */
        void tick(double fraction, long docs, long bytes, String detail) {
            long now = System.nanoTime();
            if (now - last < (tty ? 500_000_000L : 10_000_000_000L)) return;
            last = now;
            log.print(line(fraction, docs, bytes, detail) + (tty ? "\r" : "\n"));
            log.flush();
        }

        void done(long docs, long bytes, String detail) { log.println(line(1, docs, bytes, detail)); }

        private String line(double fraction, long docs, long bytes, String detail) {
            double s = Math.max(1e-9, (System.nanoTime() - start) / 1e9);
            int filled = (int) Math.round(Math.min(1, fraction) * WIDTH);
            return String.format("%-10s [%s%s] %3.0f%% %,11d docs %,8.1f MB  %s  %6.1f s  %5.1f MB/s", what, "#".repeat(filled),
                    ".".repeat(WIDTH - filled), 100 * Math.min(1, fraction), docs, bytes / 1e6, detail, s, bytes / 1e6 / s);
        }
    }
}
