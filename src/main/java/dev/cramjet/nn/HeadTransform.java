package dev.cramjet.nn;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Tensor;
import dev.cramjet.nn.Parameters.Group;

/**
 * BERT's prediction-head transform, between the hidden states and the tied decoder: y = norm(gelu(x·Wᵀ + b)),
 * W [C, C]. Works on the rows the head reads (all positions, or only the masked ones). Keeps the pre-activation and
 * the activation (the norm's input) per row; parameters "mlm.dense.*" and "mlm.ln.*" in the BASE group.
 */
final class HeadTransform {
    private final Backend be;
    private final Linear dense;
    private final Norm norm;
    private final Tensor pre, act, out, dOut, dAct;

    HeadTransform(Backend be, Parameters ps, Workspace ws, Transformer.Shape shape, int rows, boolean training) {
        this.be = be;
        int c = shape.width();
        dense = new Linear(be, ps, "mlm.dense", Group.BASE, c, c, shape.bias(), 0.02);
        norm = new Norm(be, ps, ws, "mlm.ln", shape.norm(), c, shape.bias(), shape.normEps());
        pre = be.alloc(be.computeType(), rows, c);
        act = be.alloc(be.computeType(), rows, c);
        out = be.alloc(be.computeType(), rows, c);
        dOut = training ? be.alloc(be.computeType(), rows, c) : null;
        dAct = training ? be.alloc(be.computeType(), rows, c) : null;
    }

    /** y [r, C] for x [r, C]. */
    Tensor forward(Tensor x) {
        int r = x.rows();
        dense.forward(Workspace.rows(act, r), x, new Epilogue.Gelu(Workspace.rows(pre, r)), null);
        return norm.forward(Workspace.rows(out, r), Workspace.rows(act, r));
    }

    /** Where the layer above writes ∂L/∂y for r rows. */
    Tensor outputGradient(int r) { return Workspace.rows(dOut, r); }

    /** dx [r, C] (overwritten) from ∂L/∂y in {@link #outputGradient}; the forward's input x. */
    void backward(Tensor dx, Tensor x) {
        int r = x.rows();
        Tensor da = Workspace.rows(dAct, r);
        be.zero(da);
        norm.backward(da, Workspace.rows(dOut, r), Workspace.rows(act, r));
        be.geluBackward(da, Workspace.rows(pre, r), da);
        dense.backward(dx, da, x, null, null);
    }
}
