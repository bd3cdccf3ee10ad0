package dev.cramjet.nn;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.optim.AdamWOptimizer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

public class GPTTest {
    private final Backend be = new CpuBackend();

    @AfterEach
    void close() { be.close(); }

    /**
     * A micro model; {@code variant} picks one of four option mixes that together cover every switch both ways;
     * 4 and 5 are 0 and 1 with heads that do not split the width (as after head pruning): 3 heads of 4 (attention
     * narrower than n_embd) and 3 of 8 (wider).
     */
    public static GPTConfig micro(int variant) {
        if (variant >= 4) return micro(variant - 4).with(Map.of("n_head", 3L, "head_dim", variant == 4 ? 4L : 8L), "test");
        Map<String, Object> m = switch (variant) {
            case 0 -> Map.of("positions", "learned", "norm", "layer", "mlp", "gelu", "tied_embeddings", true, "bias", true, "dropout", 0.2);
            case 1 -> Map.of("positions", "rope", "norm", "rms", "mlp", "swiglu", "tied_embeddings", false, "bias", false);
            case 2 -> Map.of("positions", "rope", "norm", "layer", "mlp", "gelu", "tied_embeddings", false, "bias", true);
            case 3 -> Map.of("positions", "learned", "norm", "rms", "mlp", "swiglu", "tied_embeddings", true, "bias", false, "dropout", 0.1);
            default -> throw new IllegalArgumentException();
        };
        return GPTConfig.preset("micro").with(Map.of("n_layer", 2L, "n_embd", 16L, "n_head", 2L, "vocab_size", 37L,
                "block_size", 8L), "test").with(m, "test");
    }

