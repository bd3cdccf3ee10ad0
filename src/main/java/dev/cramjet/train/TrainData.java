package dev.cramjet.train;

import dev.cramjet.CramjetException;
import dev.cramjet.Hash;
import dev.cramjet.data.BatchSampler;
import dev.cramjet.data.Batch;
import dev.cramjet.data.Masking;
import dev.cramjet.data.SequentialBatches;
import dev.cramjet.data.TokenShards;
import dev.cramjet.eval.Evaluator;
import dev.cramjet.io.Json;
import dev.cramjet.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A prepared data directory ({@code cramjet prepare}) opened for training: the tokenizer, the train and validation
 * shards (checked against the tokenizer's hash, so shards from another tokenizer are refused by name), and checks
 * that one micro-batch fits in each split. The validation split may be absent (prepared with --val-fraction 0):
 * {@link #val} is then null, and only a run without evaluation can use the data.
 */
public final class TrainData implements AutoCloseable {
    public static final String TOKENIZER = "tokenizer.json";

    public final Path dir;
    public final Tokenizer tokenizer;
    public final TokenShards train;
    public final TokenShards val;

    private TrainData(Path dir, Tokenizer tokenizer, TokenShards train, TokenShards val) {
        this.dir = dir;
        this.tokenizer = tokenizer;
        this.train = train;
        this.val = val;
    }

    public static TrainData open(Path dir) throws IOException {
        if (dir.toString().isEmpty()) throw new CramjetException("data: no data directory given (--data DIR, made by cramjet prepare)");
        if (!Files.isDirectory(dir)) throw new CramjetException(dir + ": data directory not found (make one with cramjet prepare)");
        Path tf = dir.resolve(TOKENIZER);
        if (!Files.isRegularFile(tf)) throw new CramjetException(tf + ": missing (a prepared data directory holds its tokenizer)");
        Tokenizer tok = Tokenizer.load(tf);
        TokenShards train = TokenShards.open(dir, "train", tok.hash());
        try {
            TokenShards val = TokenShards.exist(dir, "val") ? TokenShards.open(dir, "val", tok.hash()) : null;
            if (train.vocabSize() != tok.vocabSize()) {
                throw new CramjetException(dir + ": shards declare a vocabulary of " + train.vocabSize() + ", the tokenizer has " + tok.vocabSize());
            }
            return new TrainData(dir, tok, train, val);
        } catch (RuntimeException e) {
            train.close();
            throw e;
        }
    }

    /**
     * Refuses a micro-batch that the training split cannot fill, and — when the run evaluates — one that the
     * validation split cannot fill, saying what to do instead.
     */
    public void checkFits(int batch, int context, boolean evaluating) {
        long need = (long) batch * (context + 1);
        long windows = new BatchSampler(train, 1, context, 0).windows();
        if (windows < batch) {
            throw new CramjetException("batch: " + batch + " sequences of " + context + " tokens need " + need
                    + " training tokens, but " + dir + " holds " + train.tokens() + " (" + windows + " windows); lower --batch or --context");
        }
        if (!evaluating || validationFits(batch, context)) return;
        if (val == null) {
            throw new CramjetException(dir + ": no validation shards (val_NNN.bin): it was prepared without a validation split"
                    + " (--val-fraction 0, or too little text). Train without evaluation (--eval-minutes 0, and no --eval-every"
                    + " or --patience), or run `cramjet prepare` again with --val-fraction above 0");
        }
        throw new CramjetException("batch: " + batch + " sequences of " + context + " tokens need " + need
                + " validation tokens, but " + dir + " holds " + val.tokens() + "; lower --batch or --context, or train without"
                + " evaluation (--eval-minutes 0)");
    }

    /** Whether the validation split exists and fills at least one micro-batch. */
    public boolean validationFits(int batch, int context) {
        return val != null && new SequentialBatches(val, batch, context).windows() >= batch;
    }

    /** Training micro-batches in the sampler's seeded order; the position is the whole state. */
    public Batches batches(int batch, int context, long seed) {
        BatchSampler s = new BatchSampler(train, batch, context, seed);
        return new Batches() {
            @Override public void next(Batch b) { s.next(b.tokens, b.targets); }

            @Override public void skip(long count) { s.seek(s.position() + count); }

            @Override
            public Map<String, Object> state() {
                BatchSampler.State st = s.state();
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("seed", st.seed());
                m.put("batch", (long) st.batch());
                m.put("seq", (long) st.seq());
                m.put("windows", st.windows());
                m.put("position", st.position());
                return m;
            }

            @Override
            public void restore(Map<String, Object> m, String w) {
                s.restore(new BatchSampler.State(Json.integer(m.get("seed"), w + ".seed"), (int) Json.integer(m.get("batch"), w + ".batch"),
                        (int) Json.integer(m.get("seq"), w + ".seq"), Json.integer(m.get("windows"), w + ".windows"),
                        Json.integer(m.get("position"), w + ".position")));
            }
        };
    }

    /**
     * Masked-language-model batches: the training windows in the sampler's order, each sequence started with
     * end-of-text (the [CLS] position a classifier later reads) and masked as {@code masking} says. Batch k is
     * masked with a seed drawn from (seed, k), so the position is still the whole state.
     */
    public Batches maskedBatches(int batch, int context, long seed, Masking masking) {
        Batches windows = batches(batch, context, seed);
        int cls = train.eot();
        return new Batches() {
            private long served;

            @Override
            public void next(Batch b) {
                windows.next(b);
                mask(b, cls, masking, Hash.mix(seed ^ Hash.mix(++served)));
            }

            @Override
            public Map<String, Object> state() {
                Map<String, Object> m = new LinkedHashMap<>(windows.state());
                m.put("masked", served);
                return m;
            }

            @Override
            public void restore(Map<String, Object> m, String where) {
                windows.restore(m, where);
                served = Json.integer(m.get("masked"), where + ".masked");
            }
        };
    }

    /** The validation split masked the same way at every evaluation (batch k with a seed from k alone). */
    public Evaluator.Source maskedValidation(int batch, int context, Masking masking) {
        Evaluator.Source windows = validation(batch, context);
        int cls = train.eot();
        return new Evaluator.Source() {
            private long served;

            @Override
            public void reset() {
                windows.reset();
                served = 0;
            }

            @Override
            public boolean next(Batch b) {
                if (!windows.next(b)) return false;
                mask(b, cls, masking, Hash.mix(VALIDATION_SEED + ++served));
                return true;
            }
        };
    }

    /** Fixed, so that every run's validation masks are the same. */
    private static final long VALIDATION_SEED = 0x6D61736B65645F76L;

    private static void mask(Batch b, int cls, Masking masking, long seed) {
        for (int s = 0; s < b.batch; s++) b.tokens[s * b.seq] = cls;
        masking.apply(b.tokens, b.targets, b.tokens.length, seed);
    }

    /** The validation split from its start, whole batches only. */
    public Evaluator.Source validation(int batch, int context) {
        SequentialBatches s = new SequentialBatches(val, batch, context);
        return new Evaluator.Source() {
            @Override public void reset() { s.reset(); }

            @Override public boolean next(Batch b) { return s.next(b.tokens, b.targets) == batch; }
        };
    }

    /** UTF-8 bytes per token id, 0 for special tokens (they stand for no text), for bits per byte. */
    public int[] tokenBytes() { return Evaluator.tokenBytes(tokenizer); }

    @Override
    public void close() {
        train.close();
        if (val != null) val.close();
    }
}
