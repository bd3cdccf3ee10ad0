package dev.cramjet.nn;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Mask;
import dev.cramjet.engine.Tensor;

/**
 * A pre-norm transformer block, two residual lines:
 * <pre>
 *   mid = x   + drop(attn(norm1(x)))
 *   out = mid + drop(mlp(norm2(mid)))
 * </pre>
 * The residual adds are fused into each branch's last matmul. It keeps mid for the backward pass, where the
 * residual stream's gradient dres flows through each skip untouched and each branch's norm adds its part.
 */
public final class Block {
    final Norm norm1, norm2;
    final Attention attn;
    final Mlp mlp;
    /** The residual stream between the two branches [rows, C]. */
    private final Tensor mid;

    Block(Norm norm1, Attention attn, Norm norm2, Mlp mlp, Tensor mid) {
        this.norm1 = norm1;
        this.attn = attn;
        this.norm2 = norm2;
        this.mlp = mlp;
        this.mid = mid;
    }

    /** Dropout probability and the seeds of the block's two residual branches. */
    record Dropout(float p, long attention, long mlp) {}

    void forward(Tensor x, Tensor out, Mask mask, Dropout d) {
        attn.forward(mid, norm1.forward(x), x, mask, d.p(), d.attention());
        mlp.forward(out, norm2.forward(mid), mid, d.p(), d.mlp());
    }

    /** dres: the gradient at the block's output on entry, at its input x on return (accumulated in place). */
    void backward(Tensor dres, Tensor x, Mask mask, Dropout d) {
        norm2.backward(dres, mlp.backward(dres, norm2.forward(mid), d.p(), d.mlp()), mid);
        norm1.backward(dres, attn.backward(dres, norm1.forward(x), mask, d.p(), d.attention()), x);
    }

    /** Decoding a step: x [rows, C] updated in place through both branches, keys and values into the slots' caches. */
    void decode(Tensor x, Attention.Cache[] caches, Attention.Step step, Workspace session) {
        attn.decode(x, norm1.decode(x, session), x, caches, step, session);
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
