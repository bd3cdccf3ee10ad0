package dev.cramjet.tune;

import dev.cramjet.data.Batch;
import dev.cramjet.eval.Evaluator;
import dev.cramjet.eval.Validation;
import dev.cramjet.nn.GPT;
import dev.cramjet.train.GptLearner;
import dev.cramjet.train.Learner;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Direct preference optimisation (Rafailov et al.): for a prompt x with a preferred reply y⁺ and a rejected one
 * y⁻, the policy π is trained against a frozen reference π_ref (the model it starts from) to minimise
 * <pre>
 *   L = −log σ(z),   z = β·[(log π(y⁺|x) − log π_ref(y⁺|x)) − (log π(y⁻|x) − log π_ref(y⁻|x))]
 * </pre>
 * with log π(y|x) the summed log-probabilities of the reply's tokens (the model's per-sequence losses). Its
 * gradient is the model's gradient of Σ_b w_b·NLL_b with w = ∓β·σ(−z)/pairs for the chosen and the rejected
 * sequence. β·(log π − log π_ref) is each reply's implicit reward: the run logs their mean (chosen_reward,
 * rejected_reward), the mean margin z and the accuracy, the share of pairs whose chosen reply earns more.
 *
 * <p>Batches hold pairs in consecutive rows (chosen, rejected). The reference is the policy with its LoRA adapters
 * switched off — no second copy of the weights — or, for a full fine-tune, a second model holding the starting
 * weights. Its pass runs without dropout: it is a fixed target, and noise there would only add variance.
 */
final class Dpo implements Learner {
    private final GptLearner policy;
    private final GPT model;
    /** The reference model, or null: the policy with its adapters off. */
    private final GPT reference;
    private final float beta;
    // The current step's pairs, for metrics().
    private double lossSum, marginSum, chosenSum, rejectedSum;
    private int pairs, correct;

    Dpo(GptLearner policy, GPT reference, float beta) {
        this.policy = policy;
        this.model = policy.model();
        this.reference = reference;
        this.beta = beta;
    }

    /** One pair's figures. */
    record Pair(double z, double chosenReward, double rejectedReward) {
        /** −log σ(z), computed without overflow. */
        double loss() { return z > 0 ? Math.log1p(Math.exp(-z)) : -z + Math.log1p(Math.exp(z)); }

        /** σ(−z): minus the loss's derivative by z. */
        double slope() { return 1 / (1 + Math.exp(z)); }
    }

    /** A validation pass over preference pairs: the mean DPO loss, and the step's figures as "val_…". */
    record Scores(double loss, Map<String, Double> figures, long pairs) implements Validation {
        @Override
        public Map<String, Object> metrics() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("val_loss", loss);
            figures.forEach((k, v) -> m.put("val_" + k, v));
            return m;
        }

        @Override
        public String describe() {
            StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "loss %.4f", loss));
            figures.forEach((k, v) -> sb.append(String.format(Locale.ROOT, ", %s %.4f", k.replace('_', ' '), v)));
            return sb.toString();
        }
    }

    /** The pairs of a batch scored by the current weights (in eval or training mode as set) and the reference. */
    private Pair[] score(Batch b, double[] policyNll) {
        double[] refNll = referenceLosses(b);
        Pair[] out = new Pair[b.batch / 2];
        for (int i = 0; i < out.length; i++) {
            if (!scored(b, 2 * i)) continue;                     // a blank pair completing a validation batch
            double chosen = beta * (refNll[2 * i] - policyNll[2 * i]), rejected = beta * (refNll[2 * i + 1] - policyNll[2 * i + 1]);
            out[i] = new Pair(chosen - rejected, chosen, rejected);
        }
        return out;
    }

    private static boolean scored(Batch b, int row) {
        for (int t = row * b.seq; t < (row + 1) * b.seq; t++) if (b.targets[t] >= 0) return true;
        return false;
    }

    private double[] referenceLosses(Batch b) {
        if (reference != null) {
            reference.forward(b.tokens, b.lengths, b.targets);
            return reference.sequenceLosses();
        }
        model.eval();
        model.lora(false);
        try {
            model.forward(b.tokens, b.lengths, b.targets);
            return model.sequenceLosses();
        } finally {
            model.lora(true);
        }
    }

    @Override
    public void zeroGrad() {
        policy.zeroGrad();
        resetStats();
    }

    @Override
    public float trainMicroBatch(Batch batch, long dropoutSeed, int accumulation) {
        double[] ref = referenceLosses(batch);
        model.train(dropoutSeed);
        model.forward(batch.tokens, batch.lengths, batch.targets);
        double[] nll = model.sequenceLosses();
        int n = batch.batch / 2;
        float[] weights = new float[batch.batch];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            double chosen = beta * (ref[2 * i] - nll[2 * i]), rejected = beta * (ref[2 * i + 1] - nll[2 * i + 1]);
            Pair p = new Pair(chosen - rejected, chosen, rejected);
            float w = (float) (beta * p.slope() / ((double) n * accumulation));
            weights[2 * i] = w;                    // ∂L/∂NLL(y⁺) = β·σ(−z)/pairs: lowering its NLL lowers L
            weights[2 * i + 1] = -w;
            sum += p.loss();
            count(p);
        }
        model.backward(weights);
        return (float) (sum / n);
    }

    private void count(Pair p) {
        lossSum += p.loss();
        marginSum += p.z();
        chosenSum += p.chosenReward();
        rejectedSum += p.rejectedReward();
        pairs++;
        if (p.z() > 0) correct++;
    }

    @Override
    public Map<String, Double> metrics() {
        Map<String, Double> m = new LinkedHashMap<>();
        if (pairs == 0) return m;
        m.put("reward_accuracy", (double) correct / pairs);
        m.put("reward_margin", marginSum / pairs);
        m.put("chosen_reward", chosenSum / pairs);
        m.put("rejected_reward", rejectedSum / pairs);
        return m;
    }

    /**
     * DPO loss, accuracy and margins over the validation pairs in the first {@code maxTokens} positions (whole
     * batches, at least one), without dropout.
     */
    Scores evaluate(Evaluator.Source source, Batch batch, long maxTokens) {
        source.reset();
        resetStats();
        long read = 0;
        while ((read == 0 || read + batch.tokens.length <= maxTokens) && source.next(batch)) {
            read += batch.tokens.length;
            model.eval();
            model.forward(batch.tokens, batch.lengths, batch.targets);
            for (Pair p : score(batch, model.sequenceLosses())) if (p != null) count(p);
        }
        if (pairs == 0) throw new IllegalStateException("no validation pairs");
        Scores r = new Scores(lossSum / pairs, metrics(), pairs);
        resetStats();
        return r;
    }

    private void resetStats() {
        lossSum = marginSum = chosenSum = rejectedSum = 0;
        pairs = correct = 0;
    }

    @Override public float gradNorm() { return policy.gradNorm(); }

    @Override public void step(double lr) { policy.step(lr); }

    @Override public void useAverage(boolean on) { policy.useAverage(on); }

    @Override public void save(Path dir) throws IOException { policy.save(dir); }

    @Override public void load(Path dir) throws IOException { policy.load(dir); }

    /** A reference pass per step costs one more forward (2 FLOPs per parameter) on top of the policy's step. */
    @Override public double flopsPerToken() { return policy.flopsPerToken() + 2.0 * model.parameterCount(false); }
}
