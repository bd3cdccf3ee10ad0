package dev.cramjet.nn;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.nn.Parameters.Group;
import dev.cramjet.nn.Parameters.Param;
import dev.cramjet.optim.AdamWOptimizer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.EnumSet;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The models the layers compose beyond a plain GPT: an encoder over padded sequences, a frozen base with LoRA
 * adapters, classifier and sparse heads, int8 weights. Whole-model gradients against central finite differences.
 */
public class ToolkitTest {
    private final Backend be = new CpuBackend();

    @AfterEach
    void close() { be.close(); }


    /**
     * Checks every trainable parameter's gradient at a few sampled elements against central differences of the
     * loss, and that frozen parameters have no gradient at all.
     */
    public static void gradientsMatchFiniteDifferences(Model m, int[] x, int[] lengths, int[] y) {
        gradientsMatchFiniteDifferences(m, () -> m.forward(x, lengths, y), m::backward, 1e-2f);
    }

    /**
     * The check with a step {@code eps}: central differences err by O(eps²) times the loss's third derivative, which
     * LoRA's scale α/r multiplies — at 1e-2 some random adapted models miss by 3–13% where 2.5e-3 misses by under
     * 1%, while float32 rounding, growing as 1/eps, is still far below the tolerance there.
     */
    public static void gradientsMatchFiniteDifferences(Model m, int[] x, int[] lengths, int[] y, float eps) {
        gradientsMatchFiniteDifferences(m, () -> m.forward(x, lengths, y), m::backward, eps);
    }

    /**
     * The same check for any objective: {@code objective} runs a forward pass and returns the value whose gradient
     * {@code backward} (run right after it) adds into the gradients.
     */
    public static void gradientsMatchFiniteDifferences(Model m, java.util.function.DoubleSupplier objective, Runnable backward) {
        gradientsMatchFiniteDifferences(m, objective, backward, 1e-2f);
    }

    private static void gradientsMatchFiniteDifferences(Model m, java.util.function.DoubleSupplier objective, Runnable backward, float eps) {
        Backend be = m.backend();
        float[] w = new float[(int) m.parameters().values().size()];
        be.download(m.parameters().values(), w);
        m.zeroGrad();
        objective.getAsDouble();
        backward.run();
        float[] grad = new float[(int) m.parameters().trainableCount()];
        be.download(m.parameters().gradients(), grad);
        SplittableRandom r = new SplittableRandom(5);
        int checked = 0, trained = (int) m.parameterList().stream().filter(Param::trainable).count();
        int samples = Math.max(4, (8 + trained - 1) / trained);
        for (Param p : m.parameterList()) {
            if (!p.trainable()) {
                assertNull(p.grad(), p.name() + " is frozen: no gradient memory");
                continue;
            }
            int off = (int) p.value().offset, goff = (int) (p.grad().offset - m.parameters().gradients().offset);
            int real = p.name().equals("wte.weight") ? m.vocabSize() * m.width() : (int) p.size();
            double errSq = 0, refSq = 0;
            for (int s = 0; s < samples; s++) {
                int i = r.nextInt(real);
                float keep = w[off + i];
                w[off + i] = keep + eps;
                be.upload(m.parameters().values(), w);
                double plus = objective.getAsDouble();
                w[off + i] = keep - eps;
                be.upload(m.parameters().values(), w);
                double minus = objective.getAsDouble();
                w[off + i] = keep;
                double numeric = (plus - minus) / (2 * eps);
                errSq += (numeric - grad[goff + i]) * (numeric - grad[goff + i]);
                refSq += numeric * numeric;
                checked++;
            }
            double rel = Math.sqrt(errSq) / Math.max(Math.sqrt(refSq), 1e-2);
            assertTrue(rel < 2e-2, p.name() + ": backward disagrees with finite differences, relative error " + rel);
        }
        be.upload(m.parameters().values(), w);
        assertTrue(checked >= 8, "sampled " + checked);
    }

    @Test
    void encoderOverPaddedSequencesMatchesFiniteDifferences() {
        EncoderConfig cfg = EncoderTest.micro(false);
        Encoder e = new Encoder(be, cfg, 2, 8, 1, Model.Options.TRAIN.sparse());
        GPTTest.randomize(e, 3);
        SplittableRandom r = new SplittableRandom(4);
        int[] x = GPTTest.ids(r, 16, cfg.vocabSize()), y = new int[16], lengths = {8, 5};
        java.util.Arrays.fill(y, -1);
        for (int i : new int[] {1, 4, 7, 8, 10, 12}) y[i] = r.nextInt(cfg.vocabSize());   // "masked" positions
        e.train(9);
        gradientsMatchFiniteDifferences(e, x, lengths, y);
    }

