package dev.cramjet.nn;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.DecodeStep;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Tensor;
import dev.cramjet.nn.Parameters.Group;
import dev.cramjet.nn.Parameters.Init;
import dev.cramjet.nn.Parameters.Kind;

import java.util.Arrays;

/**
 * A GPT decoder, in the spirit of nanoGPT:
 * <pre>
 *   x = drop(wte[tokens] + wpe[t])                          (no wpe with RoPE)
 *   for each block:  x = x + drop(attn(norm1(x)))           causal; padding masked
 *                    x = x + drop(mlp(norm2(x)))
 *   loss = head(norm_f(x))                                  the LM head (tied to wte, or its own), or a classifier
 * </pre>
 *
 * <h2>Memory</h2>
 * Parameters and gradients are {@link Parameters}: one buffer each, gradients only for the trained groups.
 * Activations are allocated once for (batch, seq): the residual stream at each block's input, and what each layer
 * keeps for its backward pass; norm outputs and the MLP activation are recomputed into the {@link Workspace}.
 * A step allocates nothing on the device.
 *
 * <h2>Generation</h2>
 * {@link #session} decodes with a KV cache through the same blocks (their {@code decode}) and the LM head.
 */
public final class GPT extends Model {
    private final GPTConfig cfg;
    /** The LM head's layer (tied to the token embedding, or its own), which decoding uses. */
    private final Linear lmHead;

    /** A GPT that trains every parameter, with the language-model head. */
    public GPT(Backend backend, GPTConfig config, int batch, int seq, long seed) {
        this(backend, config, batch, seq, seed, Options.TRAIN);
    }

    /** The LM head is declared even under a classifier: it is part of the pretrained base, and decoding uses it. */
    public GPT(Backend backend, GPTConfig config, int batch, int seq, long seed, Options options) {
        super(backend, config.shape(), batch, seq, options, true);
        cfg = config;
        int vocab = cfg.vocabSize(), c = cfg.nEmbd();
        lmHead = cfg.tiedEmbeddings() ? new Linear(be, trunk.embed.tokens, null)
                : new Linear(be, params.add("lm_head.weight", Group.BASE, Kind.MATRIX,
                        new Init.Normal(0.02, (long) vocab * c), true, cfg.paddedVocab(), c), null);
        complete(options.classes() > 0 ? classifier()
                : new Head(be, lmHead, options.pooling(), vocab, batch, seq, options.trainable()), seed);
    }

    public GPTConfig config() { return cfg; }

    // ---- inference with a KV cache ---------------------------------------------------------------------------

    /**
     * A batch-1 generation session holding up to {@code maxTokens} positions of keys and values per layer (a
     * prompt's virtual tokens take the first of them).
     */
    public Session session(int maxTokens) { return new Session(maxTokens); }

    /**
     * A decoding batch: {@code slots} independent sequences of up to {@code context} positions each, of which a
     * step runs up to {@code rows} new tokens in all (see {@link Batch}).
     */
    public Batch batch(int slots, int context, int rows) { return new Batch(slots, context, rows); }

    /**
     * Incremental decoding of one sequence: each {@link #next} call runs only the new tokens, attending to the
     * cached keys and values of everything before them — a one-slot {@link Batch}. Buffers are allocated once per
     * session (reuse it with {@link #reset}). Dropout is always off. With a {@link Prompt}, the virtual tokens
     * take the first positions, as the training forward has them at the start of every sequence.
     */
    public final class Session {
        private final Batch one;
        private final int virtual;

        private Session(int maxTokens) {
            virtual = trunk.virtual;
            if (maxTokens < 1 + virtual) {
                throw new CramjetException("session length must be at least " + (1 + virtual) + " (" + virtual
                        + " positions hold the virtual tokens), got " + maxTokens);
            }
            one = new Batch(1, maxTokens, maxTokens);
        }

        /** Real tokens processed so far (the virtual ones not counted). */
        public int position() { return Math.max(0, one.position(0) - virtual); }

        /** How many real tokens the session holds. */
        public int capacity() { return one.context() - virtual; }

        /** Forgets the cached tokens; the buffers are kept. */
        public void reset() { one.reset(0); }

