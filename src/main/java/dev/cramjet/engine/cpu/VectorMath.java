package dev.cramjet.engine.cpu;

import dev.cramjet.Lanes;
import jdk.incubator.vector.FloatVector;

/**
 * The activations on whole vectors, built on {@link Lanes#exp} (plain lanewise arithmetic that gives the same bits
 * in every JIT tier, so training resumes bit for bit), with scalar twins for loop tails.
 */
final class VectorMath {
    private VectorMath() {}

    /** σ(x) = 1 / (1 + e^−x). */
    static FloatVector sigmoid(FloatVector x) {
        return x.broadcast(1f).div(Lanes.exp(x.neg()).add(1f));
    }

    private static final float GELU_K = (float) Math.sqrt(2 / Math.PI);
    private static final float GELU_C = 0.044715f;

    /**
     * gelu(x) = 0.5·x·(1 + tanh u), u = √(2/π)·(x + 0.044715·x³), computed as x·σ(2u) since 0.5·(1 + tanh u) = σ(2u).
     */
    static FloatVector gelu(FloatVector x) {
        return x.mul(geluGate(x));
    }

    /** σ(2u): gelu(x) = x·σ(2u), and the factor gelu' is built from. */
    static FloatVector geluGate(FloatVector x) {
        return sigmoid(x.mul(x).mul(2 * GELU_K * GELU_C).add(2 * GELU_K).mul(x));
    }

    /** gelu'(x) = σ(2u) + 2x·σ(2u)·(1 − σ(2u))·u',  u' = √(2/π)·(1 + 3·0.044715·x²), given s = {@link #geluGate}(x). */
    static FloatVector geluGrad(FloatVector x, FloatVector s) {
        FloatVector du = x.mul(x).mul(3 * GELU_K * GELU_C).add(GELU_K);
        return s.neg().add(1f).mul(s).mul(du).mul(x.add(x)).add(s);
    }

    // Scalar twins of the vector functions for loop tails (the same formulas; StrictMath keeps them reproducible).
    // Tails run scalar rather than masked so each kernel inlines exp once: C2 boxes the vectors of an exp call it
    // could not inline within its budget, and every extra inlined copy brings that closer.

    static float sigmoid(float x) {
        return 1 / (1 + (float) StrictMath.exp(-x));
    }

    static float silu(float x) {
        return x * sigmoid(x);
    }

    static float gelu(float x) {
        return x * sigmoid((2 * GELU_K * GELU_C * x * x + 2 * GELU_K) * x);
    }

    static float geluGrad(float x) {
        float s = sigmoid((2 * GELU_K * GELU_C * x * x + 2 * GELU_K) * x);
        return (1 - s) * s * (3 * GELU_K * GELU_C * x * x + GELU_K) * (x + x) + s;
    }
}
