package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.data.Prepare;
import dev.cramjet.data.Split;
import dev.cramjet.report.ProgressLine;
import dev.cramjet.text.CleaningOptions;
import dev.cramjet.text.Corpora;
import dev.cramjet.text.Format;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * `cramjet prepare`: reads the command line into a {@link Prepare.Plan}, runs {@link Prepare} with its progress on
 * standard error, and prints the summary table.
 */
public final class PrepareCommand implements Command {
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
                  --input PATH...        files, directories or globs ("data/**/*.jsonl"); .gz is decompressed;
                                         a directory gives its text files (.txt .md .html .json .jsonl .eml ...,
                                         or no extension) unless --format says what every file is
                  --format F             txt | lines | jsonl | json | email | brown (default: by file extension);
                                         txt cuts a long text (a book) at paragraph breaks into documents of at
                                         most 2,000 characters
                  --field F              json/jsonl: field path, e.g. text, meta.body, title|rhythmic+paragraphs;
                                         lines: a 1-based tab-separated column; email in .json files: the
                                         field holding the raw message (default text)
                  --max-docs N           read at most N documents (quick runs)
                  --skip-bad             skip and count bad documents instead of stopping at the first
                cleaning (each step is counted in the summary):
                  --normalize FORM       nfc (default) | nfkc (also folds full-width Chinese punctuation) | none
                  --no-controls --no-html --no-whitespace   skip those steps (the html step only touches
                                         documents that look like HTML: closing tags, <br>, <p>, entities)
                  --min-chars N --max-chars N               drop documents outside these lengths (default 1, none)
                  --max-compression R    drop documents that deflate more than R:1, i.e. boilerplate (default 6; 0 off)
                  --no-dedup             keep exact duplicates
                  --near-dup J           drop documents with MinHash similarity >= J to an earlier one (default 0.8; 0 off)
                  --lowercase --stopwords   classic NLP steps; they hurt language models
                tokenizer and shards:
                  --tokenizer PATH       use this tokenizer.json instead of training one
                  --vocab N              vocabulary size to train (default 4096)
                  --tokenizer-bytes N    train on at most this many bytes of text (default 200000000)
                  --val-fraction F       share of the text for validation, by document (default 0.02); with too
                                         few documents for that, the tail of the text; 0: no validation split
                  --seed S               seed of the train/validation split (default 1337)
                  --shard-tokens N       tokens per shard (default 50000000)
                  --out DIR              output directory (default data/NAME, or data/prepared)
                  --force                replace the prepared dataset already in DIR
                """.formatted(String.join(", ", Corpora.names()));
    }

    @Override
    public int run(Args args) throws Exception {
        Prepare.Plan plan = plan(args);
        Map<String, Object> summary = Prepare.run(plan, progress());
        System.out.print(table(summary));
        System.out.println("wrote " + plan.out());
        return 0;
    }

    /** The plan the command line describes; {@link Prepare#run} checks the files and directories it names. */
    static Prepare.Plan plan(Args a) {
        // Flags first: a flag followed by a path (`--skip-bad more.txt`) hands the path back as a positional.
        boolean skipBad = a.flag("skip-bad"), noControls = a.flag("no-controls"), noHtml = a.flag("no-html"),
                noWhitespace = a.flag("no-whitespace"), noDedup = a.flag("no-dedup"), lowercase = a.flag("lowercase"),
                stopWords = a.flag("stopwords"), force = a.flag("force");
        String corpus = a.string("corpus", null), outArg = a.string("out", null);
        List<String> inputs = new ArrayList<>();
        if (a.has("input")) inputs.add(a.required("input"));
        Format format = a.has("format") ? Format.parse(a.required("format")) : null;
        String field = a.string("field", null);
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
        a.finish();
        inputs.addAll(a.positionals());
        if ((corpus == null) == inputs.isEmpty()) {
            throw new CramjetException("give either --corpus NAME (one of " + String.join(", ", Corpora.names())
                    + ") or --input PATH...");
        }
        if (corpus != null) {
            Corpora.Corpus c = Corpora.get(corpus);
            if (format != null || field != null) throw new CramjetException("--format/--field go with --input; corpus " + corpus + " knows its own");
            format = c.format();
            field = c.field();
        }
        Path out = Path.of(outArg != null ? outArg : corpus != null ? "data/" + corpus : "data/prepared");
        return new Prepare.Plan(corpus, inputs, format, field, maxDocs, skipBad, o, tokenizer, vocab, tokBytes, split,
                shardTokens, out, force);
    }

    private static CleaningOptions.Normalization normalization(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "nfc" -> CleaningOptions.Normalization.NFC;
            case "nfkc" -> CleaningOptions.Normalization.NFKC;
            case "none" -> CleaningOptions.Normalization.NONE;
            default -> throw new CramjetException("--normalize expects nfc, nfkc or none, got '" + s + "'");
        };
    }

    /** Shows the pipeline's stages on standard error, one progress line each, and its messages above them. */
    static Prepare.Listener progress() {
        return new Prepare.Listener() {
            private ProgressLine line;
            private String stage;

            @Override
            public void stage(Prepare.Stage s) {
                if (!s.name().equals(stage)) {
                    line = ProgressLine.stderr();
                    stage = s.name();
                }
                double seconds = Math.max(s.seconds(), 1e-9);
                line.update(new ProgressLine.Line(List.of(s.name(), String.format(Locale.ROOT, "%,d docs", s.documents()),
                        String.format(Locale.ROOT, "%,.1f MB", s.bytes() / 1e6), s.detail(),
                        String.format(Locale.ROOT, "%.1f MB/s", s.bytes() / 1e6 / seconds)), s.seconds(), Double.NaN, s.fraction()));
                if (s.done()) {
                    line.finish();
                    stage = null;
                }
            }

            @Override
            public void message(String m) {
                if (stage != null) line.log(m); else System.err.println(m);
            }
        };
    }

    /** The closing summary for the terminal, from the map {@link Prepare#run} returns. */
    @SuppressWarnings("unchecked")
    static String table(Map<String, Object> json) {
        StringBuilder sb = new StringBuilder("\ncleaning:\n");
        Map<String, Object> read = (Map<String, Object>) json.get("read");
        sb.append(String.format("  read %,d documents (%,d bytes) from %,d files; bad skipped: %,d%n",
                read.get("documents"), read.get("bytes"), read.get("files"), read.get("bad_skipped")));
        sb.append(json.get("cleaning_table"));
        for (String split : List.of("train", "val")) {
            Map<String, Object> s = (Map<String, Object>) json.get(split);
            sb.append(String.format("%-5s %,11d docs %,13d bytes %,13d tokens in %d shard(s)%n", split,
                    s.get("documents"), s.get("bytes"), s.get("tokens"), ((List<?>) s.get("shards")).size()));
        }
        Map<String, Object> tok = (Map<String, Object>) json.get("tokenizer");
        sb.append(String.format("tokenizer: %s, vocabulary %,d, %.2f bytes per token%n", tok.get("source"), tok.get("vocab_size"),
                (Double) json.get("bytes_per_token")));
        Map<String, Object> t = (Map<String, Object>) json.get("seconds");
        sb.append(String.format("time: read+clean %.1f s, tokenizer %.1f s, encode+write %.1f s, total %.1f s%n",
                t.get("read_clean"), t.get("tokenizer"), t.get("encode_write"), t.get("total")));
        return sb.toString();
    }
}
