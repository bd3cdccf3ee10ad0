package dev.cramjet.tune;

import dev.cramjet.data.Batch;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.io.Safetensors;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.GPTTest;
import dev.cramjet.nn.LoRA;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.nn.Parameters.Param;
import dev.cramjet.nn.Reference;
import dev.cramjet.optim.AdamWOptimizer;
import dev.cramjet.train.GptLearner;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** DPO's loss and gradient against a double-precision reference, and its fixed point. */
class DpoTest {
    @TempDir Path dir;
    private final Backend be = new CpuBackend();

    @AfterEach
    void close() { be.close(); }

    private static final int PAIRS = 2, SEQ = 8;
    private static final float BETA = 0.5f;

    /** Two pairs: a shared prompt per pair, then different replies; only the replies are scored; padding in one. */
    private static Batch pairs(int vocab) {
        Batch b = Examples.batch(PAIRS, 2, SEQ);
        SplittableRandom r = new SplittableRandom(3);
        int[] lengths = {8, 8, 8, 6};
        for (int row = 0; row < 2 * PAIRS; row++) {
            b.lengths[row] = lengths[row];
            for (int t = 0; t < SEQ; t++) {
                int at = row * SEQ + t;
                b.tokens[at] = t < 3 ? (row / 2 * 7 + t) % vocab : r.nextInt(vocab);     // prompt shared by a pair
                b.targets[at] = -1;
            }
            for (int t = 2; t < lengths[row] - 1; t++) b.targets[row * SEQ + t] = b.tokens[row * SEQ + t + 1];
        }
        return b;
    }

    private static GPTConfig cfg() { return GPTTest.micro(0).with(Map.of("dropout", 0.0), "test"); }

    @Test
    void withThePolicyEqualToTheReferenceTheLossIsLogTwo() {
        // LoRA starts with B = 0: the adapted model is its base, which is the reference.
        GPTConfig cfg = cfg();
        LoRA.Spec spec = new LoRA.Spec(2, 4f, EnumSet.allOf(LoRA.Target.class));
        GPT g = new GPT(be, cfg, 2 * PAIRS, SEQ, 1, Model.Options.TRAIN.sparse().lora(spec).training(dev.cramjet.nn.Parameters.Group.ADAPTER));
        GPTTest.randomize(g, 5);
        for (Param p : g.parameterList()) if (p.name().endsWith("lora_B.weight")) be.zero(p.value());
        Dpo d = new Dpo(new GptLearner(g, new AdamWOptimizer(be, g.parameters(), AdamWOptimizer.Settings.defaults())), null, BETA);
        d.zeroGrad();
        assertEquals(Math.log(2), d.trainMicroBatch(pairs(cfg.vocabSize()), 1, 1), 1e-6);
        assertEquals(0.0, d.metrics().get("reward_margin"), 1e-6);
        assertEquals(0.0, d.metrics().get("reward_accuracy"));
        // A few steps move the policy towards the chosen replies: the loss falls below log 2.
        AdamWOptimizer opt = new AdamWOptimizer(be, g.parameters(), AdamWOptimizer.Settings.defaults());
        Dpo train = new Dpo(new GptLearner(g, opt), null, BETA);
        float loss = Float.NaN;
        for (int s = 0; s < 8; s++) {
            train.zeroGrad();
            loss = train.trainMicroBatch(pairs(cfg.vocabSize()), s, 1);
            train.gradNorm();
            train.step(3e-2);
        }
        assertTrue(loss < Math.log(2) - 0.05, "loss " + loss);
        assertEquals(1.0, train.metrics().get("reward_accuracy"));
    }

    /** The model's tensors by Hugging Face name, as saved. */
    private Map<String, float[]> hf(GPT g) throws Exception {
        Path d = dir.resolve("m" + System.nanoTime());
        ModelDir.save(g, d);
        Map<String, float[]> w = new HashMap<>();
        try (Safetensors.Reader r = Safetensors.open(d.resolve(ModelDir.WEIGHTS))) {
            for (String n : r.tensors().keySet()) w.put(n, r.read(n));
        }
        return w;
    }

