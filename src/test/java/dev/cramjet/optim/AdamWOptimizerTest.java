package dev.cramjet.optim;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.Parameters;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class AdamWOptimizerTest {
    /** Two steps against the textbook update computed on the host: decay on matrices only, clipping by global norm. */
    @Test
    void decaysMatricesOnlyAndClipsByTheGlobalNorm() {
        try (Backend be = new CpuBackend()) {
            GPT g = new GPT(be, GPTConfig.preset("micro"), 1, 4, 1);
            int n = (int) g.parameterCount();
            SplittableRandom r = new SplittableRandom(2);
            float[] w = new float[n], grad = new float[n];
            for (int i = 0; i < n; i++) {
                w[i] = (float) r.nextGaussian();
                grad[i] = (float) (0.01 * r.nextGaussian());
            }
            be.upload(g.parameters().values(), w);
            be.upload(g.parameters().gradients(), grad);
            var s = new AdamWOptimizer.Settings(0.9f, 0.95f, 1e-8f, 0.1f, 0.5f, false);
            AdamWOptimizer opt = new AdamWOptimizer(g.backend(), g.parameters(), s);

            double sq = 0;
            for (float x : grad) sq += (double) x * x;
            double norm = Math.sqrt(sq), clip = Math.min(1, 0.5 / (norm + 1e-6));
            assertTrue(clip < 1, "the test must exercise clipping");
            double[] m = new double[n], v = new double[n], want = new double[n];
            for (int i = 0; i < n; i++) want[i] = w[i];
            long matrices = 0;   // the buffer starts with the matrices, the decayed kind
            for (Parameters.Param p : g.parameterList()) if (p.kind() == Parameters.Kind.MATRIX) matrices += p.size();
            for (int step = 1; step <= 2; step++) {
                float lr = 0.01f * step;
                assertEquals(norm, opt.step(lr), 1e-4 * norm);
                for (int i = 0; i < n; i++) {
                    double gi = grad[i] * clip;
                    m[i] = 0.9 * m[i] + 0.1 * gi;
                    v[i] = 0.95 * v[i] + 0.05 * gi * gi;
                    double mh = m[i] / (1 - Math.pow(0.9, step)), vh = v[i] / (1 - Math.pow(0.95, step));
                    double decay = i < matrices ? 0.1 : 0;
                    want[i] -= lr * (mh / (Math.sqrt(vh) + 1e-8) + decay * want[i]);
                }
            }
            float[] got = new float[n];
            be.download(g.parameters().values(), got);
            for (int i = 0; i < n; i++) assertEquals(want[i], got[i], 1e-5, "element " + i);
            assertEquals(2, opt.stepCount());
            assertNull(opt.master(), "fp32 backends need no master copy");
        }
    }

    /** update clips with the norm gradNorm measured, so it must follow one — each update needs a fresh norm. */
    @Test
    void updateNeedsAFreshGradientNorm() {
        try (Backend be = new CpuBackend()) {
            GPT g = new GPT(be, GPTConfig.preset("micro"), 1, 4, 1);
            AdamWOptimizer opt = new AdamWOptimizer(g.backend(), g.parameters(), AdamWOptimizer.Settings.defaults());
            assertThrows(IllegalStateException.class, () -> opt.update(0.01f));
            opt.gradNorm();
            opt.update(0.01f);
            assertEquals(1, opt.stepCount());
            assertThrows(IllegalStateException.class, () -> opt.update(0.01f));
        }
    }
}