    @Test
    void paddingNeverReachesTheRealTokens() {
        // Bidirectional attention over a padded sequence: changing the padding changes nothing the real tokens see.
        EncoderConfig cfg = EncoderTest.micro(true);
        Encoder e = new Encoder(be, cfg, 2, 8, 1, Model.Options.INFERENCE);
        GPTTest.randomize(e, 3);
        SplittableRandom r = new SplittableRandom(4);
        int[] x = GPTTest.ids(r, 16, cfg.vocabSize()), lengths = {8, 5};
        e.forward(x, lengths, null);
        float[][] before = new float[16][];
        for (int i = 0; i < 16; i++) before[i] = e.logitsAt(i);
        for (int i = 13; i < 16; i++) x[i] = (x[i] + 1) % cfg.vocabSize();
        e.forward(x, lengths, null);
        for (int i = 0; i < 13; i++) assertArrayEquals(before[i], e.logitsAt(i), "position " + i);
        // Without the lengths the same change does reach them: the mask is what protects them.
        e.forward(x, null, null);
        assertFalse(java.util.Arrays.equals(before[8], e.logitsAt(8)));
    }

    @Test
    void loraOnAFrozenBaseMatchesFiniteDifferencesAndLeavesTheBaseAlone() {
        GPTConfig cfg = GPTTest.micro(1);
        LoRA.Spec spec = new LoRA.Spec(2, 4f, EnumSet.allOf(LoRA.Target.class));
        GPT g = new GPT(be, cfg, 2, 8, 1, Model.Options.TRAIN.lora(spec).training(Group.ADAPTER));
        GPTTest.randomize(g, 6);   // B ≠ 0, so the adapters carry a gradient into A and into the layers below
        long adapters = 0;
        for (Param p : g.parameterList()) if (p.group() == Group.ADAPTER) adapters += p.size();
        assertEquals(adapters, g.parameters().trainableCount(), "gradients exist for the adapters only");
        assertEquals(2L * cfg.nLayer() * 4, g.parameterList().stream().filter(p -> p.group() == Group.ADAPTER).count());
        SplittableRandom r = new SplittableRandom(8);
        int[] x = GPTTest.ids(r, 16, cfg.vocabSize()), y = GPTTest.ids(r, 16, cfg.vocabSize());
        gradientsMatchFiniteDifferences(g, x, null, y, 2.5e-3f);

        // A few optimizer steps change the adapters and not one bit of the base.
        float[] base = baseValues(g);
        AdamWOptimizer opt = new AdamWOptimizer(be, g.parameters(), AdamWOptimizer.Settings.defaults());
        assertEquals(adapters, opt.m().size(), "optimizer state for the adapters only");
        float first = Float.NaN, loss = Float.NaN;
        for (int s = 0; s < 5; s++) {
            g.zeroGrad();
            loss = g.forward(x, y);
            if (s == 0) first = loss;
            g.backward();
            opt.step(1e-2f);
        }
        assertTrue(loss < first, "the adapters learn: " + first + " → " + loss);
        assertArrayEquals(base, baseValues(g));
    }

