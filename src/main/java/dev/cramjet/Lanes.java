package dev.cramjet;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * e^x and the lane sum on whole vectors, in plain lanewise arithmetic with one fixed order. The Vector API's own
 * EXP is an SVML call once compiled but a per-lane Math.exp loop before that, and reduceLanes(ADD) may associate
 * differently in the interpreter than once compiled; the two can differ in the last bit, so results would depend on
 * JIT timing. These give the same bits in every tier and are as fast as the intrinsics. They live here, above every
 * pipeline stage, because the CPU backend (training resumes bit for bit) and the sampler (the same seed gives the
 * same text) both need them and the sampler may not depend on a backend.
 */
public final class Lanes {
    private Lanes() {}

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
    public static FloatVector exp(FloatVector x) {
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

    /** The sum of a vector's lanes in one fixed pairwise order: lane i absorbs lane i + L/2, then i + L/4, … */
    public static float sum(FloatVector v) {
        for (int k = FOLD.length - 1; k >= 0; k--) v = v.add(v.rearrange(FOLD[k]));
        return v.lane(0);
    }
}