        /** Runs {@code newTokens} after the tokens so far and returns the last one's logits [V]. */
        public float[] next(int[] newTokens) {
            if (newTokens.length == 0) throw new IllegalArgumentException("next() needs at least one token");
            one.add(0, newTokens, 0, newTokens.length);
            one.run();
            return Arrays.copyOf(one.logits(0), cfg.vocabSize());
        }
    }

    /**
     * Continuous batching: many sequences ("slots"), each with its own position and per-layer KV cache, decoded
     * together. A step is a list of entries — some tokens of one slot at that slot's position: one token of a
     * sequence being generated, or a chunk of a prompt — added with {@link #add}, then {@link #run} passes all of
     * them through the model in one forward: every matmul (the memory-bound part of decoding: each weight is read
     * once per step, not once per sequence) runs over all the step's rows; RoPE and attention run per entry on its
     * rows and its slot's cache at its own position. Sequences join and leave between steps ({@link #reset}).
     *
     * <p>Each entry's result is the logits of its last token. The rows of one entry are computed exactly as a
     * {@link Session} would compute them: bit for bit on the CPU, whose products sum each element in one order
     * whatever the row count (so a sequence's tokens do not depend on what it shares a step with); on a GPU up to
     * the rounding a matmul's row count may change. Buffers are allocated once; a step allocates nothing but
     * checks its input. Not thread-safe: one thread drives the batch.
     */
    public final class Batch {
        private final int slots, context, rows, c, vp;
        private final Tensor tok, x, segments, gathered, logitRows;
        private final Workspace scratch;
        /** caches[layer]: every slot's keys and values, [slots, context, A] (A the attention width). */
        private final Attention.Cache[] caches;
        private final int[] positions, hostTokens, hostSegments;
        /** Each entry's logits row [Vp], downloaded by {@link #run}. */
        private final float[][] hostLogits;
        /** The step being built: entry e runs hostTokens[first[e], first[e] + count[e]) for slot[e]. */
        private final DecodeStep step;

        private Batch(int slots, int context, int rows) {
            if (context < 1 || context > cfg.blockSize()) {
                throw new CramjetException("session length must be in [1, block_size = " + cfg.blockSize() + "], got " + context);
            }
            if (slots < 1) throw new CramjetException("a decoding batch needs at least one slot, got " + slots);
            if (rows < 1) throw new CramjetException("a decoding step needs room for at least one token, got " + rows);
            if (head().pooling() != Head.Pooling.ALL && head().pooling() != Head.Pooling.TARGETS) {
                throw new CramjetException("a classifier does not generate text: sessions need the language-model head");
            }
            this.slots = slots;
            this.context = context;
            this.rows = rows;
            c = cfg.nEmbd();
            vp = cfg.paddedVocab();
            int entries = Math.min(slots, rows);
            LoRA.Spec lora = options.lora();
            scratch = new Workspace(be, rows, c, cfg.attnWidth(), cfg.mlpHidden(), cfg.fcWidth(),
                    cfg.mlp() == GPTConfig.Mlp.GELU, lora == null ? 0 : lora.rank(), 0, false, true, false);
            tok = be.alloc(DType.I32, rows);
            x = be.alloc(be.computeType(), rows, c);
            segments = be.alloc(DType.I32, entries, 2);
            gathered = be.alloc(be.computeType(), entries, c);
            logitRows = be.alloc(be.computeType(), entries, vp);
            hostLogits = new float[entries][vp];
            hostTokens = new int[rows];
            hostSegments = new int[2 * entries];
            positions = new int[slots];
            step = new DecodeStep(entries);
            caches = new Attention.Cache[trunk.blocks.length];
            for (int l = 0; l < caches.length; l++) caches[l] = trunk.blocks[l].attn.cache(slots, context);
        }

        public int slots() { return slots; }

        /** Positions each slot holds. */
        public int context() { return context; }

        /** Tokens one step can run, over all its entries. */
        public int rows() { return rows; }

        /** Tokens the step being built holds so far. */
        public int queued() { return step.rows(); }

        /** Positions slot {@code s} holds, virtual tokens included (the position its next token takes). */
        public int position(int s) { return positions[checkSlot(s)]; }

