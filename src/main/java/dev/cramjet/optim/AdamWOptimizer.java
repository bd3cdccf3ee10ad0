package dev.cramjet.optim;

import dev.cramjet.engine.AdamW;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;
import dev.cramjet.nn.GPT;

/**
 * AdamW over a model's single parameter buffer. The buffer starts with the weight matrices (the decayed group)
 * and continues with embeddings, norms and biases (not decayed by default), so a step is: one global-norm launch
 * over the gradient buffer, two fused AdamW launches, one 4-byte download of the norm. When the backend computes
 * in BF16 the optimizer keeps an F32 master copy of the weights and updates that.
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

    private final Backend be;
    private final Settings settings;
    private final Tensor params, grads, m, v, master, norm;
    private final Tensor[] groupParams, groupGrads, groupM, groupV, groupMaster;
    private final float[] normHost = new float[1];
    /** Whether {@link #norm} holds the current gradients' norm (set by gradNorm, used up by update). */
    private boolean normMeasured;
    private int step;

    public AdamWOptimizer(GPT model, Settings settings) {
        this.be = model.backend();
        this.settings = settings;
        this.params = model.parameters();
        this.grads = model.gradients();
        int n = (int) params.size();
        this.m = be.alloc(DType.F32, n);
        this.v = be.alloc(DType.F32, n);
        if (params.dtype() == DType.F32) {
            this.master = null;
        } else {
            this.master = be.alloc(DType.F32, n);
            be.copy(master, params);
        }
        this.norm = be.alloc(DType.F32, 1);
        long decayed = settings.decayEmbeddings() ? model.matrixAndEmbeddingElements() : model.matrixElements();
        long[][] ranges = {{0, decayed}, {decayed, n}};
        groupParams = new Tensor[2];
        groupGrads = new Tensor[2];
        groupM = new Tensor[2];
        groupV = new Tensor[2];
        groupMaster = new Tensor[2];
        for (int g = 0; g < 2; g++) {
            int len = (int) (ranges[g][1] - ranges[g][0]);
            long off = ranges[g][0];
            groupParams[g] = params.view(off, len);
            groupGrads[g] = grads.view(off, len);
            groupM[g] = m.view(off, len);
            groupV[g] = v.view(off, len);
            groupMaster[g] = master == null ? null : master.view(off, len);
        }
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
        for (int g = 0; g < 2; g++) {
            if (groupParams[g].size() == 0) continue;
            be.adamW(groupParams[g], groupGrads[g], groupM[g], groupV[g], groupMaster[g], clip,
                    g == 0 ? hp : hp.withWeightDecay(0f));
        }
    }

    /** {@link #gradNorm} then {@link #update}: returns the global gradient norm before clipping. */
    public float step(float lr) {
        float n = gradNorm();
        update(lr);
        return n;
    }

    public Settings settings() { return settings; }

    /** First moments, F32, the layout of the parameter buffer. */
    public Tensor m() { return m; }

    /** Second moments, F32, the layout of the parameter buffer. */
    public Tensor v() { return v; }

    /** The F32 weights the optimizer updates: the master copy on BF16 backends, else the parameters themselves. */
    public Tensor weights() { return master == null ? params : master; }

    /** Updates taken so far (AdamW's t after the last step). */
    public int stepCount() { return step; }

    /**
     * Restores the step counter (after loading m and v from a checkpoint). On a BF16 backend the master copy is
     * refreshed from the parameters, so load the weights before calling this, or upload the F32 weights into
     * {@link #weights()} afterwards.
     */
    public void restore(int stepCount) {
        if (stepCount < 0) throw new IllegalArgumentException("step count must be ≥ 0, got " + stepCount);
        this.step = stepCount;
        if (master != null) be.copy(master, params);
    }
}
