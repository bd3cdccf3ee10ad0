package dev.cramjet.engine.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Transcendentals on whole vectors in plain lanewise arithmetic. The Vector API's own EXP is an SVML call once
 * compiled but a per-lane Math.exp loop before that, and the two can differ in the last bit, so a run's results would
 * depend on JIT timing; these formulas give the same bits in every tier (training resumes bit for bit) and are as
 * fast as the intrinsic.
 */
final class VectorMath {
    private VectorMath() {}

    private static final float LOG2E = 1.44269504088896341f;
    /** ln 2 split in two so n·LN2_HI is exact for the |n| ≤ 128 that occur (Cody–Waite reduction). */
    private static final float LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    /** Adding 1.5·2²³ rounds a float below 2²² to the nearest integer, left in the low mantissa bits. */
    private static final float ROUNDER = 12582912f;
    private static final float MIN_ARG = -87.33f, MAX_ARG = 88.3f;

    /**
     * e^x to about 2 ulp: x = n·ln2 + r with |r| ≤ ln2/2, e^r by the Cephes degree-6 polynomial, 2^n built in the
     * exponent bits. Arguments below −87.33 (including −∞) give 0; above 88.3 they saturate at e^88.3 ≈ 2e38.
     */
    static FloatVector exp(FloatVector x) {
        FloatVector xc = x.max(MIN_ARG).min(MAX_ARG);
        FloatVector t = xc.fma(LOG2E, ROUNDER);
        FloatVector n = t.sub(ROUNDER);
        FloatVector r = n.fma(x.broadcast(-LN2_HI), xc);
        r = n.fma(x.broadcast(-LN2_LO), r);
        FloatVector p = r.fma(1.9875691500e-4f, 1.3981999507e-3f);
        p = p.fma(r, x.broadcast(8.3334519073e-3f));
        p = p.fma(r, x.broadcast(4.1665795894e-2f));
        p = p.fma(r, x.broadcast(1.6666665459e-1f));
        p = p.fma(r, x.broadcast(5.0000001201e-1f));
        p = p.fma(r.mul(r), r).add(1f);
        // t's bits hold 0x4B400000 + n; (bits + 127) << 23 is 2^n because 0x4B400000 << 23 vanishes mod 2^32.
        IntVector bits = t.reinterpretAsInts();
        FloatVector pow2 = bits.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return p.mul(pow2).blend(0f, x.compare(VectorOperators.LT, MIN_ARG));
    }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** FOLD[k] moves lane i + 2^k to lane i: the steps of a pairwise lane sum. */
    @SuppressWarnings({"unchecked", "rawtypes"}) // Java has no generic array creation
    private static final VectorShuffle<Float>[] FOLD = new VectorShuffle[Integer.numberOfTrailingZeros(S.length())];

    static {
        for (int k = 0; k < FOLD.length; k++) FOLD[k] = S.iotaShuffle(1 << k, 1, true);
    }

    /**
     * The sum of a vector's lanes in one fixed pairwise order. reduceLanes(ADD) may associate differently once the
     * JIT compiles it than in the interpreter, which makes a run's float results depend on JIT timing; training
     * must be reproducible bit for bit, so every horizontal sum goes through here.
     */
    static float sum(FloatVector v) {
        for (int k = FOLD.length - 1; k >= 0; k--) v = v.add(v.rearrange(FOLD[k]));
        return v.lane(0);
    }

    /** σ(x) = 1 / (1 + e^−x). */
    static FloatVector sigmoid(FloatVector x) {
        return x.broadcast(1f).div(exp(x.neg()).add(1f));
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
