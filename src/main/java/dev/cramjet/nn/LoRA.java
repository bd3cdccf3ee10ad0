package dev.cramjet.nn;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Tensor;
import dev.cramjet.nn.Parameters.Group;
import dev.cramjet.nn.Parameters.Init;
import dev.cramjet.nn.Parameters.Kind;
import dev.cramjet.nn.Parameters.Param;

import java.util.Set;

/**
 * A low-rank adapter on a {@link Linear} (Hu et al., LoRA): y += s·(x·Aᵀ)·Bᵀ with A [r, in], B [out, r] and
 * s = α/r, started as PEFT does — A Kaiming-uniform (bound 1/√in), B zero, so the adapted layer starts equal to
 * the base. Its parameters are in the ADAPTER group, so "train only the adapters" freezes everything else.
 * The forward keeps u = s·x·Aᵀ [rows, r]; the backward is
 * <pre>
 *   dB += dyᵀ·u      du = dy·B      dA += s·duᵀ·x      dx += s·du·A
 * </pre>
 */
public final class LoRA {

    /** The linear layers of a block an adapter can target, by their parameter names. */
    public enum Target {
        QKV("attn.qkv"), ATTN_PROJ("attn.proj"), MLP_FC("mlp.fc"), MLP_PROJ("mlp.proj");

        public final String layer;

        Target(String layer) { this.layer = layer; }
    }

    /** Adapters of rank r and scale α/r on the {@code targets} of every block. */
    public record Spec(int rank, float alpha, Set<Target> targets) {
        public Spec {
            if (rank < 1) throw new CramjetException("LoRA rank must be at least 1, got " + rank);
            if (targets.isEmpty()) throw new CramjetException("LoRA needs at least one target layer");
            targets = Set.copyOf(targets);
        }
    }

    private final Backend be;
    final Param a, b;
    final int rank;
    final float scale;
    /** u = s·x·Aᵀ of the training forward [rows, r]. */
    private final Tensor u;

    LoRA(Backend be, Parameters ps, Workspace ws, String name, int in, int out, int rank, float alpha) {
        this.be = be;
        this.rank = rank;
        this.scale = alpha / rank;
        this.a = ps.add(name + ".lora_A.weight", Group.ADAPTER, Kind.MATRIX, new Init.Uniform(1 / Math.sqrt(in)), false, rank, in);
        this.b = ps.add(name + ".lora_B.weight", Group.ADAPTER, Kind.MATRIX, new Init.Constant(0f), false, out, rank);
        this.u = be.alloc(be.computeType(), ws.rows, rank);
    }

    /** y = y + drop(s·(x·Aᵀ)·Bᵀ) with the base's dropout mask; {@code rows} holds u (null: the training buffer). */
    void forward(Tensor y, Tensor x, float p, long seed, Tensor rows) {
        Tensor t = rows == null ? u : rows.view(0, x.rows(), rank);
        be.matmul(t, x, a.value(), null, Epilogue.NONE);
        be.scale(t, scale);
        be.matmul(y, t, b.value(), null, new Epilogue.Residual(y, p, seed));
    }

    /** Adds the adapter's gradients, and its input gradient into dx (when dx is not null). */
    void backward(Tensor dx, Tensor dy, Tensor x, Tensor scratchIn, Tensor scratchRank) {
        Tensor du = scratchRank.view(0, x.rows(), rank);
        be.matmulBackward(du, b.grad(), null, dy, u, b.value());
        be.scale(du, scale);
        be.matmulBackward(dx == null ? null : scratchIn, a.grad(), null, du, x, a.value());
        if (dx != null) be.add(dx, dx, scratchIn);
    }

    boolean trainable() { return a.trainable(); }
}
