package dev.cramjet.quant;

import dev.cramjet.CramjetException;
import dev.cramjet.data.BatchSampler;
import dev.cramjet.data.TokenShards;
import dev.cramjet.engine.Backend;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.Model;
import dev.cramjet.optim.AdamWOptimizer;

import java.util.Map;

/**
 * A short fine-tune after pruning, to win back some of the loss it cost: AdamW over every parameter for a fixed
 * number of steps on the training split, with a linear warm-up over the first tenth and a linear decay to zero
 * after it. Pruned weights stay pruned: after each step the masks' zeros are written back (a removed neuron is
 * already gone from the shapes and needs no mask).
 */
public final class Recovery {
    private Recovery() {}

    public record Settings(int steps, int batch, int seq, float lr, long seed) {
        public Settings {
            if (steps < 1) throw new CramjetException("--recover-steps must be at least 1, got " + steps);
            if (batch < 1) throw new CramjetException("--batch must be at least 1, got " + batch);
            if (!(lr > 0)) throw new CramjetException("--lr must be positive, got " + lr);
        }
    }

    /** Fine-tunes {@code w} (its masks kept, null for none); returns the weights after the last step. */
    public static Weights run(Backend be, Weights w, Pruning.Masks masks, TokenShards train, Settings s) {
        int seq = Math.min(s.seq(), w.config().blockSize());
        GPT model = w.model(be, s.batch(), seq, Model.Options.TRAIN);
        AdamWOptimizer opt = new AdamWOptimizer(be, model.parameters(), AdamWOptimizer.Settings.defaults());
        BatchSampler sampler = new BatchSampler(train, s.batch(), seq, s.seed());
        int[] x = new int[s.batch() * seq], y = new int[x.length];
        int warmup = Math.max(1, s.steps() / 10);
        for (int step = 0; step < s.steps(); step++) {
            sampler.next(x, y);
            model.train(s.seed() ^ step);
            model.zeroGrad();
            model.forward(x, y);
            model.backward();
            float f = step < warmup ? (step + 1f) / warmup : (s.steps() - step) / (float) (s.steps() - warmup + 1);
            opt.step(s.lr() * f);
            if (masks != null) reapply(model, masks);
        }
        return Weights.of(model);
    }

    private static void reapply(GPT model, Pruning.Masks masks) {
        for (Map.Entry<String, boolean[]> e : masks.kept().entrySet()) {
            var t = model.parameter(e.getKey()).value();
            float[] v = new float[(int) t.size()];
            model.backend().download(t, v);
            boolean[] kept = e.getValue();
            for (int i = 0; i < v.length; i++) if (!kept[i]) v[i] = 0f;
            model.backend().upload(t, v);
        }
    }
}
