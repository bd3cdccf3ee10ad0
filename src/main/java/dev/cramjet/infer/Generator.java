package dev.cramjet.infer;

import dev.cramjet.CramjetException;
import dev.cramjet.nn.GPT;
import dev.cramjet.tokenizer.Tokenizer;

import java.util.Arrays;
import java.util.function.Consumer;

/**
 * Text generation: prompt → tokens → the model, one token at a time → the sampler → text streamed to a consumer as
 * it comes (only whole characters: see {@link Utf8Stream}). Generation stops at the end-of-text token or after
 * {@code maxTokens}.
 *
 * <p>Two ways to get the next token's logits:
 * <ul>
 * <li><b>cached</b> (the normal way): a {@link GPT.Session} keeps every layer's keys and values, so each new token
 *     costs one token's forward pass. The session is allocated once, for the model's block size, and reused by
 *     every {@link #generate} call. When the context fills the block, the session is refilled with the last half
 *     of the context (a "context shift") and generation goes on.</li>
 * <li><b>uncached</b> (the reference): the full forward pass over the whole context — the last {@code model.seq()}
 *     tokens — for every new token. It needs a batch-1 model; causal attention means the padding after the
 *     context cannot change the logits read at its last position. Within the block size both ways compute the same
 *     function, so at temperature 0 they produce the same tokens (the test of the KV cache).</li>
 * </ul>
 * An empty prompt starts from the end-of-text token, the way GPT-2 samples unconditionally. A model with a
 * prompt's virtual tokens (prompt or prefix tuning) has them in front of every context, both ways. Not thread-safe.
 * Backends allocate without freeing, so make one generator per model and reuse it (a trainer sampling at every
 * evaluation holds one). The cached way leaves the model's own training buffers and dropout setting untouched;
 * the uncached way switches the model to eval mode.
 */
public final class Generator {
    /** Why generation stopped. */
    public enum Stop { END_OF_TEXT, MAX_TOKENS }

    /**
     * The outcome: the generated token ids (the prompt's not included; end-of-text not included), their text,
     * the prompt's token count, and timings: the prompt's forward pass (prefill), then generation proper.
     */
    public record Result(int[] tokens, String text, int promptTokens, Stop stop, double prefillSeconds,
                         double generateSeconds) {
        /** Generated tokens per second, prefill excluded (the first token's logits come from the prefill). */
        public double tokensPerSecond() { return generateSeconds > 0 ? tokens.length / generateSeconds : Double.NaN; }

        /** Prompt tokens per second in the prefill. */
        public double prefillTokensPerSecond() { return prefillSeconds > 0 ? promptTokens / prefillSeconds : Double.NaN; }
    }

    private final GPT model;
    private final Tokenizer tokenizer;
    private final GPT.Session session;
    /** The longest context of real tokens. */
    private final int block;
    /** Virtual tokens in front of every context (uncached mode puts placeholders there). */
    private final int virtual;
    /** Uncached mode: the padded token window fed to the full forward pass. */
    private final int[] window;

    /**
     * @param cached true for the KV-cache session; false for the full forward pass per token (the model must then
     *               have batch 1, and its seq is the context window)
     */
    public Generator(GPT model, Tokenizer tokenizer, boolean cached) {
        this.model = model;
        this.tokenizer = tokenizer;
        int vocab = model.config().vocabSize();
        if (tokenizer.vocabSize() > vocab) {
            throw new CramjetException("the tokenizer has " + tokenizer.vocabSize() + " tokens but the model only "
                    + vocab + ": they do not belong together");
        }
        virtual = model.virtualTokens();
        if (cached) {
            session = model.session(model.config().blockSize());
            block = session.capacity();
            window = null;
        } else {
            if (model.batch() != 1) throw new IllegalArgumentException("uncached generation needs a batch-1 model, got batch " + model.batch());
            block = model.seq() - virtual;
            session = null;
            window = new int[model.seq()];
        }
    }

    /** The longest context of real tokens the model sees (prompt and generated text together). */
    public int capacity() { return block; }

