package dev.cramjet.nn;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Tensor;
import dev.cramjet.nn.Parameters.Group;
import dev.cramjet.nn.Parameters.Init;
import dev.cramjet.nn.Parameters.Kind;
import dev.cramjet.nn.Parameters.Param;

/**
 * x = wte[tokens] (+ wpe[position]): the token table [Vp, C] (rows past the real vocabulary V are padding that
 * keeps the output head's matmul evenly tiled, never looked up and never trained) and, for learned positions,
 * the position table [T, C].
 */
public final class Embedding {
    private final Backend be;
    final Param tokens, positions;
    private final int vocab, c;

    Embedding(Backend be, Parameters ps, int vocab, int paddedVocab, int c, int positions) {
        this.be = be;
        this.vocab = vocab;
        this.c = c;
        this.tokens = ps.add("wte.weight", Group.BASE, Kind.EMBEDDING, new Init.Normal(0.02, (long) vocab * c), true, paddedVocab, c);
        this.positions = positions == 0 ? null
                : ps.add("wpe.weight", Group.BASE, Kind.EMBEDDING, new Init.Normal(0.02, (long) positions * c), false, positions, c);
    }

    /** out [B,T,C] for ids [B,T] at positions [offset, offset + T). */
    void forward(Tensor out, Tensor ids, int offset) {
        be.embedding(out, ids, rows(tokens.value()), positions == null ? null : positions.value(), offset);
    }

    /** Adds dout [B,T,C] into the tables' gradients (those trained). */
    void backward(Tensor dout, Tensor ids) {
        Tensor dwte = tokens.grad() == null ? null : rows(tokens.grad());
        be.embeddingBackward(dwte, positions == null ? null : positions.grad(), dout, ids);
    }

    /** The real-vocabulary rows [V, C] of the padded table: the embedding op rejects ids ≥ V. */
    private Tensor rows(Tensor table) { return table.view(0, vocab, c); }

    boolean trainable() { return tokens.trainable() || (positions != null && positions.trainable()); }
}
