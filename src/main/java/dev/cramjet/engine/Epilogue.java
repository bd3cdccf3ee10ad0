package dev.cramjet.engine;

/**
 * What {@link Backend#matmul} does with y = x·Wᵀ + b before storing it, so no extra pass over memory is needed.
 */
public sealed interface Epilogue {
    /** out = y. */
    record None() implements Epilogue {}

    /** out = gelu(y) (tanh approximation, as GPT-2); if {@code pre} is not null it also receives y for the backward pass. */
    record Gelu(Tensor pre) implements Epilogue {}

    /**
     * out = residual + dropout(y): the transformer's residual connection fused into the projection.
     * {@code out} may be the same tensor as {@code residual}. Dropout keeps each element with probability 1-p and
     * scales kept ones by 1/(1-p), with the mask a pure function of (seed, element index) — see {@link Backend#dropout}.
     */
    record Residual(Tensor residual, float dropout, long seed) implements Epilogue {}

    Epilogue NONE = new None();
}
