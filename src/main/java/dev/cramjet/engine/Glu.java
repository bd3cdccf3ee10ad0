package dev.cramjet.engine;

/**
 * The gated linear units of {@link Backend#glu} (Shazeer, "GLU Variants Improve Transformer"): on in = [gate | up],
 * out = act(gate)·up. SWIGLU: act = silu, silu(x) = x·σ(x) (Llama). GEGLU: act = gelu, the tanh approximation
 * (Cramming's gated GELU).
 */
public enum Glu { SWIGLU, GEGLU }