    @Test
    void loraDropoutMatchesFiniteDifferencesAndSwitchingAdaptersOffGivesTheBase() {
        GPTConfig cfg = GPTTest.micro(0);
        LoRA.Spec spec = new LoRA.Spec(2, 4f, 0.3f, false, EnumSet.allOf(LoRA.Target.class));
        GPT g = new GPT(be, cfg, 2, 8, 1, Model.Options.TRAIN.lora(spec).training(Group.ADAPTER));
        GPTTest.randomize(g, 6);
        SplittableRandom r = new SplittableRandom(8);
        int[] x = GPTTest.ids(r, 16, cfg.vocabSize()), y = GPTTest.ids(r, 16, cfg.vocabSize());
        g.train(17);               // masks fixed by the seed: the loss is a smooth function of the weights
        gradientsMatchFiniteDifferences(g, x, null, y, 2.5e-3f);
        float dropped = g.forward(x, y);
        g.eval();
        float evaluated = g.forward(x, y);
        assertNotEquals(dropped, evaluated, "the adapters' input dropout acts in training only");

        // Off, the adapted model is its base: the same logits as a model without adapters holding the same weights.
        GPT plain = new GPT(be, cfg, 2, 8, 1, Model.Options.INFERENCE);
        for (Param p : plain.parameterList()) be.copy(p.value(), g.parameter(p.name()).value());
        plain.forward(x, null);
        g.lora(false);
        g.forward(x, null);
        for (int i = 0; i < 16; i++) assertArrayEquals(plain.logitsAt(i), g.logitsAt(i), "position " + i);
        g.lora(true);
        g.forward(x, null);
        assertFalse(java.util.Arrays.equals(plain.logitsAt(5), g.logitsAt(5)), "on again, the adapters count");
    }

    @ParameterizedTest
    @EnumSource(value = Head.Pooling.class, names = {"ALL", "TARGETS"})
    void aFrozenHeadComputedInChunksGivesTheSameGradient(Head.Pooling pooling) {
        // A vocabulary large enough that the frozen head works in chunks (two of 64 rows: 2^25 logits at most each);
        // the same adapters trained with the head trainable (one pass over all logits) must get the same gradients.
        GPTConfig cfg = GPTTest.micro(0).with(Map.of("vocab_size", 300_000L, "block_size", 64L, "dropout", 0.0), "test");
        LoRA.Spec spec = new LoRA.Spec(2, 4f, EnumSet.of(LoRA.Target.QKV, LoRA.Target.MLP_PROJ));
        Model.Options base = pooling == Head.Pooling.ALL ? Model.Options.TRAIN : Model.Options.TRAIN.sparse();
        GPT chunked = new GPT(be, cfg, 2, 64, 1, base.lora(spec).training(Group.ADAPTER));
        GPT whole = new GPT(be, cfg, 2, 64, 1, base.lora(spec));
        GPTTest.randomize(whole, 3);
        be.copy(chunked.parameters().values(), whole.parameters().values());
        SplittableRandom r = new SplittableRandom(4);
        int[] x = GPTTest.ids(r, 128, cfg.vocabSize()), y = GPTTest.ids(r, 128, cfg.vocabSize()), lengths = {64, 51};
        for (int i = 0; i < 128; i += 5) y[i] = -1;
        for (int i = 115; i < 128; i++) y[i] = -1;
        float[] weights = {0.6f, -1.1f};
        for (int mode = 0; mode < 4; mode++) {            // mean, accumulated over 2, weighted, evaluation forward then mean
            for (GPT g : new GPT[] {chunked, whole}) {
                if (mode == 3) g.eval();
                else g.train(7);
                g.zeroGrad();
                assertEquals(whole.forward(x, lengths, y), g.forward(x, lengths, y), 1e-5f);
                switch (mode) {
                    case 1 -> g.backward(2);
                    case 2 -> g.backward(weights);
                    default -> g.backward();
                }
            }
            float[] a = ModelDir.download(be, chunked.parameters().gradients()), all = ModelDir.download(be, whole.parameters().gradients());
            for (Param p : chunked.parameterList()) {
                if (!p.trainable()) continue;
                Param q = whole.parameter(p.name());
                int pa = (int) (p.grad().offset - chunked.parameters().gradients().offset), qa = (int) (q.grad().offset - whole.parameters().gradients().offset);
                for (int i = 0; i < p.size(); i++) {
                    assertEquals(all[qa + i], a[pa + i], 1e-6f + 1e-4f * Math.abs(all[qa + i]), "mode " + mode + ", " + p.name() + "[" + i + "]");
                }
            }
        }
        assertThrows(IllegalStateException.class, () -> chunked.logitsAt(100), "only the last chunk of logits is kept");
    }

