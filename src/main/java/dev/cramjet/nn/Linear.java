package dev.cramjet.nn;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Tensor;
import dev.cramjet.nn.Parameters.Group;
import dev.cramjet.nn.Parameters.Init;
import dev.cramjet.nn.Parameters.Kind;
import dev.cramjet.nn.Parameters.Param;

/**
 * y = x·Wᵀ + b with W [out, in], optionally plus a low-rank {@link LoRA} adapter, with the matmul's epilogue
 * (GELU, or the residual add with dropout) applied to the sum. A frozen layer (its group not trained) skips its
 * weight and bias gradients; its input gradient is still computed when a layer below needs it.
 */
public final class Linear {
    private final Backend be;
    final Param weight, bias;
    final int in, out;
    private LoRA adapter;

    /** @param name its parameters' prefix ("h.0.attn.qkv" → h.0.attn.qkv.weight / .bias); weights start N(0, std²) */
    Linear(Backend be, Parameters ps, String name, Group group, int in, int out, boolean bias, double std) {
        this(be, ps.add(name + ".weight", group, Kind.MATRIX, new Init.Normal(std, (long) in * out), true, out, in),
                bias ? ps.add(name + ".bias", group, Kind.NORM_OR_BIAS, new Init.Constant(0f), false, out) : null);
    }

    /** A layer over existing parameters (a tied output head reuses the token embedding). */
    Linear(Backend be, Param weight, Param bias) {
        this.be = be;
        this.weight = weight;
        this.bias = bias;
        this.out = weight.shape()[0];
        this.in = weight.shape()[1];
    }

    /** Attaches a LoRA adapter (declared in the ADAPTER group); see {@link LoRA}. */
    void adapt(LoRA lora) { this.adapter = lora; }

    LoRA adapter() { return adapter; }

    /**
     * out = epilogue(x·Wᵀ + b [+ adapter(x)]). With an adapter the GELU epilogue runs unfused (it is not linear);
     * a residual epilogue stays fused: dropout draws its mask from the element index, so drop(a + b) = drop(a) +
     * drop(b) with the same seed. {@code rank} is the adapter's [rows, r] buffer (kept for the backward pass in
     * training, scratch when decoding); unused without an adapter.
     */
    void forward(Tensor y, Tensor x, Epilogue epilogue, Tensor rank) {
        if (adapter == null || !adapter.enabled()) {
            be.matmul(y, x, weight.value(), bias(), epilogue);
            return;
        }
        switch (epilogue) {
            case Epilogue.Gelu(Tensor pre) -> {
                Tensor sum = pre == null ? y : pre;
                be.matmul(sum, x, weight.value(), bias(), Epilogue.NONE);
                adapter.forward(sum, x, 0f, 0, rank);
                be.gelu(y, sum);
            }
            case Epilogue.Residual(Tensor residual, float p, long seed) -> {
                be.matmul(y, x, weight.value(), bias(), epilogue);
                adapter.forward(y, x, p, seed, rank);
            }
            case Epilogue.None() -> {
                be.matmul(y, x, weight.value(), bias(), epilogue);
                adapter.forward(y, x, 0f, 0, rank);
            }
        }
    }

    /**
     * dx = dy·W (overwritten; skipped when dx is null), dW += dyᵀ·x and db += Σ dy when trained, and the adapter's
     * part: its gradients, and its term added into dx (through {@code scratchIn} [rows, in] and
     * {@code scratchRank} [rows, r]).
     */
    void backward(Tensor dx, Tensor dy, Tensor x, Tensor scratchIn, Tensor scratchRank) {
        if (dx != null || weight.trainable() || (bias != null && bias.trainable())) {
            be.matmulBackward(dx, weight.grad(), bias == null ? null : bias.grad(), dy, x, weight.value());
        }
        if (adapter != null && adapter.enabled()) adapter.backward(dx, dy, x, scratchIn.view(0, x.rows(), in), scratchRank);
    }

    private Tensor bias() { return bias == null ? null : bias.value(); }

    boolean trainable() { return weight.trainable() || (bias != null && bias.trainable()) || (adapter != null && adapter.trainable()); }
}
