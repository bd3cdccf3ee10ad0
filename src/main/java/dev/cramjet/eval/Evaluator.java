package dev.cramjet.eval;

import dev.cramjet.data.Batch;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Loss, perplexity and bits per byte over the validation split. Every evaluation reads the same first
 * {@code maxTokens} validation tokens, so numbers from different steps compare. Bits per byte,
 * loss·tokens / (ln 2 · bytes), with bytes the UTF-8 length of the target tokens' text, compares models with
 * different tokenizers.
 */
public final class Evaluator {
    /** Mean cross-entropy (nats) of one batch in evaluation mode: no dropout, no gradients. */
    @FunctionalInterface
    public interface Model {
        float loss(Batch batch);
    }

    /** Validation batches from the start of the split; {@link #reset} starts over. */
    public interface Source {
        void reset();

        /** Fills the next batch; false when the split is exhausted. */
        boolean next(Batch batch);
    }

    public record Result(double loss, double perplexity, double bitsPerByte, long tokens, long bytes) implements Validation {
        @Override
        public Map<String, Object> metrics() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("val_loss", loss);
            m.put("val_ppl", perplexity);
            m.put("val_bpb", bitsPerByte);
            return m;
        }

        @Override
        public String describe() {
            return String.format(Locale.ROOT, "loss %.4f, perplexity %.2f, %.3f bits per byte", loss, perplexity, bitsPerByte);
        }
    }

    private final Source source;
    private final long maxTokens;
    private final int[] tokenBytes;
    private final Batch batch;

    /**
     * @param tokenBytes UTF-8 bytes each token id stands for (0 for special tokens such as end-of-text)
     */
    public Evaluator(Source source, int batch, int context, long maxTokens, int[] tokenBytes) {
        if (maxTokens < (long) batch * context) {
            throw new IllegalArgumentException("eval-tokens " + maxTokens + " is less than one batch of " + (long) batch * context);
        }
        this.source = source;
        this.maxTokens = maxTokens;
        this.tokenBytes = tokenBytes;
        this.batch = new Batch(batch, context);
    }

    public Result run(Model model) { return result(sums(model, 0, 1)); }

    /**
     * This rank's share of an evaluation when {@code ranks} processes split it: the batches i with
     * i mod ranks = rank. Returns {nats, tokens, bytes}; the ranks' sums added give the whole evaluation's, which
     * {@link #result} turns into a Result.
     */
    public double[] sums(Model model, int rank, int ranks) {
        source.reset();
        double nats = 0;
        long n = 0, bytes = 0, read = 0;
        int size = batch.tokens.length;
        for (long i = 0; read + size <= maxTokens && source.next(batch); i++, read += size) {
            if (i % ranks != rank) continue;
            nats += (double) model.loss(batch) * size;
            n += size;
            for (int t : batch.targets) bytes += tokenBytes[t];
        }
        return new double[] {nats, n, bytes};
    }

    /** Loss, perplexity and bits per byte from {nats, tokens, bytes}. */
    public static Result result(double[] sums) {
        double nats = sums[0], n = sums[1], bytes = sums[2];
        if (n == 0) throw new IllegalStateException("the validation split holds less than one batch");
        double loss = nats / n;
        return new Result(loss, Math.exp(loss), bytes == 0 ? Double.NaN : nats / (Math.log(2) * bytes), (long) n, (long) bytes);
    }
}
