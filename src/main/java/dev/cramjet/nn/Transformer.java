package dev.cramjet.nn;

import dev.cramjet.CramjetException;
import dev.cramjet.Hash;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Mask;
import dev.cramjet.engine.Tensor;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The trunk every model here shares: token (and position) embeddings, an optional embedding norm, a stack of
 * blocks, a final norm — tokens [B,T] to hidden states [B·T, C] and back. A decoder runs it causally, an encoder
 * bidirectionally; both mask the padding of sequences shorter than T. Pre-norm blocks (GPT-2, Cramming) end in a
 * final norm; post-norm blocks (the original BERT) end in their own norm and have none. It keeps the residual
 * stream at each block's input; the backward pass stops below the lowest layer with trainable parameters.
 *
 * <p>Dropout sites: 0 is the embedding, 1 + 2l and 2 + 2l are block l's attention and MLP branches, then one per
 * LoRA adapter (its input dropout); a site's seed is a pure function of the micro-batch's seed, so the backward
 * pass redraws the forward's masks.
 *
 * <p>With a {@link Prompt}, positions [0, n) of every sequence are virtual tokens: the embedding (prompt tuning)
 * or every attention's qkv (prefix tuning) takes them from the prompt's parameters.
 */
final class Transformer {

    /**
     * What the trunk is built from — {@link GPTConfig#shape()} and {@link EncoderConfig#shape()} each give one.
     *
     * @param preNorm       pre-norm blocks and a final norm; false: post-norm blocks, no final norm
     * @param embeddingNorm a LayerNorm/RMSNorm over the embedding sum (BERT, Cramming)
     * @param attnWidth     heads × head size: q, k, v and the attention output (the width unless heads were pruned)
     */
    record Shape(int layers, int heads, int width, int vocab, int paddedVocab, int blockSize, float dropout, boolean bias,
                 GPTConfig.Positions positions, GPTConfig.Norm norm, GPTConfig.Mlp mlp, float ropeTheta, int mlpHidden,
                 float normEps, boolean preNorm, boolean embeddingNorm, int attnWidth) {
        /** Output width of the first MLP matmul: H for GELU, 2·H (gate | up) for the gated units. */
        int fcWidth() { return mlp == GPTConfig.Mlp.GELU ? mlpHidden : 2 * mlpHidden; }

        /** The keys a decoder's and an encoder's config.json share, in this order; each config adds its own after. */
        Map<String, Object> toJson() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("n_layer", (long) layers);
            m.put("n_head", (long) heads);
            m.put("n_embd", (long) width);
            m.put("vocab_size", (long) vocab);
            m.put("padded_vocab", (long) paddedVocab);
            m.put("block_size", (long) blockSize);
            m.put("dropout", GPTConfig.decimal(dropout));
            m.put("bias", bias);
            m.put("positions", positions.name().toLowerCase(Locale.ROOT));
            m.put("norm", norm.name().toLowerCase(Locale.ROOT));
            m.put("mlp", mlp.name().toLowerCase(Locale.ROOT));
            m.put("mlp_hidden", (long) mlpHidden);
            m.put("norm_eps", GPTConfig.decimal(normEps));
            return m;
        }
    }

    final Backend be;
    final Shape shape;
    final int batch, seq, rows, c;
    final Embedding embed;
    final Block[] blocks;
    /** The final norm (pre-norm trunks) and the embedding norm, each null where the shape has none. */
    final Norm lnF, embNorm;
    final Workspace ws;
    /** Virtual tokens at the start of every sequence (0: no prompt). */
    final int virtual;
    private final java.util.List<LoRA> adapters = new java.util.ArrayList<>();
    private final boolean causal;
    private final Tensor tokens, lengths;
    /** The embedding sum before its norm (null without one). */
    private final Tensor embOut;
    /** The residual stream entering each block, and the final one [B·T, C]. */
    private final Tensor[] res;
    private final int[] hostLengths;
    /** The lowest block the backward pass reaches (blocks.length: none), and whether the embedding trains. */
    private int lowest;
    private boolean embeddingTrains;
    // What the last forward pass did, for the backward pass.
    private Mask mask;
    private float dropout;
    private long seed;

    /** Declares the trunk's parameters in {@code params} (allocate them, then call {@link #ready}). */
    Transformer(Backend be, Parameters params, Workspace ws, Shape shape, int batch, int seq, boolean causal,
                LoRA.Spec lora, Prompt.Spec prompt) {
        this.be = be;
        this.shape = shape;
        this.ws = ws;
        this.batch = batch;
        this.seq = seq;
        this.rows = batch * seq;
        this.c = shape.width();
        this.causal = causal;
        int layers = shape.layers();
        this.virtual = prompt == null ? 0 : prompt.tokens();
        if (virtual >= seq) {
            throw new CramjetException(virtual + " virtual tokens leave no room in sequences of " + seq + " positions");
        }
        int input = prompt != null && prompt.kind() == Prompt.Kind.INPUT ? virtual : 0;
        int prefix = prompt != null && prompt.kind() == Prompt.Kind.PREFIX ? virtual : 0;
        embed = new Embedding(be, params, shape.vocab(), shape.paddedVocab(), c, shape.positions(), shape.blockSize(), input);
        embNorm = shape.embeddingNorm() ? norm(params, "emb_ln") : null;
        embOut = shape.embeddingNorm() ? be.alloc(be.computeType(), rows, c) : null;
        double residualStd = 0.02 / Math.sqrt(2.0 * layers);   // GPT-2: projections into the stream scaled by depth
        float theta = shape.positions() == GPTConfig.Positions.ROPE ? shape.ropeTheta() : 0f;
        blocks = new Block[layers];
        // Per layer a pre-norm block keeps the stream between its branches; a post-norm block both branches' sums.
        Tensor kept = be.alloc(be.computeType(), layers * (shape.preNorm() ? 1 : 2), rows, c);
        for (int l = 0; l < layers; l++) {
            String p = "h." + l + ".";
            Norm n1 = norm(params, p + "ln_1");
            Attention attn = new Attention(be, params, ws, p + "attn", batch, seq, c, shape.attnWidth(), shape.heads(), shape.bias(), theta, residualStd, prefix);
            Norm n2 = norm(params, p + "ln_2");
            Mlp mlp = new Mlp(be, params, ws, p + "mlp", shape.mlp(), c, shape.mlpHidden(), shape.bias(), residualStd);
            blocks[l] = shape.preNorm() ? new Block(n1, attn, n2, mlp, kept.slice(l), null, ws)
                    : new Block(n1, attn, n2, mlp, kept.slice(2 * l), kept.slice(2 * l + 1), ws);
            if (lora != null) adapt(blocks[l], params, p, lora);
        }
        lnF = shape.preNorm() ? norm(params, "ln_f") : null;
        tokens = be.alloc(DType.I32, batch, seq);
        lengths = be.alloc(DType.I32, batch);
        hostLengths = new int[batch];
        Tensor resAll = be.alloc(be.computeType(), layers + 1, rows, c);
        res = new Tensor[layers + 1];
        for (int l = 0; l <= layers; l++) res[l] = resAll.slice(l);
    }

    private Norm norm(Parameters params, String name) {
        return new Norm(be, params, ws, name, shape.norm(), c, shape.bias(), shape.normEps());
    }

    /** LoRA on the chosen linear layers of one block. */
    private void adapt(Block b, Parameters params, String prefix, LoRA.Spec lora) {
        for (LoRA.Target t : lora.targets()) {
            Linear layer = switch (t) {
                case QKV -> b.attn.qkv;
                case ATTN_PROJ -> b.attn.proj;
                case MLP_FC -> b.mlp.fc;
                case MLP_PROJ -> b.mlp.proj;
            };
            LoRA adapter = new LoRA(be, params, ws, prefix + t.layer, layer.in, layer.out, lora);
            layer.adapt(adapter);
            adapters.add(adapter);
        }
    }

    /**
     * Starts the virtual tokens as the tokens {@code ids} [n]: prompt tuning copies their embeddings (PEFT's
     * SAMPLE_VOCAB and TEXT inits); prefix tuning takes the keys and values every layer computes for them at
     * positions [0, n) (Li &amp; Liang's initialisation from real words, which trains more stably than noise).
     */
    void initPrompt(int[] ids) {
        if (virtual == 0) throw new IllegalStateException("this model has no virtual tokens");
        if (ids.length != virtual) throw new IllegalArgumentException("expected " + virtual + " token ids, got " + ids.length);
        checkIds(java.util.Arrays.copyOf(ids, rows));
        if (embed.prompt != null) {
            Tensor table = embed.prompt.value(), wte = embed.tokens.value();
            for (int i = 0; i < virtual; i++) be.copy(table.view((long) i * c, c), wte.view((long) ids[i] * c, c));
            return;
        }
        int[] tokenIds = new int[rows];
        System.arraycopy(ids, 0, tokenIds, 0, virtual);
        for (Block b : blocks) b.attn.writePrefix(false);
        try {
            forward(tokenIds, null, false, 0);
            for (Block b : blocks) b.attn.keepPrefix();
        } finally {
            for (Block b : blocks) b.attn.writePrefix(true);
        }
    }

    /** Switches every LoRA adapter on or off. */
    void lora(boolean on) { for (LoRA a : adapters) a.enable(on); }

    /** After the parameters are allocated: which layers the backward pass must reach. */
    void ready() {
        lowest = blocks.length;
        for (int l = blocks.length - 1; l >= 0; l--) if (blocks[l].trainable()) lowest = l;
        embeddingTrains = embed.trainable() || (embNorm != null && embNorm.trainable());
        if (embeddingTrains) lowest = 0;
    }

    /** The final norm's output gradient, where the head writes it: the residual stream's when there is no final norm. */
    Tensor outputGradient() { return lnF == null ? ws.dres : ws.dTmp; }

    /**
     * Hidden states [B·T, C] for tokens [B·T] (the final norm's output in the workspace, or the last block's output
     * without a final norm); {@code validLengths} [B] or null (all T); in training, dropout (the shape's, and the
     * adapters') with masks from the micro-batch's seed.
     */
    Tensor forward(int[] tokenIds, int[] validLengths, boolean training, long microSeed) {
        stage(tokenIds, validLengths, training, microSeed);
        return compute();
    }

    /** The host half of {@link #forward}: checks and uploads of the tokens and lengths, the mask and dropout. */
    void stage(int[] tokenIds, int[] validLengths, boolean training, long microSeed) {
        float p = training ? shape.dropout() : 0f;
        checkIds(tokenIds);
        be.upload(tokens, tokenIds);
        mask = causal ? Mask.CAUSAL : Mask.BIDIRECTIONAL;
        if (validLengths != null) {
            if (validLengths.length != batch) throw new CramjetException("lengths: expected " + batch + " (one per sequence), got " + validLengths.length);
            for (int b = 0; b < batch; b++) {
                if (validLengths[b] < 1 + virtual || validLengths[b] > seq) {
                    throw new CramjetException("length " + validLengths[b] + " of sequence " + b + " is not in [" + (1 + virtual) + ", " + seq + "]"
                            + (virtual > 0 ? " (it counts the " + virtual + " virtual tokens)" : ""));
                }
            }
            System.arraycopy(validLengths, 0, hostLengths, 0, batch);
            be.upload(lengths, hostLengths);
            mask = mask.padded(lengths);
        }
        dropout = p;
        seed = microSeed;
        for (int i = 0; i < adapters.size(); i++) adapters.get(i).dropout(training, site(1 + 2 * blocks.length + i));
    }

    /** The device half: embeddings (and their norm), blocks, final norm over what {@link #stage} uploaded; the hidden rows. */
    Tensor compute() {
        if (embNorm == null) {
            embed.forward(res[0].reshape(batch, seq, c), tokens, 0);
        } else {
            embed.forward(embOut.reshape(batch, seq, c), tokens, 0);
            embNorm.forward(res[0], embOut);
        }
        if (dropout > 0) be.dropout(res[0], res[0], dropout, site(0));
        for (int l = 0; l < blocks.length; l++) blocks[l].forward(res[l], res[l + 1], mask, dropout(l));
        return lnF == null ? res[blocks.length] : lnF.forward(res[blocks.length]);
    }

    /** The valid lengths of the last forward pass (null: whole sequences). */
    int[] lengths() { return mask.lengths() == null ? null : hostLengths; }

    /**
     * Back-propagates the gradient of the last forward's output, which the head wrote into {@link #outputGradient},
     * into the trained parameters.
     */
    void backward() {
        if ((lnF == null || !lnF.trainable()) && lowest == blocks.length) return;      // only a head trains
        if (lnF != null) {
            be.zero(ws.dres);
            lnF.backward(ws.dres, ws.dTmp, res[blocks.length]);
        }
        for (int l = blocks.length - 1; l >= lowest; l--) blocks[l].backward(ws.dres, res[l], mask, dropout(l));
        if (!embeddingTrains) return;
        if (dropout > 0) be.dropoutBackward(ws.dres, ws.dres, dropout, site(0));
        Tensor dEmb = ws.dres;
        if (embNorm != null) {
            be.zero(ws.dTmp);
            embNorm.backward(ws.dTmp, ws.dres, embOut);
            dEmb = ws.dTmp;
        }
        embed.backward(dEmb.reshape(batch, seq, c), tokens);
    }

    private Block.Dropout dropout(int l) { return new Block.Dropout(dropout, site(1 + 2 * l), site(2 + 2 * l)); }

    private long site(int s) { return Hash.mix(seed + s * Hash.GOLDEN); }

    private void checkIds(int[] ids) {
        if (ids.length != rows) {
            throw new CramjetException("tokens: expected batch·seq = " + batch + "·" + seq + " = " + rows + " ids, got " + ids.length);
        }
        int vocab = shape.vocab();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw new CramjetException("token id " + ids[i] + " at position " + i + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
    }
}
