package dev.cramjet.eval;

import dev.cramjet.data.Batch;
import dev.cramjet.tokenizer.Tokenizer;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Loss, perplexity and bits per byte over the validation split. Every evaluation reads the same first
 * {@code maxTokens} validation positions, so numbers from different steps compare. Only scored targets count
 * (a fine-tune's prompts and padding carry ignored targets): the loss is the mean over them, and bits per byte,
 * loss·tokens / (ln 2 · bytes), with bytes the UTF-8 length of the target tokens' text, compares models with
 * different tokenizers. Only scored targets count (a masked language model scores the masked positions, a target
 * of −1 is not scored); a model that reports which targets its top logit got right adds the accuracy.
 */
public final class Evaluator {
    /** Mean cross-entropy (nats) over the scored targets of one batch in evaluation mode: no dropout, no gradients. */
    @FunctionalInterface
    public interface Model {
        float loss(Batch batch);

        /** How many of the last {@link #loss} batch's scored targets the top logit predicted; −1: not measured. */
        default long correct() { return -1; }
    }

    /** Validation batches from the start of the split; {@link #reset} starts over. */
    public interface Source {
        void reset();

        /** Fills the next batch; false when the split is exhausted. */
        boolean next(Batch batch);
    }

    /**
     * An evaluation's figures: the mean loss over {@code tokens} scored targets, its perplexity, bits per byte (NaN
     * when unknown), and the share of targets the top logit got right ({@code accuracy}: NaN when the model does not
     * report one).
     */
    public record Result(double loss, double perplexity, double bitsPerByte, long tokens, long bytes, double accuracy) implements Validation {
        @Override
        public Map<String, Object> metrics() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("val_loss", loss);
            m.put("val_ppl", perplexity);
            m.put("val_bpb", bitsPerByte);
            if (!Double.isNaN(accuracy)) m.put("val_accuracy", accuracy);
            return m;
        }

        @Override
        public String describe() {
            String s = String.format(Locale.ROOT, "loss %.4f, perplexity %.2f", loss, perplexity);
            if (Double.isFinite(bitsPerByte)) s += String.format(Locale.ROOT, ", %.3f bits per byte", bitsPerByte);
            return Double.isNaN(accuracy) ? s : s + String.format(Locale.ROOT, ", accuracy %.2f%%", 100 * accuracy);
        }
    }

    private final Source source;
    private final long maxTokens;
    private final int[] tokenBytes;
    private final Batch batch;

    /**
     * Language-model windows of batch × context tokens.
     *
     * @param tokenBytes UTF-8 bytes each token id stands for (0 for special tokens such as end-of-text)
     */
    public Evaluator(Source source, int batch, int context, long maxTokens, int[] tokenBytes) {
        this(source, new Batch(batch, context), maxTokens, tokenBytes);
    }

    /**
     * Batches of the given shape (padded ones too), filled by {@code source}.
     *
     * @param tokenBytes UTF-8 bytes per token id, or null when the targets are not tokens (bits per byte is NaN)
     */
    public Evaluator(Source source, Batch batch, long maxTokens, int[] tokenBytes) {
        if (maxTokens < batch.tokens.length) {
            throw new IllegalArgumentException("eval-tokens " + maxTokens + " is less than one batch of " + batch.tokens.length);
        }
        this.source = source;
        this.maxTokens = maxTokens;
        this.tokenBytes = tokenBytes;
        this.batch = batch;
    }

    /** UTF-8 bytes per token id, 0 for special tokens (they stand for no text): bits per byte's denominator. */
    public static int[] tokenBytes(Tokenizer tokenizer) {
        int[] b = new int[tokenizer.vocabSize()];
        for (int id = 0; id < b.length; id++) b[id] = tokenizer.token(id).length;
        for (int id : tokenizer.specials().values()) b[id] = 0;
        return b;
    }

    public Result run(Model model) { return result(sums(model, 0, 1)); }

    /**
     * This rank's share of an evaluation when {@code ranks} processes split it: the batches i with
     * i mod ranks = rank. Returns {nats, tokens, bytes, correct} (correct NaN when the model does not count them);
     * the ranks' sums added give the whole evaluation's, which {@link #result} turns into a Result.
     */
    public double[] sums(Model model, int rank, int ranks) {
        source.reset();
        double nats = 0;
        long read = 0, n = 0, bytes = 0, correct = 0;
        boolean measured = true;
        int size = batch.tokens.length;
        for (long i = 0; read + size <= maxTokens && source.next(batch); i++) {
            read += size;
            if (i % ranks != rank) continue;
            int scored = 0;
            for (int t : batch.targets) {
                if (t < 0) continue;
                scored++;
                if (tokenBytes != null) bytes += tokenBytes[t];
            }
            if (scored == 0) continue;
            nats += (double) model.loss(batch) * scored;
            n += scored;
            long right = model.correct();
            measured &= right >= 0;
            correct += right;
        }
        return new double[] {nats, n, bytes, measured ? correct : Double.NaN};
    }

    /** Loss, perplexity, bits per byte and accuracy from {@link #sums}, added over the ranks that shared the pass. */
    public Result result(double[] sums) {
        double nats = sums[0], n = sums[1], bytes = sums[2];
        if (n == 0) throw new IllegalStateException("the validation split holds no scored target in its first " + maxTokens + " positions");
        double loss = nats / n;
        return new Result(loss, Math.exp(loss), bytes == 0 ? Double.NaN : nats / (Math.log(2) * bytes), (long) n, (long) bytes,
                sums[3] / n);
    }
}
