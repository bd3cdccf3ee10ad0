package dev.cramjet.nn;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;
import dev.cramjet.nn.Parameters.Group;
import dev.cramjet.nn.Parameters.Init;
import dev.cramjet.nn.Parameters.Kind;
import dev.cramjet.nn.Parameters.Param;

/**
 * x = wte[tokens] (+ wpe[position]): the token table [Vp, C] (rows past the real vocabulary V are padding that
 * keeps the output head's matmul evenly tiled, never looked up and never trained) and, for learned positions,
 * the position table [T, C]. With prompt tuning ({@link Prompt}) the first n positions of every sequence take
 * their rows from {@code prompt_embeddings} [n, C] instead of wte.
 */
public final class Embedding {
    private final Backend be;
    final Param tokens, positions, prompt;
    private final int vocab, c;
    /** The ids 0 … n-1 [1, n] that look the virtual tokens up in the prompt table. */
    private final Tensor virtualIds;

    /** @param prompt prompt-tuning virtual tokens (0: none) */
    Embedding(Backend be, Parameters ps, int vocab, int paddedVocab, int c, int positions, int prompt) {
        this.be = be;
        this.vocab = vocab;
        this.c = c;
        this.tokens = ps.add("wte.weight", Group.BASE, Kind.EMBEDDING, new Init.Normal(0.02, (long) vocab * c), true, paddedVocab, c);
        this.positions = positions == 0 ? null
                : ps.add("wpe.weight", Group.BASE, Kind.EMBEDDING, new Init.Normal(0.02, (long) positions * c), false, positions, c);
        this.prompt = prompt == 0 ? null
                : ps.add("prompt_embeddings", Group.ADAPTER, Kind.EMBEDDING, new Init.Normal(0.02, (long) prompt * c), false, prompt, c);
        if (prompt > 0) {
            virtualIds = be.alloc(DType.I32, 1, prompt);
            int[] ids = new int[prompt];
            for (int i = 0; i < prompt; i++) ids[i] = i;
            be.upload(virtualIds, ids);
        } else {
            virtualIds = null;
        }
    }

    /**
     * out [B,T,C] for ids [B,T] at positions [offset, offset + T). With a prompt, a call at offset 0 covers the
     * virtual positions and their rows come from the prompt table.
     */
    void forward(Tensor out, Tensor ids, int offset) {
        Tensor wpe = positions == null ? null : positions.value();
        be.embedding(out, ids, rows(tokens.value()), wpe, offset);
        if (prompt == null || offset > 0) return;
        for (int b = 0; b < out.dim(0); b++) be.embedding(virtualRows(out, b, out.dim(1)), virtualIds, prompt.value(), wpe, 0);
    }

    /** Adds dout [B,T,C] into the tables' gradients (those trained). */
    void backward(Tensor dout, Tensor ids) {
        Tensor dwte = tokens.grad() == null ? null : rows(tokens.grad());
        Tensor dwpe = positions == null ? null : positions.grad();
        if (dwte != null || dwpe != null) be.embeddingBackward(dwte, dwpe, dout, ids);
        if (prompt == null || prompt.grad() == null) return;
        for (int b = 0; b < dout.dim(0); b++) be.embeddingBackward(prompt.grad(), null, virtualRows(dout, b, dout.dim(1)), virtualIds);
    }

    /** Rows [0, n) of sequence b of a [B, T, C] tensor, as [1, n, C]. */
    private Tensor virtualRows(Tensor x, int b, int t) {
        int n = virtualIds.dim(1);
        return x.view((long) b * t * c, 1, n, c);
    }

    /** The real-vocabulary rows [V, C] of the padded table: the embedding op rejects ids ≥ V. */
    private Tensor rows(Tensor table) { return table.view(0, vocab, c); }

    boolean trainable() {
        return tokens.trainable() || (positions != null && positions.trainable()) || (prompt != null && prompt.trainable());
    }
}