    @Test
    void adaptersAreDeclaredInTheSameOrderInEveryProcess() {
        // Set.of iterates in an order salted per JVM; the adapters' buffer order (their initial values, their
        // dropout sites) must not follow it.
        LoRA.Spec spec = new LoRA.Spec(2, 4f, java.util.Set.of(LoRA.Target.MLP_PROJ, LoRA.Target.QKV, LoRA.Target.MLP_FC));
        assertEquals(java.util.List.of(LoRA.Target.QKV, LoRA.Target.MLP_FC, LoRA.Target.MLP_PROJ), java.util.List.copyOf(spec.targets()));
        GPT g = new GPT(be, GPTTest.micro(0), 1, 8, 1, Model.Options.INFERENCE.lora(spec));
        assertEquals(java.util.List.of("h.0.attn.qkv.lora_A.weight", "h.0.attn.qkv.lora_B.weight", "h.0.mlp.fc.lora_A.weight"),
                g.parameterList().stream().filter(p -> p.group() == Group.ADAPTER).map(Param::name).limit(3).toList());
    }

    @Test
    void aWeightedSumOfSequenceLossesMatchesFiniteDifferences() {
        // The objective DPO differentiates: Σ_b w_b·NLL_b, over sparse (targeted) rows of padded sequences.
        GPTConfig cfg = GPTTest.micro(2);
        GPT g = new GPT(be, cfg, 3, 8, 1, Model.Options.TRAIN.sparse());
        GPTTest.randomize(g, 4);
        SplittableRandom r = new SplittableRandom(5);
        int[] x = GPTTest.ids(r, 24, cfg.vocabSize()), y = GPTTest.ids(r, 24, cfg.vocabSize()), lengths = {8, 5, 7};
        for (int i : new int[] {0, 1, 2, 8, 13, 14, 15, 16, 17}) y[i] = -1;   // prompts, and sequence 1's padding
        float[] w = {0.7f, -1.3f, 0.4f};
        java.util.function.DoubleSupplier objective = () -> {
            g.forward(x, lengths, y);
            double[] nll = g.sequenceLosses();
            return w[0] * nll[0] + w[1] * nll[1] + w[2] * nll[2];
        };
        gradientsMatchFiniteDifferences(g, objective, () -> g.backward(w));   // logits' gradient computed in backward
        g.train(3);
        gradientsMatchFiniteDifferences(g, objective, () -> g.backward(w));   // written by the training forward
        g.eval();

        // The sums are the per-sequence parts of the mean loss.
        float mean = g.forward(x, lengths, y);
        double[] nll = g.sequenceLosses();
        int scored = 0;
        for (int t : y) if (t >= 0) scored++;
        assertEquals(mean, (nll[0] + nll[1] + nll[2]) / scored, 1e-5);
        assertTrue(nll[0] > 0 && nll[1] > 0 && nll[2] > 0);
    }

    private float[] baseValues(Model m) {
        float[] all = new float[(int) m.parameters().values().size()];
        be.download(m.parameters().values(), all);
        long n = 0;
        for (Param p : m.parameterList()) if (p.group() == Group.BASE) n += p.size();
        return java.util.Arrays.copyOf(all, (int) n);   // the BASE group comes first in the buffer
    }

    @Test
    void adaptedModelDecodesLikeItsFullForward() {
        GPTConfig cfg = GPTTest.micro(0);
        LoRA.Spec spec = new LoRA.Spec(3, 6f, EnumSet.of(LoRA.Target.QKV, LoRA.Target.MLP_PROJ));
        GPT g = new GPT(be, cfg, 1, 8, 1, Model.Options.INFERENCE.lora(spec));
        GPTTest.randomize(g, 2);
        int[] x = GPTTest.ids(new SplittableRandom(3), 8, cfg.vocabSize());
        g.forward(x, null);
        GPT.Session s = g.session(8);
        assertArrayEquals(g.logitsAt(3), s.next(java.util.Arrays.copyOf(x, 4)), 1e-4f);
        for (int t = 4; t < 8; t++) assertArrayEquals(g.logitsAt(t), s.next(new int[] {x[t]}), 1e-4f, "position " + t);
    }

    @ParameterizedTest
    @EnumSource(value = Head.Pooling.class, names = {"LAST", "FIRST", "MEAN"})
    void classifierHeadsMatchFiniteDifferences(Head.Pooling pooling) {
        GPTConfig cfg = GPTTest.micro(2);
        GPT g = new GPT(be, cfg, 3, 8, 1, Model.Options.TRAIN.classify(3, pooling));
        GPTTest.randomize(g, 4);
        int[] x = GPTTest.ids(new SplittableRandom(5), 24, cfg.vocabSize());
        gradientsMatchFiniteDifferences(g, x, new int[] {8, 3, 6}, new int[] {2, 0, -1});
        assertEquals(3, g.logitsAt(1).length, "one logit per class");
    }

