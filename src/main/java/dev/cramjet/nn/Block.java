package dev.cramjet.nn;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DecodeStep;
import dev.cramjet.engine.Mask;
import dev.cramjet.engine.Tensor;

/**
 * A transformer block, two residual lines, with its norms before the branches (pre-norm: GPT-2, Cramming) or
 * after the residual adds (post-norm: the original Transformer and BERT):
 * <pre>
 *   pre-norm:   mid = x   + drop(attn(norm1(x)))          post-norm:   mid = x + drop(attn(x))
 *               out = mid + drop(mlp(norm2(mid)))                      a   = norm1(mid)
 *                                                                      sum = a + drop(mlp(a)),  out = norm2(sum)
 * </pre>
 * The residual adds are fused into each branch's last matmul. It keeps mid (and, post-norm, sum) for the backward
 * pass. Pre-norm, the residual stream's gradient dres flows through each skip untouched and each branch's norm adds
 * its part; post-norm, every norm lies on the stream, so the gradient passes through each in turn.
 */
public final class Block {
    final Norm norm1, norm2;
    final Attention attn;
    final Mlp mlp;
    /** The residual stream between the two branches [rows, C]. */
    private final Tensor mid;
    /** Post-norm: the second residual sum, norm2's input [rows, C]; null in a pre-norm block. */
    private final Tensor sum;
    private final Workspace ws;

    /** @param sum null for a pre-norm block, the buffer for the second residual sum for a post-norm one */
    Block(Norm norm1, Attention attn, Norm norm2, Mlp mlp, Tensor mid, Tensor sum, Workspace ws) {
        this.norm1 = norm1;
        this.attn = attn;
        this.norm2 = norm2;
        this.mlp = mlp;
        this.mid = mid;
        this.sum = sum;
        this.ws = ws;
    }

    /** Dropout probability and the seeds of the block's two residual branches. */
    record Dropout(float p, long attention, long mlp) {}

    void forward(Tensor x, Tensor out, Mask mask, Dropout d) {
        if (sum == null) {
            attn.forward(mid, norm1.forward(x), x, mask, d.p(), d.attention());
            mlp.forward(out, norm2.forward(mid), mid, d.p(), d.mlp());
            return;
        }
        attn.forward(mid, x, x, mask, d.p(), d.attention());
        Tensor a = norm1.forward(mid);
        mlp.forward(sum, a, a, d.p(), d.mlp());
        norm2.forward(out, sum);
    }

    /** dres: the gradient at the block's output on entry, at its input x on return (accumulated in place). */
    void backward(Tensor dres, Tensor x, Mask mask, Dropout d) {
        Backend be = ws.be;
        if (sum == null) {
            norm2.backward(dres, mlp.backward(dres, norm2.forward(mid), d.p(), d.mlp()), mid);
            norm1.backward(dres, attn.backward(dres, norm1.forward(x), mask, d.p(), d.attention()), x);
            return;
        }
        Tensor g = ws.dNorm;
        be.zero(g);
        norm2.backward(g, dres, sum);                                    // ∂/∂sum
        be.add(g, g, mlp.backward(g, norm1.forward(mid), d.p(), d.mlp()));  // ∂/∂a: the skip plus the branch
        be.zero(dres);
        norm1.backward(dres, g, mid);                                    // ∂/∂mid
        be.add(dres, dres, attn.backward(dres, x, mask, d.p(), d.attention()));   // ∂/∂x
    }

    /** Decoding a step (pre-norm only): x [rows, C] updated in place through both branches, keys and values into the slots' caches. */
    void decode(Tensor x, Attention.Cache cache, DecodeStep step, Workspace session) {
        attn.decode(x, norm1.decode(x, session), x, cache, step, session);
        mlp.decode(x, norm2.decode(x, session), x, session);
    }

    boolean trainable() { return norm1.trainable() || attn.trainable() || norm2.trainable() || mlp.trainable(); }

    /** A branch's output gradient through its dropout mask (into ws.dTmp), or the gradient itself when p = 0. */
    static Tensor dropped(Backend be, Workspace ws, Tensor d, float p, long seed) {
        if (p == 0) return d;
        be.dropoutBackward(ws.dTmp, d, p, seed);
        return ws.dTmp;
    }
}