    /**
     * Generates up to {@code maxTokens} tokens after {@code prompt}, passing text to {@code out} as soon as it forms
     * whole characters (the prompt itself is not passed). {@code out} may be null. The sampler's vocabulary is
     * normally the tokenizer's: a model may have more output rows than the tokenizer has tokens, never fewer.
     */
    public Result generate(String prompt, int maxTokens, Sampler sampler, Consumer<String> out) {
        return generate(prompt.isEmpty() ? new int[] {tokenizer.eot()} : tokenizer.encode(prompt), maxTokens, sampler, out);
    }

    /**
     * Generates after the token ids {@code promptIds} (at least one), e.g. a conversation laid out by a chat
     * template; otherwise as {@link #generate(String, int, Sampler, Consumer)}.
     */
    public Result generate(int[] promptIds, int maxTokens, Sampler sampler, Consumer<String> out) {
        if (maxTokens < 0) throw new CramjetException("max tokens must be >= 0, got " + maxTokens);
        if (promptIds.length == 0) throw new IllegalArgumentException("generation needs at least one prompt token");
        if (sampler.vocab() > tokenizer.vocabSize()) {
            throw new IllegalArgumentException("the sampler draws from " + sampler.vocab() + " ids but the tokenizer has "
                    + tokenizer.vocabSize() + " tokens");
        }
        int[] context = Arrays.copyOf(promptIds, promptIds.length + maxTokens);
        int length = promptIds.length;
        Utf8Stream utf8 = new Utf8Stream();
        StringBuilder text = new StringBuilder();
        if (session == null) model.eval(); // the session never uses dropout; the full forward pass must not either

        long t0 = System.nanoTime();
        float[] logits = maxTokens == 0 ? null : prefill(context, length);
        long t1 = System.nanoTime();
        Stop stop = Stop.MAX_TOKENS;
        int generated = 0;
        while (generated < maxTokens) {
            int id = sampler.sample(logits, context, promptIds.length, length);
            if (id == tokenizer.eot()) { stop = Stop.END_OF_TEXT; break; }
            context[length++] = id;
            generated++;
            String piece = utf8.feed(tokenizer.token(id));
            emit(piece, text, out);
            if (generated < maxTokens) logits = advance(context, length);
        }
        // At end of text a dangling sequence is bad output and shows as U+FFFD; a character the token limit cut in
        // half is not, so it is left out rather than printed as a replacement character.
        if (stop == Stop.END_OF_TEXT) emit(utf8.finish(), text, out);
        long t2 = System.nanoTime();
        int[] tokens = Arrays.copyOfRange(context, promptIds.length, length);
        return new Result(tokens, text.toString(), promptIds.length, stop, (t1 - t0) / 1e9, (t2 - t1) / 1e9);
    }

    private static void emit(String piece, StringBuilder text, Consumer<String> out) {
        if (piece.isEmpty()) return;
        text.append(piece);
        if (out != null) out.accept(piece);
    }

    /** Logits after the whole prompt: the last {@code block} tokens of it. */
    private float[] prefill(int[] context, int length) {
        if (session == null) return forwardLast(context, length);
        session.reset();
        int from = Math.max(0, length - block);
        return session.next(Arrays.copyOfRange(context, from, length));
    }

    /** Logits after the token just appended at context[length - 1]. */
    private float[] advance(int[] context, int length) {
        if (session == null) return forwardLast(context, length);
        if (session.position() < block) return session.next(new int[] {context[length - 1]});
        // The block is full: start over from the last half of the context.
        session.reset();
        return session.next(Arrays.copyOfRange(context, length - block / 2 - 1, length));
    }

    /** The full forward pass over the last {@code block} tokens (after the virtual ones); the logits at the last of them. */
    private float[] forwardLast(int[] context, int length) {
        int n = Math.min(length, block);
        System.arraycopy(context, length - n, window, virtual, n);
        Arrays.fill(window, virtual + n, window.length, 0); // after the context: never attended to by position n - 1
        model.forward(window, null);
        return model.logitsAt(virtual + n - 1);
    }
}