        /** Empties slot {@code s} for a new sequence (its buffers are kept). */
        public void reset(int s) { positions[checkSlot(s)] = 0; }

        /**
         * Adds an entry to the next step: {@code ids[from, to)} for slot {@code s} at its position. A slot appears
         * at most once per step. Returns the entry's index, which {@link #logits} takes after {@link #run}.
         */
        public int add(int s, int[] ids, int from, int to) {
            checkSlot(s);
            if (to - from < 1) throw new IllegalArgumentException("an entry needs at least one token, got [" + from + ", " + to + ")");
            // A slot's first entry starts with the virtual tokens (prompt or prefix tuning): placeholder ids, as the
            // embedding and the attention take those positions' rows from the adapter.
            int virtual = positions[s] == 0 ? trunk.virtual : 0, n = virtual + to - from;
            if (step.rows() + n > rows) {
                throw new CramjetException("a decoding step holds " + rows + " tokens: " + step.rows() + " + " + n + " do not fit");
            }
            if (positions[s] + n > context) {
                throw new CramjetException("generation session is full: " + positions[s] + " + " + n
                        + " tokens exceed its " + context + " positions");
            }
            for (int e = 0; e < step.entries(); e++) {
                if (step.seq(e) == s) throw new IllegalArgumentException("slot " + s + " is already in this step");
            }
            int vocab = cfg.vocabSize();
            for (int i = from; i < to; i++) {
                if (ids[i] < 0 || ids[i] >= vocab) {
                    throw new CramjetException("token id " + ids[i] + " is outside the vocabulary [0, " + vocab + ")");
                }
            }
            Arrays.fill(hostTokens, step.rows(), step.rows() + virtual, 0);
            System.arraycopy(ids, from, hostTokens, step.rows() + virtual, n - virtual);
            return step.add(s, positions[s], n);
        }

        /**
         * Runs the step: every entry's tokens through the model in one forward, their keys and values into their
         * slots' caches, each slot's position advanced. Returns the number of entries, whose logits are ready.
         */
        public int run() {
            int n = step.rows(), entries = step.entries();
            if (entries == 0) throw new IllegalStateException("run() on an empty step");
            Tensor t = tok.view(0, n), xs = x.view(0, n, c);
            be.upload(tok, hostTokens);
            for (int e = 0; e < entries; e++) {
                int first = step.first(e), count = step.count(e);
                trunk.embed.forward(xs.view((long) first * c, 1, count, c), t.view(first, 1, count), step.pos(e));
                hostSegments[2 * e] = first + count - 1;
                hostSegments[2 * e + 1] = 1;
            }
            for (int l = 0; l < trunk.blocks.length; l++) trunk.blocks[l].decode(xs, caches[l], step, scratch);
            // Only each entry's last token needs logits: gather those rows, then the final norm and the head.
            Tensor seg = segments.view(0, entries, 2), last = gathered.view(0, entries, c);
            be.upload(segments, hostSegments);
            be.pool(last, xs, seg);
            Tensor h = trunk.lnF.decode(last, scratch), out = logitRows.view(0, entries, vp);
            be.matmul(out, h, lmHead.weight.value(), null, Epilogue.NONE);
            for (int e = 0; e < entries; e++) be.download(out.slice(e), hostLogits[e]);
            for (int e = 0; e < entries; e++) positions[step.seq(e)] += step.count(e);
            step.clear();
            return entries;
        }

        /** Drops the entries added since the last {@link #run} (the caller gave up on the step). */
        public void clear() { step.clear(); }

        /**
         * Entry {@code e}'s logits from the last {@link #run}: [Vp], columns past the vocabulary being padding. The
         * batch's own buffer, overwritten by the next run.
         */
        public float[] logits(int e) {
            if (e < 0 || e >= hostLogits.length) throw new IllegalArgumentException("entry " + e + " is not in [0, " + hostLogits.length + ")");
            return hostLogits[e];
        }

        private int checkSlot(int s) {
            if (s < 0 || s >= slots) throw new IllegalArgumentException("slot " + s + " is not in [0, " + slots + ")");
            return s;
        }
    }
}
