package dev.cramjet.tune;

import dev.cramjet.engine.Rng;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class BlendTest {

    private static float[][] softmaxRows(double[][] z) {
        float[][] p = new float[z.length][];
        for (int i = 0; i < z.length; i++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (double v : z[i]) max = Math.max(max, v);
            p[i] = new float[z[i].length];
            for (double v : z[i]) sum += Math.exp(v - max);
            for (int c = 0; c < z[i].length; c++) p[i][c] = (float) (Math.exp(z[i][c] - max) / sum);
        }
        return p;
    }

    /**
     * Labels drawn from the model the blend assumes, p ∝ exp(0.7·log p₁ + 0.4·log p₂ + β) with β = (0, −0.5, 0.3):
     * on 20,000 examples the fit recovers the weights to within sampling error.
     */
    @Test
    void recoversTheWeightsLabelsWereDrawnWith() {
        int n = 20_000, k = 3;
        double[][] z1 = new double[n][k], z2 = new double[n][k];
        for (int i = 0; i < n; i++) for (int c = 0; c < k; c++) {
            z1[i][c] = 4 * (Rng.uniform(11, i * k + c) - 0.5);
            z2[i][c] = 4 * (Rng.uniform(12, i * k + c) - 0.5);
        }
        float[][] p1 = softmaxRows(z1), p2 = softmaxRows(z2);
        double[] beta = {0, -0.5, 0.3};
        double[][] zt = new double[n][k];
        for (int i = 0; i < n; i++) for (int c = 0; c < k; c++) zt[i][c] = 0.7 * Math.log(p1[i][c]) + 0.4 * Math.log(p2[i][c]) + beta[c];
        float[][] pt = softmaxRows(zt);
        int[] truth = new int[n];
        for (int i = 0; i < n; i++) {
            double u = Rng.uniform(13, i), acc = 0;
            truth[i] = k - 1;
            for (int c = 0; c < k; c++) if (u < (acc += pt[i][c])) { truth[i] = c; break; }
        }
        Blend b = Blend.fit(p1, p2, truth);
        assertEquals(0.7, b.first(), 0.05, b.toString());
        assertEquals(0.4, b.second(), 0.05, b.toString());
        assertEquals(0, b.bias()[0]);
        assertEquals(-0.5, b.bias()[1], 0.06, b.toString());
        assertEquals(0.3, b.bias()[2], 0.06, b.toString());
        float[][] q = b.probabilities(p1, p2);
        assertEquals(1, q[0][0] + q[0][1] + q[0][2], 1e-6);
    }

    /** When the second classifier is uninformative (uniform), the blend is the first one alone. */
    @Test
    void anUninformativeSecondClassifierLeavesTheFirst() {
        int n = 4000;
        float[][] p1 = new float[n][], p2 = new float[n][];
        int[] truth = new int[n];
        for (int i = 0; i < n; i++) {
            float s = (float) Rng.uniform(21, i);
            p1[i] = new float[] {1 - s, s};
            p2[i] = new float[] {0.5f, 0.5f};
            truth[i] = Rng.uniform(22, i) < s ? 1 : 0; // calibrated: spam with probability s
        }
        Blend b = Blend.fit(p1, p2, truth);
        assertEquals(1, b.first(), 0.1, b.toString());
        assertEquals(0, b.bias()[1], 0.1, b.toString());
        float[][] q = b.probabilities(new float[][] {{0.2f, 0.8f}}, new float[][] {{0.5f, 0.5f}});
        assertEquals(0.8, q[0][1], 0.05);
    }

    /** Separable held-out data would send the weights to infinity; the penalty keeps them finite. */
    @Test
    void separableDataStaysFinite() {
        float[][] p1 = {{0.9f, 0.1f}, {0.8f, 0.2f}, {0.1f, 0.9f}, {0.3f, 0.7f}}, p2 = {{0.6f, 0.4f}, {0.5f, 0.5f}, {0.4f, 0.6f}, {0.5f, 0.5f}};
        Blend b = Blend.fit(p1, p2, new int[] {0, 0, 1, 1});
        assertTrue(Double.isFinite(b.first()) && Double.isFinite(b.second()) && b.first() > 1, b.toString());
        int[] predicted = Classifier.decide(b.probabilities(p1, p2), Double.NaN);
        assertArrayEquals(new int[] {0, 0, 1, 1}, predicted);
    }
}