    @Test
    void trainingOnlyTheHeadTouchesNothingElse() {
        GPTConfig cfg = GPTTest.micro(0);
        GPT g = new GPT(be, cfg, 2, 8, 1, Model.Options.TRAIN.classify(4, Head.Pooling.LAST).training(Group.HEAD));
        assertEquals((long) cfg.nEmbd() * 4 + 4, g.parameters().trainableCount(), "score.weight and score.bias");
        float[] base = baseValues(g);
        AdamWOptimizer opt = new AdamWOptimizer(be, g.parameters(), AdamWOptimizer.Settings.defaults());
        int[] x = GPTTest.ids(new SplittableRandom(7), 16, cfg.vocabSize()), y = {1, 3};
        g.train(1);
        float first = g.forward(x, y), loss = first;
        for (int s = 0; s < 20; s++) {
            g.zeroGrad();
            loss = g.forward(x, y);
            g.backward();
            opt.step(3e-2f);
        }
        assertTrue(loss < first, first + " → " + loss);
        assertArrayEquals(base, baseValues(g));
    }

    @Test
    void sparseHeadEqualsTheDenseHead() {
        GPTConfig cfg = GPTTest.micro(3);
        GPT dense = new GPT(be, cfg, 2, 8, 1), sparse = new GPT(be, cfg, 2, 8, 1, Model.Options.TRAIN.sparse());
        SplittableRandom r = new SplittableRandom(2);
        int[] x = GPTTest.ids(r, 16, cfg.vocabSize()), y = GPTTest.ids(r, 16, cfg.vocabSize());
        for (int i = 0; i < 16; i += 3) y[i] = -1;
        float[] gd = new float[(int) dense.parameters().trainableCount()], gs = new float[gd.length];
        for (GPT g : new GPT[] {dense, sparse}) {
            g.train(4);
            g.zeroGrad();
            g.forward(x, y);
            g.backward(2);
        }
        dense.train(4);
        sparse.train(4);
        assertEquals(dense.forward(x, y), sparse.forward(x, y), 1e-6f);
        be.download(dense.parameters().gradients(), gd);
        be.download(sparse.parameters().gradients(), gs);
        for (int i = 0; i < gd.length; i++) assertEquals(gd[i], gs[i], 1e-6f + 1e-5f * Math.abs(gd[i]), "gradient " + i);
    }

    @Test
    void int8WeightsDecodeCloseToFp32() {
        // The same weights stored as Q8_0: the matmuls read int8, the logits stay close to fp32's.
        GPTConfig cfg = GPTConfig.preset("micro").with(Map.of("n_embd", 64L, "vocab_size", 200L), "test");
        GPT fp32 = new GPT(be, cfg, 1, 8, 1, Model.Options.INFERENCE);
        GPT int8 = new GPT(be, cfg, 1, 8, 1, Model.Options.INFERENCE.weights(DType.Q8_0));
        for (Param p : fp32.parameterList()) {
            float[] v = new float[(int) p.size()];
            be.download(p.value(), v);
            be.upload(int8.parameter(p.name()).value(), v);
        }
        assertEquals(DType.Q8_0, int8.parameter("h.0.attn.qkv.weight").value().dtype());
        assertEquals(DType.Q8_0, int8.parameter("wte.weight").value().dtype());
        assertEquals(DType.F32, int8.parameter("wpe.weight").value().dtype());
        assertEquals(DType.F32, int8.parameter("h.0.ln_1.weight").value().dtype());
        int[] x = GPTTest.ids(new SplittableRandom(1), 8, cfg.vocabSize());
        GPT.Session a = fp32.session(8), b = int8.session(8);
        float[] la = a.next(x), lb = b.next(x);
        double err = 0, ref = 0;
        for (int i = 0; i < la.length; i++) {
            err += (la[i] - lb[i]) * (la[i] - lb[i]);
            ref += la[i] * la[i];
        }
        assertTrue(Math.sqrt(err / ref) < 2e-2, "relative error " + Math.sqrt(err / ref));
        assertThrows(dev.cramjet.CramjetException.class,
                () -> new GPT(be, cfg, 1, 8, 1, Model.Options.TRAIN.weights(DType.Q8_0)), "int8 weights do not train");
    }
}
