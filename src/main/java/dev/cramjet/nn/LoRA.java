package dev.cramjet.nn;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Tensor;
import dev.cramjet.nn.Parameters.Group;
import dev.cramjet.nn.Parameters.Init;
import dev.cramjet.nn.Parameters.Kind;
import dev.cramjet.nn.Parameters.Param;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Set;

/**
 * A low-rank adapter on a {@link Linear} (Hu et al., LoRA): y += s·(drop(x)·Aᵀ)·Bᵀ with A [r, in], B [out, r] and
 * s = α/r (rsLoRA: α/√r), started as PEFT does — A Kaiming-uniform (bound 1/√in), B zero, so the adapted layer
 * starts equal to the base. Its parameters are in the ADAPTER group, so "train only the adapters" freezes
 * everything else. drop is PEFT's lora_dropout on the adapter's input only, in training. The forward keeps
 * u = s·drop(x)·Aᵀ [rows, r]; the backward (x̃ = drop(x), its mask redrawn from the seed) is
 * <pre>
 *   dB += dyᵀ·u      du = dy·B      dA += s·duᵀ·x̃      dx += drop'(s·du·A)
 * </pre>
 * An adapter can be switched off ({@link Model#lora}): the layer is then its base alone, which is how DPO gets
 * its reference model without a second copy of the weights.
 */
public final class LoRA {

    /** The linear layers of a block an adapter can target, by their parameter names. */
    public enum Target {
        QKV("attn.qkv"), ATTN_PROJ("attn.proj"), MLP_FC("mlp.fc"), MLP_PROJ("mlp.proj");

        public final String layer;

        Target(String layer) { this.layer = layer; }
    }

    /**
     * Adapters of rank r on the {@code targets} of every block, scaled by α/r (α/√r when {@code rslora}, Kalajdzievski's
     * rank-stabilised LoRA), with dropout p on their input in training.
     */
    public record Spec(int rank, float alpha, float dropout, boolean rslora, Set<Target> targets) {
        public Spec {
            if (rank < 1) throw new CramjetException("LoRA rank must be at least 1, got " + rank);
            if (!(alpha > 0) || !Float.isFinite(alpha)) throw new CramjetException("LoRA alpha must be a positive number, got " + alpha);
            if (!(dropout >= 0 && dropout < 1)) throw new CramjetException("LoRA dropout must be in [0, 1), got " + dropout);
            if (targets.isEmpty()) throw new CramjetException("LoRA needs at least one target layer");
            // In enum order: the adapters' declaration order fixes their place in the parameter buffer, their
            // initial values and their dropout sites, so it must not vary between processes (Set.copyOf's does).
            targets = Collections.unmodifiableSet(EnumSet.copyOf(targets));
        }

        /** No dropout, scale α/r. */
        public Spec(int rank, float alpha, Set<Target> targets) { this(rank, alpha, 0f, false, targets); }

        /** The factor on the adapter's product: α/r, or α/√r for rsLoRA. */
        public float scale() { return (float) (rslora ? alpha / Math.sqrt(rank) : alpha / rank); }
    }

    private final Backend be;
    final Param a, b;
    final int rank, in;
    final float scale;
    private final float dropout;
    /** u = s·drop(x)·Aᵀ of the training forward [rows, r]. */
    private final Tensor u;
    private final Workspace ws;
    /** The input dropout of the coming forward/backward pair: probability (0 outside training) and mask seed. */
    private float p;
    private long seed;
    private boolean enabled = true;

    LoRA(Backend be, Parameters ps, Workspace ws, String name, int in, int out, Spec spec) {
        this.be = be;
        this.rank = spec.rank();
        this.in = in;
        this.scale = spec.scale();
        this.dropout = spec.dropout();
        this.a = ps.add(name + ".lora_A.weight", Group.ADAPTER, Kind.MATRIX, new Init.Uniform(1 / Math.sqrt(in)), false, rank, in);
        this.b = ps.add(name + ".lora_B.weight", Group.ADAPTER, Kind.MATRIX, new Init.Constant(0f), false, out, rank);
        this.u = be.alloc(be.computeType(), ws.rows, rank);
        this.ws = ws;
    }

    /** Input dropout for the next training forward/backward pair, masks from {@code maskSeed}; off when not training. */
    void dropout(boolean training, long maskSeed) {
        p = training ? dropout : 0f;
        seed = maskSeed;
    }

    /**
     * y = y + drop_out(s·(drop(x)·Aᵀ)·Bᵀ), drop_out being the base's residual dropout (p, seed); {@code rows} holds
     * u (null: the training buffer; a decoding session's scratch never drops).
     */
    void forward(Tensor y, Tensor x, float pOut, long seedOut, Tensor rows) {
        Tensor t = rows == null ? u : rows.view(0, x.rows(), rank);
        Tensor xin = x;
        if (rows == null && p > 0) {
            if (ws.adapterIn == null) throw new IllegalStateException("LoRA dropout in a model built to train nothing");
            xin = ws.adapterIn.view(0, x.rows(), in);
            be.dropout(xin, x, p, seed);
        }
        be.matmul(t, xin, a.value(), null, Epilogue.NONE);
        be.scale(t, scale);
        be.matmul(y, t, b.value(), null, new Epilogue.Residual(y, pOut, seedOut));
    }

    /** Adds the adapter's gradients, and its input gradient into dx (when dx is not null). */
    void backward(Tensor dx, Tensor dy, Tensor x, Tensor scratchIn, Tensor scratchRank) {
        Tensor du = scratchRank.view(0, x.rows(), rank);
        be.matmulBackward(du, b.grad(), null, dy, u, b.value());
        be.scale(du, scale);
        if (p == 0) {
            be.matmulBackward(dx == null ? null : scratchIn, a.grad(), null, du, x, a.value());
        } else {
            be.dropout(scratchIn, x, p, seed);                           // x̃ again, from the same mask
            if (a.grad() != null) be.matmulBackward(null, a.grad(), null, du, scratchIn, a.value());
            if (dx != null) {
                be.matmulBackward(scratchIn, null, null, du, x, a.value());
                be.dropoutBackward(scratchIn, scratchIn, p, seed);
            }
        }
        if (dx != null) be.add(dx, dx, scratchIn);
    }

    /** On: the layer adds the adapter's term; off: the layer is its base alone. */
    void enable(boolean on) { enabled = on; }

    boolean enabled() { return enabled; }

    boolean trainable() { return a.trainable(); }
}
