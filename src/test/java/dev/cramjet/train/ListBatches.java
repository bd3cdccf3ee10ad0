package dev.cramjet.train;

import dev.cramjet.data.Batch;
import dev.cramjet.Hash;
import dev.cramjet.engine.Rng;
import dev.cramjet.eval.Evaluator;
import dev.cramjet.io.Json;

import java.util.Map;

/**
 * Batches drawn at random offsets from a token array, the draw a hash of (seed, counter): the counter is the
 * whole RNG state, so saving it is what makes resume exact.
 */
final class ListBatches implements Batches {
    private final int[] data;
    private final int context;
    private final long seed;
    private long counter;

    ListBatches(int[] data, int context, long seed) {
        this.data = data;
        this.context = context;
        this.seed = seed;
    }

    /** A synthetic corpus with structure a bigram model can learn: mostly token i is followed by i+1. */
    static int[] corpus(int n, int vocab, long seed) {
        int[] d = new int[n];
        for (int i = 1; i < n; i++) d[i] = Rng.uniform(seed, i) < 0.8f ? (d[i - 1] + 1) % vocab : (int) (Rng.uniform(seed + 1, i) * vocab);
        return d;
    }

    @Override
    public void next(Batch b) {
        int[] tokens = b.tokens, targets = b.targets;
        for (int r = 0; r < tokens.length / context; r++) {
            int off = (int) Long.remainderUnsigned(Hash.mix(seed + counter++ * Hash.GOLDEN), data.length - context - 1);
            System.arraycopy(data, off, tokens, r * context, context);
            System.arraycopy(data, off + 1, targets, r * context, context);
        }
    }

    @Override public Map<String, Object> state() { return Map.of("counter", counter); }

    @Override public void restore(Map<String, Object> state, String where) { counter = Json.integer(state.get("counter"), where + ".counter"); }

    /** Consecutive batches from the start of {@code data}: a validation split. */
    static Evaluator.Source validation(int[] data) {
        return new Evaluator.Source() {
            int pos;

            @Override public void reset() { pos = 0; }

            @Override
            public boolean next(Batch b) {
                int[] tokens = b.tokens, targets = b.targets;
                if (pos + tokens.length + 1 > data.length) return false;
                System.arraycopy(data, pos, tokens, 0, tokens.length);
                System.arraycopy(data, pos + 1, targets, 0, tokens.length);
                pos += tokens.length;
                return true;
            }
        };
    }
}
