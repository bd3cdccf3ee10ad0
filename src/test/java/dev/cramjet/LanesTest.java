package dev.cramjet;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class LanesTest {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private final SplittableRandom rnd = new SplittableRandom(7);

    @Test
    void expIsAccurateAcrossTheFloatRange() {
        float[] x = new float[S.length()], y = new float[x.length];
        double worst = 0;
        for (int k = 0; k < 20_000; k++) {
            for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextDouble() * 175 - 87);
            Lanes.exp(FloatVector.fromArray(S, x, 0)).intoArray(y, 0);
            for (int i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(y[i] / Math.exp(x[i]) - 1));
        }
        assertTrue(worst < 3e-7, "max relative error " + worst);
        java.util.Arrays.fill(x, Float.NEGATIVE_INFINITY);
        x[1] = -100f;
        x[2] = 0f;
        Lanes.exp(FloatVector.fromArray(S, x, 0)).intoArray(y, 0);
        assertEquals(0f, y[0]);
        assertEquals(0f, y[1]);
        assertEquals(1f, y[2]);
    }

    @Test
    void laneSumsUseOnePairwiseOrder() {
        // The order is the contract (bit-reproducible runs): lane i absorbs lane i + L/2, then i + L/4, ...
        float[] x = new float[S.length()];
        for (int k = 0; k < 1000; k++) {
            for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(8)));
            float[] v = x.clone();
            for (int half = v.length / 2; half >= 1; half /= 2) for (int i = 0; i < half; i++) v[i] += v[i + half];
            assertEquals(v[0], Lanes.sum(FloatVector.fromArray(S, x, 0)));
        }
    }
}
