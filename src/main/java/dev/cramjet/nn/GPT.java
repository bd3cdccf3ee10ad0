package dev.cramjet.nn;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
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
    /** The LM head's layer (tied to the token embedding, or its own), which decoding uses. */
    private final Linear lmHead;

    /** A GPT that trains every parameter, with the language-model head. */
    public GPT(Backend backend, GPTConfig config, int batch, int seq, long seed) {
        this(backend, config, batch, seq, seed, Options.TRAIN);
    }

    /** The LM head is declared even under a classifier: it is part of the pretrained base, and decoding uses it. */
    public GPT(Backend backend, GPTConfig config, int batch, int seq, long seed, Options options) {
        super(backend, config, batch, seq, options, true);
        int vocab = cfg.vocabSize(), c = cfg.nEmbd();
        lmHead = cfg.tiedEmbeddings() ? new Linear(be, trunk.embed.tokens, null)
                : new Linear(be, params.add("lm_head.weight", Group.BASE, Kind.MATRIX,
                        new Init.Normal(0.02, (long) vocab * c), true, cfg.paddedVocab(), c), null);
        complete(options.classes() > 0 ? classifier()
                : new Head(be, lmHead, options.pooling(), vocab, batch, seq, options.trainable()), seed);
    }

    // ---- inference with a KV cache ---------------------------------------------------------------------------

    /**
     * A batch-1 generation session holding up to {@code maxTokens} positions of keys and values per layer (a
     * prompt's virtual tokens take the first of them).
     */
    public Session session(int maxTokens) { return new Session(maxTokens); }

    /**
     * Incremental decoding through the same blocks: each {@link #next} call runs only the new tokens, attending
     * to the cached keys and values of everything before them. Buffers are allocated once per session (reuse it
     * with {@link #reset}). Dropout is always off. With a {@link Prompt}, the first call after a reset runs the
     * virtual tokens first, as the training forward has them at the start of every sequence.
     */
    public final class Session {
        private final int max, c, virtual;
        private final Tensor tok, x, logitRow;
        private final Workspace scratch;
        private final Attention.Cache[] caches;
        private final float[] hostLogits;
        /** Positions filled, virtual ones included. */
        private int pos;

        private Session(int maxTokens) {
            virtual = trunk.virtual;
            if (maxTokens < 1 + virtual || maxTokens > cfg.blockSize()) {
                throw new CramjetException("session length must be in [" + (1 + virtual) + ", block_size = " + cfg.blockSize() + "], got " + maxTokens
                        + (virtual > 0 ? " (" + virtual + " positions hold the virtual tokens)" : ""));
            }
            if (head().pooling() != Head.Pooling.ALL && head().pooling() != Head.Pooling.TARGETS) {
                throw new CramjetException("a classifier does not generate text: sessions need the language-model head");
            }
            max = maxTokens;
            c = cfg.nEmbd();
            LoRA.Spec lora = options.lora();
            scratch = new Workspace(be, maxTokens, c, cfg.mlpHidden(), cfg.fcWidth(), cfg.mlp() == GPTConfig.Mlp.GELU,
                    lora == null ? 0 : lora.rank(), 0, false, true);
            tok = be.alloc(DType.I32, maxTokens);
            x = be.alloc(be.computeType(), maxTokens, c);
            logitRow = be.alloc(be.computeType(), 1, cfg.paddedVocab());
            hostLogits = new float[cfg.paddedVocab()];
            caches = new Attention.Cache[trunk.blocks.length];
            for (int l = 0; l < caches.length; l++) caches[l] = trunk.blocks[l].attn.cache(1, maxTokens);
        }

        /** Real tokens processed so far (the virtual ones not counted). */
        public int position() { return Math.max(0, pos - virtual); }

        /** How many real tokens the session holds. */
        public int capacity() { return max - virtual; }

        /** Forgets the cached tokens; the buffers are kept. */
        public void reset() { pos = 0; }

        /** Runs {@code newTokens} after the tokens so far and returns the last one's logits [V]. */
        public float[] next(int[] newTokens) {
            int n = newTokens.length;
            if (n == 0) throw new IllegalArgumentException("next() needs at least one token");
            if (position() + n > capacity()) {
                throw new CramjetException("generation session is full: " + position() + " + " + n + " tokens exceed its "
                        + capacity() + " positions");
            }
            for (int id : newTokens) {
                if (id < 0 || id >= cfg.vocabSize()) {
                    throw new CramjetException("token id " + id + " is outside the vocabulary [0, " + cfg.vocabSize() + ")");
                }
            }
            if (pos == 0 && virtual > 0) run(new int[virtual]);      // placeholders: the prompt supplies these positions
            Tensor xs = run(newTokens);
            // Only the last token's logits are needed.
            Tensor h = trunk.lnF.decode(xs.view((long) (n - 1) * c, 1, c), scratch);
            be.matmul(logitRow, h, lmHead.weight.value(), null, Epilogue.NONE);
            be.download(logitRow, hostLogits);
            return Arrays.copyOf(hostLogits, cfg.vocabSize());
        }

        /** Runs tokens at positions [pos, pos + n) through the blocks; returns their residual stream [n, C]. */
        private Tensor run(int[] ids) {
            int n = ids.length;
            Tensor t = tok.view(0, 1, n), xs = x.view(0, n, c);
            be.upload(t, ids);
            trunk.embed.forward(xs.reshape(1, n, c), t, pos);
            for (int l = 0; l < caches.length; l++) trunk.blocks[l].decode(xs, caches[l], pos, scratch);
            pos += n;
            return xs;
        }
    }
}