    /** Σ log p(target) per row, in double precision, from the reference forward pass. */
    private static double[] logProbs(GPTConfig cfg, Map<String, float[]> w, Batch b) {
        double[] out = new double[b.batch];
        for (int row = 0; row < b.batch; row++) {
            int[] x = java.util.Arrays.copyOfRange(b.tokens, row * SEQ, row * SEQ + b.lengths[row]);
            double[][] logits = new Reference(cfg, w, true).logits(x);
            for (int t = 0; t < x.length; t++) {
                int y = b.targets[row * SEQ + t];
                if (y < 0) continue;
                double max = Double.NEGATIVE_INFINITY, z = 0;
                for (double v : logits[t]) max = Math.max(max, v);
                for (double v : logits[t]) z += Math.exp(v - max);
                out[row] += logits[t][y] - max - Math.log(z);
            }
        }
        return out;
    }

    private static double dpo(double[] policy, double[] ref) {
        double sum = 0;
        for (int i = 0; i < PAIRS; i++) {
            double z = BETA * ((policy[2 * i] - ref[2 * i]) - (policy[2 * i + 1] - ref[2 * i + 1]));
            sum += Math.log1p(Math.exp(-z));
        }
        return sum / PAIRS;
    }

    @Test
    void lossAndGradientMatchADoublePrecisionReference() throws Exception {
        GPTConfig cfg = cfg();
        GPT policy = new GPT(be, cfg, 2 * PAIRS, SEQ, 1, Model.Options.TRAIN.sparse());
        GPT reference = new GPT(be, cfg, 2 * PAIRS, SEQ, 2, Model.Options.INFERENCE.sparse());
        GPTTest.randomize(policy, 7);
        GPTTest.randomize(reference, 8);
        Batch b = pairs(cfg.vocabSize());
        Dpo d = new Dpo(new GptLearner(policy, new AdamWOptimizer(be, policy.parameters(), AdamWOptimizer.Settings.defaults())), reference, BETA);
        d.zeroGrad();
        float loss = d.trainMicroBatch(b, 1, 1);
        double[] ref = logProbs(cfg, hf(reference), b);
        double want = dpo(logProbs(cfg, hf(policy), b), ref);
        assertTrue(Math.abs(want - Math.log(2)) > 0.05, "a pair the two models disagree on: " + want);
        assertEquals(want, loss, 1e-5 * Math.max(1, want));

        float[] grad = ModelDir.download(be, policy.parameters().gradients());
        SplittableRandom r = new SplittableRandom(9);
        double h = 1e-3, errSq = 0, refSq = 0;
        for (String name : new String[] {"h.0.attn.qkv.weight", "h.1.mlp.fc.weight", "h.1.mlp.proj.bias", "ln_f.weight", "wte.weight"}) {
            Param p = policy.parameter(name);
            long offset = p.grad().offset - policy.parameters().gradients().offset;
            int limit = name.equals("wte.weight") ? cfg.vocabSize() * cfg.nEmbd() : (int) p.size();
            for (int s = 0; s < 3; s++) {
                int i = r.nextInt(limit);
                float[] v = ModelDir.download(be, p.value());
                float keep = v[i];
                v[i] = (float) (keep + h);
                be.upload(p.value(), v);
                double plus = dpo(logProbs(cfg, hf(policy), b), ref);
                v[i] = (float) (keep - h);
                be.upload(p.value(), v);
                double minus = dpo(logProbs(cfg, hf(policy), b), ref);
                v[i] = keep;
                be.upload(p.value(), v);
                double numeric = (plus - minus) / (2 * h), ours = grad[(int) offset + i];
                errSq += (numeric - ours) * (numeric - ours);
                refSq += numeric * numeric;
            }
        }
        assertTrue(Math.sqrt(errSq / refSq) < 1e-2, "relative error " + Math.sqrt(errSq / refSq));
    }
}