    /** Replaces the init with larger random values so every path carries a sizeable gradient. */
    public static float[] randomize(Model g, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] all = new float[(int) g.parameterCount()];
        for (Parameters.Param p : g.parameterList()) {
            int off = (int) p.value().offset;
            boolean normWeight = p.kind() == Parameters.Kind.NORM_OR_BIAS && p.name().endsWith("weight");
            for (int i = 0; i < p.value().size(); i++) {
                all[off + i] = normWeight ? (float) (1 + 0.2 * r.nextGaussian()) : (float) (0.3 * r.nextGaussian());
            }
        }
        g.backend().upload(g.parameters().values(), all);
        return all;
    }

    public static int[] ids(SplittableRandom r, int n, int vocab) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = r.nextInt(vocab);
        return t;
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3, 4, 5})
    void backwardMatchesFiniteDifferences(int variant) {
        GPTConfig cfg = micro(variant);
        int batch = 2, seq = 8, n = batch * seq;
        GPT g = new GPT(be, cfg, batch, seq, 1);
        float[] w = randomize(g, 7 + variant);
        SplittableRandom r = new SplittableRandom(variant);
        int[] x = ids(r, n, cfg.vocabSize()), y = ids(r, n, cfg.vocabSize());
        y[3] = -1; // an ignored target
        if (cfg.dropout() > 0) g.train(99); // a fixed mask: the loss is still a smooth function of the weights

        g.zeroGrad();
        g.forward(x, y);
        g.backward();
        float[] grad = new float[w.length];
        be.download(g.parameters().gradients(), grad);

        float eps = 1e-2f;
        int checked = 0;
        for (Parameters.Param p : g.parameterList()) {
            int off = (int) p.value().offset;
            int real = p.name().equals("wte.weight") || p.name().equals("lm_head.weight")
                    ? cfg.vocabSize() * cfg.nEmbd() : (int) p.value().size();
            double errSq = 0, refSq = 0;
            for (int s = 0; s < 4; s++) {
                int i = off + r.nextInt(real);
                float keep = w[i];
                w[i] = keep + eps;
                be.upload(g.parameters().values(), w);
                double plus = g.forward(x, y);
                w[i] = keep - eps;
                be.upload(g.parameters().values(), w);
                double minus = g.forward(x, y);
                w[i] = keep;
                double numeric = (plus - minus) / (2 * eps);
                errSq += (numeric - grad[i]) * (numeric - grad[i]);
                refSq += numeric * numeric;
                checked++;
            }
            // Relative error over the sample, with a floor for tensors whose sampled gradient is tiny.
            double rel = Math.sqrt(errSq) / Math.max(Math.sqrt(refSq), 1e-2);
            assertTrue(rel < 2e-2, p.name() + ": backward disagrees with finite differences, relative error " + rel);
        }
        be.upload(g.parameters().values(), w);
        assertTrue(checked >= 4 * 14, "sampled " + checked);
        // Padding rows of the vocabulary never get a gradient.
        Parameters.Param wte = g.parameter("wte.weight");
        for (int i = cfg.vocabSize() * cfg.nEmbd(); i < wte.value().size(); i++) assertEquals(0f, grad[(int) wte.value().offset + i]);
    }

    @Test
    void memorizesAFixedBatch() {
        GPTConfig cfg = GPTConfig.preset("micro").with(Map.of("vocab_size", 64L, "block_size", 16L), "test");
        GPT g = new GPT(be, cfg, 4, 16, 3);
        AdamWOptimizer opt = new AdamWOptimizer(g.backend(), g.parameters(), new AdamWOptimizer.Settings(0.9f, 0.95f, 1e-8f, 0f, 1f, false));
        SplittableRandom r = new SplittableRandom(5);
        int[] x = ids(r, 64, 64), y = ids(r, 64, 64);
        float first = Float.NaN, loss = Float.NaN;
        for (int step = 0; step < 60; step++) {
            g.zeroGrad();
            loss = g.forward(x, y);
            if (step == 0) first = loss;
            g.backward();
            float norm = opt.step(1e-2f);
            assertTrue(norm > 0 && Float.isFinite(norm));
        }
        assertEquals(Math.log(64), first, 0.1, "starts at chance");
        assertTrue(loss < 0.1, "loss after 60 steps: " + loss);
        assertEquals(60, opt.stepCount());
    }

    private float[] losses(GPTConfig cfg, long seed) {
        try (Backend b = new CpuBackend()) {
            GPT g = new GPT(b, cfg, 2, 8, seed);
            AdamWOptimizer opt = new AdamWOptimizer(g.backend(), g.parameters(), AdamWOptimizer.Settings.defaults());
            SplittableRandom r = new SplittableRandom(11);
            float[] out = new float[5];
            for (int s = 0; s < out.length; s++) {
                g.train(1000 + s);
                g.zeroGrad();
                out[s] = g.forward(ids(r, 16, cfg.vocabSize()), ids(r, 16, cfg.vocabSize()));
                g.backward();
                opt.step(1e-2f);
            }
            return out;
        }
    }

    @Test
    void sameSeedSameLosses() {
        GPTConfig cfg = micro(0);
        float[] a = losses(cfg, 42), b = losses(cfg, 42), c = losses(cfg, 43);
        assertArrayEquals(a, b);
        assertNotEquals(a[0], c[0]);
        assertTrue(a[4] < a[0] + 1, "training does not diverge");
    }

    @Test
    void dropoutActsInTrainingModeOnly() {
        GPTConfig cfg = micro(0);
        GPT g = new GPT(be, cfg, 2, 8, 1);
        SplittableRandom r = new SplittableRandom(2);
        int[] x = ids(r, 16, cfg.vocabSize()), y = ids(r, 16, cfg.vocabSize());
        g.eval();
        float e1 = g.forward(x, y), e2 = g.forward(x, y);
        assertEquals(e1, e2);
        g.train(5);
        float t1 = g.forward(x, y), t1again = g.forward(x, y);
        g.train(6);
        float t2 = g.forward(x, y);
        assertEquals(t1, t1again, "same seed, same mask");
        assertNotEquals(e1, t1);
        assertNotEquals(t1, t2);
        g.eval();
        assertEquals(e1, g.forward(x, y));
        GPT noDropout = new GPT(be, cfg.with(Map.of("dropout", 0.0), "t"), 2, 8, 1);
        noDropout.train(5);
        assertEquals(e1, noDropout.forward(x, y), "p = 0 in training equals eval");
    }

    /** Two half-weighted micro-batches give the one-batch gradient, in both modes (training fuses the loss gradient). */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void gradientAccumulationAddsScaledMicroBatches(boolean training) {
        GPTConfig cfg = micro(1); // no dropout: both modes compute the same function
        GPT g = new GPT(be, cfg, 2, 8, 4);
        if (training) g.train(1);
        SplittableRandom r = new SplittableRandom(9);
        int[] x = ids(r, 16, cfg.vocabSize()), y = ids(r, 16, cfg.vocabSize());
        y[5] = -1;
        float[] one = new float[(int) g.parameterCount()], two = new float[one.length];
        g.zeroGrad();
        g.forward(x, y);
        g.backward();
        be.download(g.parameters().gradients(), one);
        g.zeroGrad();
        for (int k = 0; k < 2; k++) {
            g.forward(x, y);
            g.backward(2);
        }
        be.download(g.parameters().gradients(), two);
        double norm = 0;
        for (int i = 0; i < one.length; i++) {
            assertEquals(one[i], two[i], 1e-6f + 1e-4f * Math.abs(one[i]));
            norm += one[i] * one[i];
        }
        assertTrue(norm > 1e-6, "a real gradient");
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1})
    void kvCacheMatchesTheFullForwardAtEveryPosition(int variant) {
        GPTConfig cfg = micro(variant);
        GPT g = new GPT(be, cfg, 1, 8, 3);
        randomize(g, 8);
        SplittableRandom r = new SplittableRandom(1);
        int[] x = ids(r, 8, cfg.vocabSize());
        g.train(77); // the full forward must not use dropout for this comparison
        g.eval();
        g.forward(x, null);
        GPT.Session s = g.session(8);
        // A prompt of three tokens, then one token at a time.
        float[] last = s.next(new int[] {x[0], x[1], x[2]});
        assertArrayEquals(g.logitsAt(2), last, 1e-4f);
        for (int t = 3; t < 8; t++) {
            float[] l = s.next(new int[] {x[t]});
            assertArrayEquals(g.logitsAt(t), l, 1e-4f, "position " + t);
        }
        assertEquals(8, s.position());
        assertThrows(dev.cramjet.CramjetException.class, () -> s.next(new int[] {1}));
        s.reset();
        assertArrayEquals(g.logitsAt(0), s.next(new int[] {x[0]}), 1e-4f);
    }

    @Test
    void greedyDecodingWithAndWithoutCacheGivesTheSameTokens() {
        GPTConfig cfg = micro(1);
        GPT g = new GPT(be, cfg, 1, 8, 3);
        randomize(g, 4);
        int[] cached = new int[8], plain = new int[8];
        cached[0] = plain[0] = 5;
        GPT.Session s = g.session(8);
        float[] l = s.next(new int[] {5});
        for (int t = 1; t < 8; t++) {
            cached[t] = argmax(l);
            if (t < 7) l = s.next(new int[] {cached[t]});
        }
        for (int t = 1; t < 8; t++) {
            int[] window = new int[8]; // positions after t are padding the causal mask never lets t see
            System.arraycopy(plain, 0, window, 0, t);
            g.forward(window, null);
            plain[t] = argmax(g.logitsAt(t - 1));
        }
        assertArrayEquals(plain, cached);
    }

    private static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    @Test
    void countsParametersLikeGpt2() {
        GPT g = new GPT(be, GPTConfig.preset("tiny").with(Map.of("block_size", 64L), "t"), 1, 8, 0);
        long c = 256, v = 8192, t = 64, layer = 12 * c * c + 13 * c;
        assertEquals(v * c + t * c + 4 * layer + 2 * c, g.parameterCount());
        assertEquals(v * c + 4 * layer + 2 * c, g.parameterCount(false));
        long matrices = 0;
        for (Parameters.Param p : g.parameterList()) if (p.kind() == Parameters.Kind.MATRIX) matrices += p.size();
        assertEquals(4 * 12 * c * c, matrices);
    }
}
