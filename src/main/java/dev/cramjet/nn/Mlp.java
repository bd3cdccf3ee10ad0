package dev.cramjet.nn;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Glu;
import dev.cramjet.engine.Tensor;
import dev.cramjet.nn.Parameters.Group;

/**
 * The feed-forward branch: h = act(x·W_fcᵀ), then the projection back to C, whose epilogue adds the residual
 * stream (with dropout). act is GELU (fc: C → H), or a gated unit on [gate | up] (fc: C → 2H): SwiGLU (Llama)
 * or GEGLU (Cramming). Keeps fc's output (the pre-activation) and recomputes h in the backward pass.
 */
public final class Mlp {
    private final Backend be;
    final Linear fc, proj;
    private final Glu glu;          // null: plain GELU
    private final Tensor pre;
    private final Workspace ws;

    Mlp(Backend be, Parameters ps, Workspace ws, String name, GPTConfig.Mlp kind, int c, int hidden, boolean bias,
        double projStd) {
        this.be = be;
        this.ws = ws;
        this.glu = switch (kind) {
            case GELU -> null;
            case SWIGLU -> Glu.SWIGLU;
            case GEGLU -> Glu.GEGLU;
        };
        int fcWidth = glu == null ? hidden : 2 * hidden;
        this.fc = new Linear(be, ps, name + ".fc", Group.BASE, c, fcWidth, bias, 0.02);
        this.proj = new Linear(be, ps, name + ".proj", Group.BASE, hidden, c, bias, projStd);
        this.pre = be.alloc(be.computeType(), ws.rows, fcWidth);
    }

    /** out = residual + drop(proj(act(fc(x)))), x the normed input [rows, C]. */
    void forward(Tensor out, Tensor x, Tensor residual, float p, long seed) {
        activate(x, pre, ws.hidden, null);
        proj.forward(out, ws.hidden, new Epilogue.Residual(residual, p, seed), null);
    }

    /** h = act(fc(x)), pre-activation into pre; {@code rank} is the adapters' decoding scratch (null in training). */
    private void activate(Tensor x, Tensor pre, Tensor h, Tensor rank) {
        if (glu == null) {
            fc.forward(h, x, new Epilogue.Gelu(pre), rank);
        } else {
            fc.forward(pre, x, Epilogue.NONE, rank);
            be.glu(h, pre, glu);
        }
    }

    /** From dOut (at the residual add, before dropout) to the normed input's gradient, returned in ws.dTmp. */
    Tensor backward(Tensor dOut, Tensor x, float p, long seed) {
        if (glu == null) be.gelu(ws.hidden, pre);
        else be.glu(ws.hidden, pre, glu);
        proj.backward(ws.dHidden, Block.dropped(be, ws, dOut, p, seed), ws.hidden, ws.adapterIn, ws.adapterRank);
        if (glu == null) be.geluBackward(ws.dPre, pre, ws.dHidden);
        else be.gluBackward(ws.dPre, ws.dHidden, pre, glu);
        fc.backward(ws.dTmp, ws.dPre, x, ws.adapterIn, ws.adapterRank);
        return ws.dTmp;
    }

    /** Decoding: out = residual + proj(act(fc(x))) for the rows of x, in the session's buffers. */
    void decode(Tensor out, Tensor x, Tensor residual, Workspace session) {
        int n = x.rows();
        Tensor h = Workspace.rows(session.hidden, n);
        activate(x, Workspace.rows(session.pre, n), h, session.rank);
        proj.forward(out, h, new Epilogue.Residual(residual, 0f, 0), session.rank);
    }

    boolean trainable() { return fc.trainable() || proj.trainable(); }
}
