package dev.cramjet.nn;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;

/**
 * The scratch a model's layers share, sized once for a number of rows (B·T in training, a chunk of tokens in a
 * decoding session): what is recomputed rather than kept per layer (norm outputs, the MLP activation), the
 * backward pass's temporaries, and, in a session, what training would keep per layer but decoding needs only for
 * the layer at hand. Layers take row views of these for the rows a call processes.
 */
final class Workspace {
    final Backend be;
    final int rows;
    /** Every norm's output [rows, C]: the input of the branch that follows it. */
    final Tensor normOut;
    /** The MLP's activation [rows, H]. */
    final Tensor hidden;

    // The backward pass (null when not training).
    /** The residual stream's gradient [rows, C], which every norm backward adds into. */
    final Tensor dres;
    /** A branch's output gradient after dropout, then its input gradient [rows, C]. */
    final Tensor dTmp;
    /** The attention output's gradient [rows, A] (A the attention width, heads × head size). */
    final Tensor dAtt;
    /** qkv's gradient [rows, 3A] and the MLP pre-activation's [rows, fc]: never live together, one buffer. */
    final Tensor dQkv, dPre;
    /** The MLP activation's gradient [rows, H] (for GELU the same memory as dPre: its backward runs in place). */
    final Tensor dHidden;
    /** An adapter's input gradient [rows, widest input] and its low-rank gradient [rows, widest rank]. */
    final Tensor adapterIn, adapterRank;
    /** Post-norm blocks: the gradient between a block's two norms [rows, C] (null for pre-norm trunks). */
    final Tensor dNorm;

    // Decoding only (null in training, where each layer keeps its own).
    final Tensor mean, rstd, qkv, att, pre, rank;

    /**
     * @param c       width C
     * @param attn    attention width A = heads × head size (C unless heads were pruned)
     * @param hidden  MLP activation width H
     * @param fc      the first MLP matmul's output width (H, or 2·H for gated units)
     * @param gelu    the MLP is plain GELU (its backward runs in place)
     * @param rank    the widest adapter rank (0: no adapters)
     * @param widest  the widest adapted layer input
     * @param postNorm the blocks are post-norm
     */
    Workspace(Backend be, int rows, int c, int attn, int hidden, int fc, boolean gelu, int rank, int widest, boolean backward,
              boolean decoding, boolean postNorm) {
        DType dt = be.computeType();
        this.be = be;
        this.rows = rows;
        normOut = be.alloc(dt, rows, c);
        this.hidden = be.alloc(dt, rows, hidden);
        if (backward) {
            dres = be.alloc(dt, rows, c);
            dTmp = be.alloc(dt, rows, c);
            dAtt = be.alloc(dt, rows, attn);
            Tensor wide = be.alloc(dt, rows * Math.max(3 * attn, fc));
            dQkv = wide.view(0, rows, 3 * attn);
            dPre = wide.view(0, rows, fc);
            dHidden = gelu ? dPre : be.alloc(dt, rows, hidden);
            adapterIn = rank == 0 ? null : be.alloc(dt, rows, widest);
            adapterRank = rank == 0 ? null : be.alloc(dt, rows, rank);
            dNorm = postNorm ? be.alloc(dt, rows, c) : null;
        } else {
            dres = dTmp = dAtt = dQkv = dPre = dHidden = adapterIn = adapterRank = dNorm = null;
        }
        if (decoding) {
            mean = be.alloc(DType.F32, rows);
            rstd = be.alloc(DType.F32, rows);
            qkv = be.alloc(dt, rows, 3 * attn);
            att = be.alloc(dt, rows, attn);
            pre = be.alloc(dt, rows, fc);
            this.rank = rank == 0 ? null : be.alloc(dt, rows, rank);
        } else {
            mean = rstd = qkv = att = pre = this.rank = null;
        }
    }

    /** The first n rows of a [rows] or [rows, width] buffer. */
    static Tensor rows(Tensor t, int n) {
        if (n == t.dim(0)) return t;
        return t.rank() == 1 ? t.view(0, n) : t.view(0, n, t.dim(-1));
    }
}
