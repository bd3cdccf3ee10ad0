package dev.cramjet.nn;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;
import dev.cramjet.nn.Parameters.Group;
import dev.cramjet.nn.Parameters.Init;
import dev.cramjet.nn.Parameters.Kind;
import dev.cramjet.nn.Parameters.Param;

/**
 * LayerNorm (weight, optional bias) or RMSNorm (weight) over the channels. Its output goes to the workspace's
 * shared buffer and is recomputed when the backward pass needs it; the row statistics are what it keeps.
 */
public final class Norm {
    private final Backend be;
    private final boolean layer;
    private final float eps;
    private final Param weight, bias;
    /** Saved for the backward pass: per-row mean (LayerNorm only) and 1/σ. */
    private final Tensor mean, rstd;
    private final Workspace ws;

    /** @param name the prefix of its parameters, e.g. "h.0.ln_1" (→ h.0.ln_1.weight, h.0.ln_1.bias) */
    Norm(Backend be, Parameters ps, Workspace ws, String name, GPTConfig.Norm kind, int c, boolean bias, float eps) {
        this.be = be;
        this.ws = ws;
        this.layer = kind == GPTConfig.Norm.LAYER;
        this.eps = eps;
        this.weight = ps.add(name + ".weight", Group.BASE, Kind.NORM_OR_BIAS, new Init.Constant(1f), false, c);
        this.bias = layer && bias ? ps.add(name + ".bias", Group.BASE, Kind.NORM_OR_BIAS, new Init.Constant(0f), false, c) : null;
        this.mean = layer ? be.alloc(DType.F32, ws.rows) : null;
        this.rstd = be.alloc(DType.F32, ws.rows);
    }

    /** The training forward: norm(in) into the shared output buffer, statistics kept. Returns the output. */
    Tensor forward(Tensor in) {
        apply(ws.normOut, in, mean, rstd);
        return ws.normOut;
    }

    /** Decoding: norm(in) for the first rows of a session's workspace. */
    Tensor decode(Tensor in, Workspace session) {
        int n = in.rows();
        Tensor out = Workspace.rows(session.normOut, n);
        apply(out, in, Workspace.rows(session.mean, n), Workspace.rows(session.rstd, n));
        return out;
    }

    private void apply(Tensor out, Tensor in, Tensor mu, Tensor rs) {
        if (layer) be.layerNorm(out, mu, rs, in, weight.value(), bias == null ? null : bias.value(), eps);
        else be.rmsNorm(out, rs, in, weight.value(), eps);
    }

    /** din += ∂L/∂in from dout = ∂L/∂out and the forward's input; weight and bias gradients when trained. */
    void backward(Tensor din, Tensor dout, Tensor in) {
        if (layer) {
            be.layerNormBackward(din, weight.grad(), bias == null ? null : bias.grad(), dout, in, weight.value(), mean, rstd);
        } else {
            be.rmsNormBackward(din, weight.grad(), dout, in, weight.value(), rstd);
        }
    }

    boolean trainable() { return weight.trainable(); }
}
