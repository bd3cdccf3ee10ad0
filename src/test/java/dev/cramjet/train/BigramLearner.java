package dev.cramjet.train;

import dev.cramjet.data.Batch;
import dev.cramjet.engine.Rng;
import dev.cramjet.eval.Evaluator;
import dev.cramjet.io.AtomicFile;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

/**
 * A real but tiny model for testing the loop without the GPT: a bigram logit table trained with Adam, with dropout
 * on the logits drawn from the step's seed. Deterministic, so exact resume can be checked bit for bit. Calls
 * listed in {@code poison} (counted from 1) return a NaN loss.
 */
final class BigramLearner implements Learner, Evaluator.Model {
    final int vocab;
    final float[] w, g, m, v;
    int t;
    int calls;
    final Set<Integer> poison = new HashSet<>();
    final float dropout;
    double lastLr;
    /** Runs before every micro-batch (tests advance a clock here to simulate compute time). */
    Runnable onMicroBatch = () -> { };

    BigramLearner(int vocab, float dropout) {
        this.vocab = vocab;
        this.dropout = dropout;
        w = new float[vocab * vocab];
        g = new float[w.length];
        m = new float[w.length];
        v = new float[w.length];
        for (int i = 0; i < w.length; i++) w[i] = (Rng.uniform(7, i) - 0.5f) * 0.1f;
    }

    @Override public void zeroGrad() { java.util.Arrays.fill(g, 0); }

    @Override
    public float trainMicroBatch(Batch b, long dropoutSeed, int accumulation) {
        int[] tokens = b.tokens, targets = b.targets;
        float gradScale = 1f / accumulation;
        calls++;
        onMicroBatch.run();
        double loss = 0;
        float[] p = new float[vocab];
        for (int i = 0; i < tokens.length; i++) {
            int row = tokens[i] * vocab;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < vocab; j++) {
                long idx = (long) i * vocab + j;
                float keep = dropout > 0 ? (Rng.keep(dropoutSeed, idx, dropout) ? 1 / (1 - dropout) : 0) : 1;
                p[j] = w[row + j] * keep;
                max = Math.max(max, p[j]);
            }
            float sum = 0;
            for (int j = 0; j < vocab; j++) { p[j] = (float) Math.exp(p[j] - max); sum += p[j]; }
            loss += Math.log(sum) - Math.log(p[targets[i]]); // logsumexp(logits) - logits[target]
            for (int j = 0; j < vocab; j++) {
                long idx = (long) i * vocab + j;
                float keep = dropout > 0 ? (Rng.keep(dropoutSeed, idx, dropout) ? 1 / (1 - dropout) : 0) : 1;
                float d = p[j] / sum - (j == targets[i] ? 1 : 0);
                g[row + j] += gradScale * d * keep / tokens.length;
            }
        }
        float l = (float) (loss / tokens.length);
        return poison.contains(calls) ? Float.NaN : l;
    }

    @Override
    public float loss(Batch b) {
        int[] tokens = b.tokens, targets = b.targets;
        double loss = 0;
        for (int i = 0; i < tokens.length; i++) {
            int row = tokens[i] * vocab;
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < vocab; j++) max = Math.max(max, w[row + j]);
            double sum = 0;
            for (int j = 0; j < vocab; j++) sum += Math.exp(w[row + j] - max);
            loss += Math.log(sum) + max - w[row + targets[i]];
        }
        return (float) (loss / tokens.length);
    }

    @Override
    public float gradNorm() {
        double s = 0;
        for (float x : g) s += x * x;
        return (float) Math.sqrt(s);
    }

    @Override
    public void useAverage(boolean on) {}   // keeps no average

    @Override
    public void step(double lr) {
        lastLr = lr;
        t++;
        float b1 = 0.9f, b2 = 0.99f;
        for (int i = 0; i < w.length; i++) {
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
            double mh = m[i] / (1 - Math.pow(b1, t)), vh = v[i] / (1 - Math.pow(b2, t));
            w[i] -= (float) (lr * mh / (Math.sqrt(vh) + 1e-8));
        }
    }

    @Override
    public void save(Path dir) throws IOException {
        AtomicFile.writeStream(dir.resolve("model.bin"), out -> write(out, w));
        AtomicFile.writeStream(dir.resolve("optimizer.bin"), out -> {
            var d = new DataOutputStream(out);
            d.writeInt(t);
            d.flush();
            write(out, m);
            write(out, v);
        });
    }

    @Override
    public void load(Path dir) throws IOException {
        try (var in = new DataInputStream(Files.newInputStream(dir.resolve("model.bin")))) { read(in, w); }
        try (var in = new DataInputStream(Files.newInputStream(dir.resolve("optimizer.bin")))) {
            t = in.readInt();
            read(in, m);
            read(in, v);
        }
    }

    @Override public double flopsPerToken() { return 6.0 * w.length; }

    private static void write(java.io.OutputStream out, float[] a) throws IOException {
        var d = new DataOutputStream(new java.io.BufferedOutputStream(out));
        for (float x : a) d.writeFloat(x);
        d.flush();
    }

    private static void read(DataInputStream in, float[] a) throws IOException {
        for (int i = 0; i < a.length; i++) a[i] = in.readFloat();
    }
}
