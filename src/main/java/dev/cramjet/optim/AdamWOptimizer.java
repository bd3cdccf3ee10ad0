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
 *
 * <p>An optimizer may own only a part of the gradients, the elements [from, to) of their layout: ZeRO-1's shard of
 * one data-parallel rank. Its state then covers that part only, its runs are the merged runs cut to it, and
 * {@link #gradNorm} measures that part; the caller combines the parts' norms and hands the global one to
 * {@link #useNorm} for clipping.
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

    /** A run before it is cut to this optimizer's part: its values' offset, its gradients' offset, its length. */
    private record Span(long values, long grads, int len, boolean decayed) {}

    private final Backend be;
    private final Settings settings;
    private final Tensor values, grads, part, m, v, master, norm;
    private final long from;
    private final List<Run> runs = new ArrayList<>();
    private final float[] normHost = new float[1];
    /** Whether {@link #norm} holds the current gradients' norm (set by gradNorm, used up by update). */
    private boolean normMeasured;
    private int step;

    /** AdamW over all the trainable parameters. */
    public AdamWOptimizer(Backend backend, Parameters params, Settings settings) {
        this(backend, params, settings, 0, params.trainableCount());
    }

    /** AdamW over the gradient elements [from, to) of the trainable parameters (a ZeRO-1 shard). */
    public AdamWOptimizer(Backend backend, Parameters params, Settings settings, long from, long to) {
        this.be = backend;
        this.settings = settings;
        this.values = params.values();
        this.grads = params.gradients();
        if (grads == null) throw new IllegalArgumentException("the model trains no parameters: nothing to optimize");
        if (from < 0 || to > grads.size() || from >= to) {
            throw new IllegalArgumentException("optimizer part [" + from + ", " + to + ") outside the " + grads.size() + " trainable elements");
        }
        this.from = from;
        int n = (int) (to - from);
        this.part = grads.view(from, n);
        this.m = be.alloc(DType.F32, n);
        this.v = be.alloc(DType.F32, n);
        this.master = values.dtype() == DType.F32 ? null : be.alloc(DType.F32, n);
        this.norm = be.alloc(DType.F32, 1);
        List<Span> spans = new ArrayList<>();
        for (Parameters.Range r : params.ranges()) {
            boolean decayed = r.kind() == Kind.MATRIX || (r.kind() == Kind.EMBEDDING && settings.decayEmbeddings());
            Span s = new Span(r.values().offset - values.offset, r.grads().offset - grads.offset, (int) r.grads().size(), decayed);
            if (!spans.isEmpty()) {
                Span last = spans.getLast();
                if (last.decayed == decayed && last.values + last.len == s.values && last.grads + last.len == s.grads) {
                    spans.set(spans.size() - 1, new Span(last.values, last.grads, last.len + s.len, decayed));
                    continue;
                }
            }
            spans.add(s);
        }
        for (Span s : spans) {
            long lo = Math.max(from, s.grads), hi = Math.min(to, s.grads + s.len);
            if (lo >= hi) continue;
            int len = (int) (hi - lo);
            runs.add(new Run(values.view(s.values + lo - s.grads, len), grads.view(lo, len), m.view(lo - from, len),
                    v.view(lo - from, len), master == null ? null : master.view(lo - from, len), s.decayed));
        }
        if (master != null) for (Run r : runs) be.copy(r.master, r.params);
    }

    /**
     * Measures the global gradient norm (the one 4-byte download of a step) and keeps it on the device for the
     * clipping in the next {@link #update}. A trainer that must see the norm before deciding to update (to skip a
     * non-finite step) calls this, then update; the norm is computed once either way.
     */
    public float gradNorm() {
        be.globalNorm(norm, part);
        be.download(norm, normHost);
        normMeasured = true;
        return normHost[0];
    }

    /**
     * Clips the next {@link #update} by {@code globalNorm} instead of this optimizer's own part's norm: the norm
     * over every part, which the caller combined from the parts' {@link #gradNorm}s.
     */
    public void useNorm(float globalNorm) {
        if (!normMeasured) throw new IllegalStateException("useNorm before gradNorm");
        normHost[0] = globalNorm;
        be.upload(norm, normHost);
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

    /** First moments, F32, the layout of the gradients (of this optimizer's part). */
    public Tensor m() { return m; }

    /** Second moments, F32, the layout of the gradients (of this optimizer's part). */
    public Tensor v() { return v; }

    /** The F32 master weights (the layout of the gradients), or null when the parameters are F32 themselves. */
    public Tensor master() { return master; }

    /**
     * The most precise copy of a parameter's values: its F32 master when the optimizer keeps one (a trained
     * parameter of this optimizer's part, on a BF16 backend), else the parameter itself.
     */
    public Tensor weights(Param p) {
        if (master == null || !p.trainable()) return p.value();
        long at = p.grad().offset - grads.offset;
        if (at < from || at + p.size() > from + m.size()) return p.value();
        return master.view(at - from, p.shape());
    }

    /** The first gradient element this optimizer owns (0 unless it is a shard). */
    public long from() { return from; }

    /** The number of gradient elements it owns: the size of m, v and master. */
    public long size() { return m.size(); }

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
