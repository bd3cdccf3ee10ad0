package dev.cramjet.optim;

import dev.cramjet.engine.AdamW;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;
import dev.cramjet.nn.Parameters;
import dev.cramjet.nn.Parameters.Kind;
import dev.cramjet.nn.Parameters.Param;

import java.util.ArrayList;
import java.util.List;

/**
 * AdamW over a model's trainable {@link Parameters}: their gradients are one buffer, and so are the moments m, v
 * (and an F32 master copy of the weights when the backend computes in BF16) in the same layout — nothing for
 * frozen parameters. A step is one global-norm launch over the gradients, one 4-byte download of the norm, and
 * a fused AdamW launch per run of parameters with the same decay: the trainable (group, kind) ranges, adjacent
 * ones with the same decay merged (matrices decayed, embeddings when asked, norms and biases never).
 */
public final class AdamWOptimizer {

    /**
     * Hyper-parameters. maxGradNorm ≤ 0 disables clipping (the norm is still measured and returned).
     * decayEmbeddings adds the token/position embeddings to the decayed group.
     */
    public record Settings(float beta1, float beta2, float eps, float weightDecay, float maxGradNorm,
                           boolean decayEmbeddings) {
        /** nanoGPT's and GPT-3's choices: β = (0.9, 0.95), ε = 1e-8, λ = 0.1, clip at 1.0. */
        public static Settings defaults() { return new Settings(0.9f, 0.95f, 1e-8f, 0.1f, 1.0f, false); }
    }

    /** One fused launch: parameter values, and the matching views of the gradient-layout buffers. */
    private record Run(Tensor params, Tensor grads, Tensor m, Tensor v, Tensor master, boolean decayed) {}

    private final Backend be;
    private final Settings settings;
    private final Tensor values, grads, m, v, master, norm;
    private final List<Run> runs = new ArrayList<>();
    private final float[] normHost = new float[1];
    /** Whether {@link #norm} holds the current gradients' norm (set by gradNorm, used up by update). */
    private boolean normMeasured;
    private int step;

    public AdamWOptimizer(Backend backend, Parameters params, Settings settings) {
        this.be = backend;
        this.settings = settings;
        this.values = params.values();
        this.grads = params.gradients();
        if (grads == null) throw new IllegalArgumentException("the model trains no parameters: nothing to optimize");
        int n = (int) grads.size();
        this.m = be.alloc(DType.F32, n);
        this.v = be.alloc(DType.F32, n);
        this.master = values.dtype() == DType.F32 ? null : be.alloc(DType.F32, n);
        this.norm = be.alloc(DType.F32, 1);
        for (Parameters.Range r : params.ranges()) {
            boolean decayed = r.kind() == Kind.MATRIX || (r.kind() == Kind.EMBEDDING && settings.decayEmbeddings());
            long at = r.grads().offset - grads.offset;
            int len = (int) r.grads().size();
            if (!runs.isEmpty()) {
                Run last = runs.getLast();
                if (last.decayed == decayed && last.params.offset + last.params.size() == r.values().offset
                        && last.grads.offset + last.grads.size() == r.grads().offset) {
                    int joined = (int) last.params.size() + len;
                    long from = last.grads.offset - grads.offset;
                    runs.set(runs.size() - 1, run(values.view(last.params.offset - values.offset, joined), from, joined, decayed));
                    continue;
                }
            }
            runs.add(run(r.values(), at, len, decayed));
        }
        if (master != null) for (Run r : runs) be.copy(r.master, r.params);
    }

    private Run run(Tensor values, long at, int len, boolean decayed) {
        return new Run(values, grads.view(at, len), m.view(at, len), v.view(at, len),
                master == null ? null : master.view(at, len), decayed);
    }

    /**
     * Measures the global gradient norm (the one 4-byte download of a step) and keeps it on the device for the
     * clipping in the next {@link #update}. A trainer that must see the norm before deciding to update (to skip a
     * non-finite step) calls this, then update; the norm is computed once either way.
     */
    public float gradNorm() {
        be.globalNorm(norm, grads);
        be.download(norm, normHost);
        normMeasured = true;
        return normHost[0];
    }

    /** One AdamW update with learning rate {@code lr}, clipped by the norm {@link #gradNorm} just measured. */
    public void update(float lr) {
        if (!normMeasured) throw new IllegalStateException("update before gradNorm: the clipping norm would be stale");
        normMeasured = false;
        step++;
        Tensor clip = settings.maxGradNorm() > 0 ? norm : null;
        AdamW hp = new AdamW(lr, settings.beta1(), settings.beta2(), settings.eps(), settings.weightDecay(), step,
                settings.maxGradNorm());
        for (Run r : runs) be.adamW(r.params, r.grads, r.m, r.v, r.master, clip, r.decayed ? hp : hp.withWeightDecay(0f));
    }

    /** {@link #gradNorm} then {@link #update}: returns the global gradient norm before clipping. */
    public float step(float lr) {
        float n = gradNorm();
        update(lr);
        return n;
    }

    public Settings settings() { return settings; }

    /** First moments, F32, the layout of the gradients. */
    public Tensor m() { return m; }

    /** Second moments, F32, the layout of the gradients. */
    public Tensor v() { return v; }

    /** The F32 master weights (the layout of the gradients), or null when the parameters are F32 themselves. */
    public Tensor master() { return master; }

    /**
     * The most precise copy of a parameter's values: its F32 master when the optimizer keeps one (a trained
     * parameter on a BF16 backend), else the parameter itself.
     */
    public Tensor weights(Param p) {
        if (master == null || !p.trainable()) return p.value();
        return master.view(p.grad().offset - grads.offset, p.shape());
    }

    /** Updates taken so far (AdamW's t after the last step). */
    public int stepCount() { return step; }

    /**
     * Restores the step counter (after loading m and v from a checkpoint). On a BF16 backend the master copy is
     * refreshed from the parameters, so load the weights before calling this, or upload the F32 weights into
     * {@link #master()} afterwards.
     */
    public void restore(int stepCount) {
        if (stepCount < 0) throw new IllegalArgumentException("step count must be ≥ 0, got " + stepCount);
        this.step = stepCount;
        if (master != null) for (Run r : runs) be.copy(r.master, r.params);
    }
}
