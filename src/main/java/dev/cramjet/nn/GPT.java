package dev.cramjet.nn;

import dev.cramjet.CramjetException;
import dev.cramjet.Hash;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Mask;
import dev.cramjet.engine.Tensor;
import dev.cramjet.nn.Parameters.Group;
import dev.cramjet.nn.Parameters.Init;
import dev.cramjet.nn.Parameters.Kind;
import dev.cramjet.nn.Parameters.Param;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * A GPT decoder composed of the layers in this package, in the spirit of nanoGPT:
 * <pre>
 *   x = drop(wte[tokens] + wpe[t])                          (no wpe with RoPE)
 *   for each block:  x = x + drop(attn(norm1(x)))           causal, padded sequences masked
 *                    x = x + drop(mlp(norm2(x)))
 *   loss = head(norm_f(x))                                  the LM head (tied to wte, or its own), or a task head
 * </pre>
 *
 * <h2>Memory</h2>
 * Parameters and gradients are {@link Parameters}: one buffer each, gradients only for the trained groups.
 * Activations are allocated once for (batch, seq): the residual stream at each block's input, and what each layer
 * keeps for its backward pass; norm outputs and the MLP activation are recomputed into the {@link Workspace}.
 * A step allocates nothing on the device.
 *
 * <h2>Use</h2>
 * {@code forward(tokens, targets)} returns the mean loss; {@code backward(accum)} adds this micro-batch's gradient
 * (scaled by 1/(valid targets · accum)) into the gradients. {@link #train(long)} turns dropout on with a seed for
 * the next forward/backward pair (give each micro-batch its own seed); {@link #eval()} turns it off. The backward
 * pass stops below the lowest layer that has trainable parameters. {@link #session} decodes with a KV cache
 * through the same blocks.
 */
public final class GPT {

    /** The targets of a LoRA adapter, by the name of the linear layer in each block. */
    public enum Target {
        QKV("attn.qkv"), ATTN_PROJ("attn.proj"), MLP_FC("mlp.fc"), MLP_PROJ("mlp.proj");

        public final String layer;

        Target(String layer) { this.layer = layer; }
    }

    /** LoRA on the {@code targets} of every block: rank r, scale α/r. */
    public record Lora(int rank, float alpha, Set<Target> targets) {
        public Lora {
            if (rank < 1) throw new CramjetException("LoRA rank must be at least 1, got " + rank);
            if (targets.isEmpty()) throw new CramjetException("LoRA needs at least one target layer");
            targets = Set.copyOf(targets);
        }
    }

    /**
     * How a GPT is built beyond its shape: the parameter groups it trains (none for inference: no gradients, no
     * backward buffers), the storage of its weight matrices (the compute type, or Q8_0 for int8 inference), an
     * optional LoRA adapter, and its head: the language-model head over every position ({@code ALL}) or only the
     * targeted ones ({@code TARGETS}), or a classifier over {@code classes} labels pooling each sequence.
     */
    public record Options(Set<Group> trainable, DType weights, Lora lora, Head.Pooling pooling, int classes) {
        /** Trains every group: pretraining. */
        public static final Options TRAIN = new Options(EnumSet.allOf(Group.class), null, null, Head.Pooling.ALL, 0);
        /** Trains nothing: evaluation and generation. */
        public static final Options INFERENCE = new Options(Set.of(), null, null, Head.Pooling.ALL, 0);

        public Options {
            trainable = trainable.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(trainable));
            boolean classifier = pooling == Head.Pooling.LAST || pooling == Head.Pooling.FIRST || pooling == Head.Pooling.MEAN;
            if (classifier != classes > 0) {
                throw new CramjetException(classifier ? "a classifier needs at least one class, got " + classes
                        : "classes are for a pooled classifier head, not " + pooling);
            }
        }

        public Options training(Group... groups) { return new Options(Set.of(groups), weights, lora, pooling, classes); }

        public Options weights(DType type) { return new Options(trainable, type, lora, pooling, classes); }

        public Options lora(Lora spec) { return new Options(trainable, weights, spec, pooling, classes); }

        /** Only positions with a target go through the language-model head. */
        public Options sparse() { return new Options(trainable, weights, lora, Head.Pooling.TARGETS, 0); }

        /** A classifier head over {@code n} labels, reading each sequence as {@code pooling} says. */
        public Options classify(int n, Head.Pooling how) { return new Options(trainable, weights, lora, how, n); }
    }

    private final Backend be;
    private final GPTConfig cfg;
    private final Options options;
    private final int batch, seq, rows, c, vocab;
    private final Parameters params = new Parameters();
    private final Workspace ws;
    private final Embedding embed;
    private final Block[] blocks;
    private final Norm lnF;
    private final Head head;
    /** The LM head's layer (tied to the token embedding, or its own), which decoding uses. */
    private final Linear lmHead;
    /** The lowest block whose backward pass is needed (blocks.length: none), and whether the embedding trains. */
    private final int lowest;
    private final boolean embeddingTrains;

    private final Tensor tokens, lengths;
    /** The residual stream entering each block, and the final one [B·T, C]. */
    private final Tensor[] res;
    private final int[] hostLengths;

    private boolean training;
    private long stepSeed;
    // What the last forward pass did, for the backward pass.
    private float forwardDropout;
    private long forwardSeed;
    private Mask forwardMask = Mask.CAUSAL;
    private boolean forwardDone;

    /** A GPT that trains every parameter, with the language-model head. */
    public GPT(Backend backend, GPTConfig config, int batch, int seq, long seed) {
        this(backend, config, batch, seq, seed, Options.TRAIN);
    }

    public GPT(Backend backend, GPTConfig config, int batch, int seq, long seed, Options options) {
        if (batch <= 0) throw new CramjetException("batch size must be positive, got " + batch);
        if (seq <= 0 || seq > config.blockSize()) {
            throw new CramjetException("sequence length must be in [1, block_size = " + config.blockSize() + "], got " + seq);
        }
        this.be = backend;
        this.cfg = config;
        this.options = options;
        this.batch = batch;
        this.seq = seq;
        this.rows = batch * seq;
        this.c = config.nEmbd();
        this.vocab = config.vocabSize();
        int layers = config.nLayer();
        boolean backward = !options.trainable().isEmpty();
        Lora lora = options.lora();
        int widest = lora == null ? 0 : Math.max(c, config.mlpHidden());
        ws = new Workspace(backend, rows, c, config.mlpHidden(), config.fcWidth(), config.mlp() == GPTConfig.Mlp.GELU,
                lora == null ? 0 : lora.rank(), widest, backward, false);

        // ---- the layers, declaring their parameters in the order the buffer keeps them within a group -------
        embed = new Embedding(backend, params, vocab, config.paddedVocab(), c,
                config.positions() == GPTConfig.Positions.LEARNED ? config.blockSize() : 0);
        double residualStd = 0.02 / Math.sqrt(2.0 * layers);   // GPT-2: projections into the stream scaled by depth
        float theta = config.positions() == GPTConfig.Positions.ROPE ? config.ropeTheta() : 0f;
        blocks = new Block[layers];
        Tensor mids = backend.alloc(backend.computeType(), layers, rows, c);
        for (int l = 0; l < layers; l++) {
            String p = "h." + l + ".";
            Norm n1 = new Norm(backend, params, ws, p + "ln_1", config.norm(), c, config.bias(), config.normEps());
            Attention attn = new Attention(backend, params, ws, p + "attn", batch, seq, c, config.nHead(), config.bias(),
                    theta, residualStd);
            Norm n2 = new Norm(backend, params, ws, p + "ln_2", config.norm(), c, config.bias(), config.normEps());
            Mlp mlp = new Mlp(backend, params, ws, p + "mlp", config.mlp(), c, config.mlpHidden(), config.bias(), residualStd);
            blocks[l] = new Block(n1, attn, n2, mlp, mids.slice(l));
            if (lora != null) adapt(blocks[l], p, lora);
        }
        lnF = new Norm(backend, params, ws, "ln_f", config.norm(), c, config.bias(), config.normEps());
        lmHead = config.tiedEmbeddings() ? new Linear(backend, embed.tokens, null)
                : new Linear(backend, params.add("lm_head.weight", Group.BASE, Kind.MATRIX,
                        new Init.Normal(0.02, (long) vocab * c), true, config.paddedVocab(), c), null);
        if (options.classes() > 0) {
            Linear score = new Linear(backend, params, "score", Group.HEAD, c, options.classes(), true, 0.02);
            head = new Head(backend, score, options.pooling(), options.classes(), batch, seq, backward);
        } else {
            head = new Head(backend, lmHead, options.pooling(), vocab, batch, seq, backward);
        }

        params.allocate(backend, options.trainable(), options.weights() == null ? backend.computeType() : options.weights());
        params.initialize(backend, seed);

        int low = layers;
        for (int l = layers - 1; l >= 0; l--) if (blocks[l].trainable()) low = l;
        embeddingTrains = embed.trainable();
        lowest = embeddingTrains ? 0 : low;

        tokens = backend.alloc(DType.I32, batch, seq);
        lengths = backend.alloc(DType.I32, batch);
        hostLengths = new int[batch];
        Tensor resAll = backend.alloc(backend.computeType(), layers + 1, rows, c);
        res = new Tensor[layers + 1];
        for (int l = 0; l <= layers; l++) res[l] = resAll.slice(l);
    }

    /** LoRA on the chosen linear layers of one block. */
    private void adapt(Block b, String prefix, Lora lora) {
        for (Target t : lora.targets()) {
            Linear layer = switch (t) {
                case QKV -> b.attn.qkv;
                case ATTN_PROJ -> b.attn.proj;
                case MLP_FC -> b.mlp.fc;
                case MLP_PROJ -> b.mlp.proj;
            };
            layer.adapt(new LoRA(be, params, ws, prefix + t.layer, layer.in, layer.out, lora.rank(), lora.alpha()));
        }
    }

    // ---- forward ---------------------------------------------------------------------------------------------

    /** Dropout on for the next forward/backward pair, masks drawn from {@code seed} (use a new seed per micro-batch). */
    public void train(long seed) {
        training = true;
        stepSeed = seed;
    }

    /** Dropout off. */
    public void eval() { training = false; }

    public boolean training() { return training; }

    /** {@link #forward(int[], int[], int[])} over whole sequences. */
    public float forward(int[] tokenIds, int[] targetIds) { return forward(tokenIds, null, targetIds); }

    /**
     * Runs the model on tokens [batch·seq] (row-major [B,T]); {@code validLengths} [B] (null: all seq) marks each
     * sequence's real tokens, the rest being padding no position attends to. Targets: one per position for the
     * language-model head, one per sequence for a classifier; negative = ignored; null computes the logits only.
     * Returns the mean cross-entropy over the targets not ignored (NaN when there are none, or no targets).
     */
    public float forward(int[] tokenIds, int[] validLengths, int[] targetIds) {
        checkIds(tokenIds);
        be.upload(tokens, tokenIds);
        forwardMask = Mask.CAUSAL;
        if (validLengths != null) {
            if (validLengths.length != batch) throw new CramjetException("lengths: expected " + batch + " (one per sequence), got " + validLengths.length);
            for (int b = 0; b < batch; b++) {
                if (validLengths[b] < 1 || validLengths[b] > seq) {
                    throw new CramjetException("length " + validLengths[b] + " of sequence " + b + " is not in [1, " + seq + "]");
                }
            }
            System.arraycopy(validLengths, 0, hostLengths, 0, batch);
            be.upload(lengths, hostLengths);
            forwardMask = Mask.CAUSAL.padded(lengths);
        }
        forwardDropout = training ? cfg.dropout() : 0f;
        forwardSeed = stepSeed;
        float p = forwardDropout;

        embed.forward(res[0].reshape(batch, seq, c), tokens, 0);
        if (p > 0) be.dropout(res[0], res[0], p, seed(0));
        for (int l = 0; l < blocks.length; l++) blocks[l].forward(res[l], res[l + 1], forwardMask, dropout(l));
        Tensor h = lnF.forward(res[blocks.length]);
        if (targetIds != null) checkTargets(targetIds);
        float loss = head.forward(h, targetIds, validLengths == null ? null : hostLengths, training);
        forwardDone = targetIds != null;
        return loss;
    }

    // ---- backward --------------------------------------------------------------------------------------------

    /** {@link #backward(int)} without gradient accumulation. */
    public void backward() { backward(1); }

    /**
     * Adds the gradient of the last forward pass's loss into the gradients, scaled by 1/(valid targets ·
     * accumSteps) so that accumSteps micro-batches sum to the gradient of their mean loss. Overwrites the logits
     * with their gradient.
     */
    public void backward(int accumSteps) {
        if (ws.dres == null) throw new IllegalStateException("backward() on a model built to train nothing");
        if (!forwardDone) throw new IllegalStateException("backward() needs a forward pass with targets first");
        forwardDone = false;
        float p = forwardDropout;
        head.backward(ws.dTmp, ws.normOut, accumSteps);
        if (!lnF.trainable() && lowest == blocks.length) return;   // only the head trains
        be.zero(ws.dres);
        lnF.backward(ws.dres, ws.dTmp, res[blocks.length]);
        for (int l = blocks.length - 1; l >= lowest; l--) blocks[l].backward(ws.dres, res[l], forwardMask, dropout(l));
        if (!embeddingTrains) return;
        if (p > 0) be.dropoutBackward(ws.dres, ws.dres, p, seed(0));
        embed.backward(ws.dres.reshape(batch, seq, c), tokens);
    }

    public void zeroGrad() { params.zeroGrad(be); }

    /** Block l's dropout: its two residual branches are sites 1 + 2l and 2 + 2l (site 0 is the embedding). */
    private Block.Dropout dropout(int l) { return new Block.Dropout(forwardDropout, seed(1 + 2 * l), seed(2 + 2 * l)); }

    /** A dropout site's seed, a pure function of the micro-batch's seed. */
    private long seed(int site) { return Hash.mix(forwardSeed + site * Hash.GOLDEN); }

    private void checkIds(int[] ids) {
        if (ids.length != rows) {
            throw new CramjetException("tokens: expected batch·seq = " + batch + "·" + seq + " = " + rows + " ids, got " + ids.length);
        }
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw new CramjetException("token id " + ids[i] + " at position " + i + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
    }

    private void checkTargets(int[] ids) {
        int limit = options.classes() > 0 ? options.classes() : vocab;
        String range = options.classes() > 0 ? "the classes [0, " + limit + ")" : "the vocabulary [0, " + limit + ")";
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] >= limit) throw new CramjetException("target id " + ids[i] + " at position " + i + " is outside " + range);
        }
    }

    // ---- access ----------------------------------------------------------------------------------------------

    public Backend backend() { return be; }

    public GPTConfig config() { return cfg; }

    public Options options() { return options; }

    public int batch() { return batch; }

    public int seq() { return seq; }

    public Parameters parameters() { return params; }

    /** The logits of the last forward pass [rows, outputs] (their gradient after a training forward with targets). */
    public Tensor logits() { return head.logits(); }

    /** Row {@code row} of the last forward pass's logits (position b·seq + t, or sequence b for a classifier). */
    public float[] logitsAt(int row) { return head.logitsAt(row); }

    /** Every parameter, padded vocabulary rows included. */
    public long parameterCount() { return params.count(); }

    /** The parameter count with or without the learned position table (the FLOPs formula leaves it out). */
    public long parameterCount(boolean withPositions) {
        return withPositions || embed.positions == null ? params.count() : params.count() - embed.positions.size();
    }

    public List<Param> parameterList() { return params.all(); }

    public Param parameter(String name) { return params.get(name); }

    // ---- inference with a KV cache ---------------------------------------------------------------------------

    /** A batch-1 generation session holding up to {@code maxTokens} positions of keys and values per layer. */
    public Session session(int maxTokens) { return new Session(maxTokens); }

    /**
     * Incremental decoding through the same blocks: each {@link #next} call runs only the new tokens, attending
     * to the cached keys and values of everything before them. Buffers are allocated once per session (reuse it
     * with {@link #reset}). Dropout is always off.
     */
    public final class Session {
        private final int max;
        private final Tensor tok, x, logitRow;
        private final Workspace scratch;
        private final Attention.Cache[] caches;
        private final float[] hostLogits;
        private int pos;

        private Session(int maxTokens) {
            if (maxTokens < 1 || maxTokens > cfg.blockSize()) {
                throw new CramjetException("session length must be in [1, block_size = " + cfg.blockSize() + "], got " + maxTokens);
            }
            if (head.pooling() != Head.Pooling.ALL && head.pooling() != Head.Pooling.TARGETS) {
                throw new CramjetException("a classifier does not generate text: sessions need the language-model head");
            }
            max = maxTokens;
            Lora lora = options.lora();
            scratch = new Workspace(be, maxTokens, c, cfg.mlpHidden(), cfg.fcWidth(), cfg.mlp() == GPTConfig.Mlp.GELU,
                    lora == null ? 0 : lora.rank(), 0, false, true);
            tok = be.alloc(DType.I32, maxTokens);
            x = be.alloc(be.computeType(), maxTokens, c);
            logitRow = be.alloc(be.computeType(), 1, cfg.paddedVocab());
            hostLogits = new float[cfg.paddedVocab()];
            caches = new Attention.Cache[blocks.length];
            for (int l = 0; l < blocks.length; l++) caches[l] = blocks[l].attn.cache(1, maxTokens);
        }

        /** Tokens processed so far (the position the next token will take). */
        public int position() { return pos; }

        /** Forgets the cached tokens; the buffers are kept. */
        public void reset() { pos = 0; }

        /** Runs {@code newTokens} at positions [position, position + n) and returns the last one's logits [V]. */
        public float[] next(int[] newTokens) {
            int n = newTokens.length;
            if (n == 0) throw new IllegalArgumentException("next() needs at least one token");
            if (pos + n > max) {
                throw new CramjetException("generation session is full: " + pos + " + " + n + " tokens exceed its "
                        + max + " positions");
            }
            for (int id : newTokens) {
                if (id < 0 || id >= vocab) throw new CramjetException("token id " + id + " is outside the vocabulary [0, " + vocab + ")");
            }
            Tensor t = tok.view(0, 1, n), xs = x.view(0, n, c);
            be.upload(t, newTokens);
            embed.forward(xs.reshape(1, n, c), t, pos);
            for (int l = 0; l < blocks.length; l++) blocks[l].decode(xs, caches[l], pos, scratch);
            // Only the last token's logits are needed.
            Tensor h = lnF.decode(xs.view((long) (n - 1) * c, 1, c), scratch);
            be.matmul(logitRow, h, lmHead.weight.value(), null, Epilogue.NONE);
            be.download(logitRow, hostLogits);
            pos += n;
            return Arrays.copyOf(hostLogits, vocab);
        }
    }
}
