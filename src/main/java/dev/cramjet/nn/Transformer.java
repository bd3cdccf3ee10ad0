package dev.cramjet.nn;

import dev.cramjet.CramjetException;
import dev.cramjet.Hash;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Mask;
import dev.cramjet.engine.Tensor;

/**
 * The trunk every model here shares: token (and position) embeddings, a stack of blocks, a final norm —
 * tokens [B,T] to hidden states [B·T, C] and back. A decoder runs it causally, an encoder bidirectionally; both
 * mask the padding of sequences shorter than T. It keeps the residual stream at each block's input; the backward
 * pass stops below the lowest layer with trainable parameters.
 *
 * <p>Dropout sites: 0 is the embedding, 1 + 2l and 2 + 2l are block l's attention and MLP branches; a site's
 * seed is a pure function of the micro-batch's seed, so the backward pass redraws the forward's masks.
 */
final class Transformer {
    final Backend be;
    final GPTConfig cfg;
    final int batch, seq, rows, c;
    final Embedding embed;
    final Block[] blocks;
    final Norm lnF;
    final Workspace ws;
    private final boolean causal;
    private final Tensor tokens, lengths;
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
    Transformer(Backend be, Parameters params, Workspace ws, GPTConfig cfg, int batch, int seq, boolean causal,
                LoRA.Spec lora) {
        this.be = be;
        this.cfg = cfg;
        this.ws = ws;
        this.batch = batch;
        this.seq = seq;
        this.rows = batch * seq;
        this.c = cfg.nEmbd();
        this.causal = causal;
        int layers = cfg.nLayer();
        embed = new Embedding(be, params, cfg.vocabSize(), cfg.paddedVocab(), c,
                cfg.positions() == GPTConfig.Positions.LEARNED ? cfg.blockSize() : 0);
        double residualStd = 0.02 / Math.sqrt(2.0 * layers);   // GPT-2: projections into the stream scaled by depth
        float theta = cfg.positions() == GPTConfig.Positions.ROPE ? cfg.ropeTheta() : 0f;
        blocks = new Block[layers];
        Tensor mids = be.alloc(be.computeType(), layers, rows, c);
        for (int l = 0; l < layers; l++) {
            String p = "h." + l + ".";
            Norm n1 = new Norm(be, params, ws, p + "ln_1", cfg.norm(), c, cfg.bias(), cfg.normEps());
            Attention attn = new Attention(be, params, ws, p + "attn", batch, seq, c, cfg.nHead(), cfg.bias(), theta, residualStd);
            Norm n2 = new Norm(be, params, ws, p + "ln_2", cfg.norm(), c, cfg.bias(), cfg.normEps());
            Mlp mlp = new Mlp(be, params, ws, p + "mlp", cfg.mlp(), c, cfg.mlpHidden(), cfg.bias(), residualStd);
            blocks[l] = new Block(n1, attn, n2, mlp, mids.slice(l));
            if (lora != null) adapt(blocks[l], params, p, lora);
        }
        lnF = new Norm(be, params, ws, "ln_f", cfg.norm(), c, cfg.bias(), cfg.normEps());
        tokens = be.alloc(DType.I32, batch, seq);
        lengths = be.alloc(DType.I32, batch);
        hostLengths = new int[batch];
        Tensor resAll = be.alloc(be.computeType(), layers + 1, rows, c);
        res = new Tensor[layers + 1];
        for (int l = 0; l <= layers; l++) res[l] = resAll.slice(l);
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
            layer.adapt(new LoRA(be, params, ws, prefix + t.layer, layer.in, layer.out, lora.rank(), lora.alpha()));
        }
    }

    /** After the parameters are allocated: which layers the backward pass must reach. */
    void ready() {
        lowest = blocks.length;
        for (int l = blocks.length - 1; l >= 0; l--) if (blocks[l].trainable()) lowest = l;
        embeddingTrains = embed.trainable();
        if (embeddingTrains) lowest = 0;
    }

    /**
     * Hidden states [B·T, C] (the workspace's norm output) for tokens [B·T]; {@code validLengths} [B] or null
     * (all T); dropout p with the micro-batch's seed.
     */
    Tensor forward(int[] tokenIds, int[] validLengths, float p, long microSeed) {
        stage(tokenIds, validLengths, p, microSeed);
        return compute();
    }

    /** The host half of {@link #forward}: checks and uploads of the tokens and lengths, the mask and dropout. */
    void stage(int[] tokenIds, int[] validLengths, float p, long microSeed) {
        checkIds(tokenIds);
        be.upload(tokens, tokenIds);
        mask = causal ? Mask.CAUSAL : Mask.BIDIRECTIONAL;
        if (validLengths != null) {
            if (validLengths.length != batch) throw new CramjetException("lengths: expected " + batch + " (one per sequence), got " + validLengths.length);
            for (int b = 0; b < batch; b++) {
                if (validLengths[b] < 1 || validLengths[b] > seq) {
                    throw new CramjetException("length " + validLengths[b] + " of sequence " + b + " is not in [1, " + seq + "]");
                }
            }
            System.arraycopy(validLengths, 0, hostLengths, 0, batch);
            be.upload(lengths, hostLengths);
            mask = mask.padded(lengths);
        }
        dropout = p;
        seed = microSeed;
    }

    /** The device half: embeddings, blocks, final norm over what {@link #stage} uploaded; the normed hidden rows. */
    Tensor compute() {
        embed.forward(res[0].reshape(batch, seq, c), tokens, 0);
        if (dropout > 0) be.dropout(res[0], res[0], dropout, site(0));
        for (int l = 0; l < blocks.length; l++) blocks[l].forward(res[l], res[l + 1], mask, dropout(l));
        return lnF.forward(res[blocks.length]);
    }

    /** The valid lengths of the last forward pass (null: whole sequences). */
    int[] lengths() { return mask.lengths() == null ? null : hostLengths; }

    /** Back-propagates dHidden (the gradient of the last forward's output) into the trained parameters. */
    void backward(Tensor dHidden) {
        if (!lnF.trainable() && lowest == blocks.length) return;      // only a head trains
        be.zero(ws.dres);
        lnF.backward(ws.dres, dHidden, res[blocks.length]);
        for (int l = blocks.length - 1; l >= lowest; l--) blocks[l].backward(ws.dres, res[l], mask, dropout(l));
        if (!embeddingTrains) return;
        if (dropout > 0) be.dropoutBackward(ws.dres, ws.dres, dropout, site(0));
        embed.backward(ws.dres.reshape(batch, seq, c), tokens);
    }

    private Block.Dropout dropout(int l) { return new Block.Dropout(dropout, site(1 + 2 * l), site(2 + 2 * l)); }

    private long site(int s) { return Hash.mix(seed + s * Hash.GOLDEN); }

    private void checkIds(int[] ids) {
        if (ids.length != rows) {
            throw new CramjetException("tokens: expected batch·seq = " + batch + "·" + seq + " = " + rows + " ids, got " + ids.length);
        }
        int vocab = cfg.vocabSize();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw new CramjetException("token id " + ids[i] + " at position " + i + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
    }
}
