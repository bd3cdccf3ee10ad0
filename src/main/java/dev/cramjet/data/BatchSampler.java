package dev.cramjet.data;

import dev.cramjet.Hash;
import dev.cramjet.CramjetException;

import java.util.List;

/**
 * Serves training batches of B windows of T tokens (inputs) and the same windows shifted by one (next-token
 * targets). Each shard is cut into windows of T + 1 tokens at stride T, starting at an offset in [0, T) drawn per
 * epoch, so window boundaries move between epochs. An epoch visits every window once, in an order given by a
 * keyed pseudo-random permutation (a Feistel network with cycle walking) — no index array, O(1) memory.
 * The whole state is the number of batches served: batch p's windows are a pure function of (seed, p), so
 * {@link #seek} to a saved {@link #position()} resumes exactly.
 */
public final class BatchSampler {
    /** What a checkpoint stores; {@link #restore} checks that it belongs to a sampler of the same shape. */
    public record State(long seed, int batch, int seq, long windows, long position) {}

    private final TokenShards shards;
    private final int batch, seq;
    private final long seed;
    private final long[] firstWindow; // prefix sums of windows per shard
    private final long windows;
    private final int[] window;
    private long position;

    public BatchSampler(TokenShards shards, int batch, int seq, long seed) {
        if (batch < 1 || seq < 1) throw new IllegalArgumentException("batch and seq must be positive, got " + batch + ", " + seq);
        this.shards = shards;
        this.batch = batch;
        this.seq = seq;
        this.seed = seed;
        List<ShardReader> list = shards.shards();
        firstWindow = new long[list.size() + 1];
        for (int s = 0; s < list.size(); s++) {
            // With the offset at most T-1, window j spans [off + jT, off + jT + T + 1) ⊆ [0, size) for j < (size - T) / T.
            firstWindow[s + 1] = firstWindow[s] + Math.max(0, (list.get(s).size() - seq) / seq);
        }
        windows = firstWindow[list.size()];
        if (windows == 0) {
            throw new CramjetException("the training shards hold " + shards.tokens() + " tokens, too few for one window of "
                    + seq + " tokens (each shard needs at least " + 2 * seq + "); use a shorter sequence or more text");
        }
        window = new int[seq + 1];
    }

    /** Fills tokens[B·T] with inputs and targets[B·T] with next tokens, row b at [b·T, (b+1)·T). */
    public void next(int[] tokens, int[] targets) {
        if (tokens.length < batch * seq || targets.length < batch * seq) {
            throw new IllegalArgumentException("arrays hold " + tokens.length + " and " + targets.length + ", need " + batch * seq);
        }
        for (int b = 0; b < batch; b++) {
            long k = position * batch + b;
            long epoch = k / windows;
            long key = Hash.mix(seed ^ Hash.mix(epoch + 1));
            long g = permute(k % windows, windows, key);
            int s = shardOf(g);
            long offset = Long.remainderUnsigned(Hash.mix(key + 1), seq) + (g - firstWindow[s]) * seq;
            shards.shards().get(s).read(offset, window, 0, seq + 1);
            System.arraycopy(window, 0, tokens, b * seq, seq);
            System.arraycopy(window, 1, targets, b * seq, seq);
        }
        position++;
    }

    /** Batches served so far. */
    public long position() { return position; }

    public void seek(long position) {
        if (position < 0) throw new IllegalArgumentException("position " + position);
        this.position = position;
    }

    /** Windows per epoch. */
    public long windows() { return windows; }

    public State state() { return new State(seed, batch, seq, windows, position); }

    public void restore(State s) {
        if (s.seed() != seed || s.batch() != batch || s.seq() != seq || s.windows() != windows) {
            throw new CramjetException("saved data position is for seed " + s.seed() + ", batch " + s.batch() + ", seq " + s.seq()
                    + ", " + s.windows() + " windows; this run has seed " + seed + ", batch " + batch + ", seq " + seq + ", "
                    + windows + " windows (different data or settings)");
        }
        seek(s.position());
    }

    private int shardOf(long g) {
        int lo = 0, hi = firstWindow.length - 2;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (firstWindow[mid] <= g) lo = mid; else hi = mid - 1;
        }
        return lo;
    }

    /**
     * A bijection of [0, n) keyed by {@code key}: a 4-round balanced Feistel network on the smallest even number of
     * bits covering n, re-applied until the value falls inside [0, n) (the domain is under 4n, so a few rounds).
     */
    static long permute(long i, long n, long key) {
        int bits = Math.max(2, 64 - Long.numberOfLeadingZeros(n - 1));
        if ((bits & 1) == 1) bits++;
        int half = bits / 2;
        long mask = (1L << half) - 1;
        long x = i;
        do {
            long l = x >>> half, r = x & mask;
            for (int round = 0; round < 4; round++) {
                long f = Hash.mix(r ^ key ^ ((long) round << 58)) & mask;
                long t = r;
                r = l ^ f;
                l = t;
            }
            x = (l << half) | r;
        } while (x >= n);
        return x;
    }
}
