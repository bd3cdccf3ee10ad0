package dev.cramjet.data;

/**
 * Validation batches: every window of T + 1 tokens at stride T, shard by shard, in file order — the same
 * windows every time, so validation losses are comparable across a run. {@link #next} fills up to B rows and
 * returns how many it filled (0 at the end); {@link #reset()} starts over.
 */
public final class SequentialBatches {
    private final TokenShards shards;
    private final int batch, seq;
    private final int[] window;
    private int shard;
    private long offset;

    public SequentialBatches(TokenShards shards, int batch, int seq) {
        if (batch < 1 || seq < 1) throw new IllegalArgumentException("batch and seq must be positive, got " + batch + ", " + seq);
        this.shards = shards;
        this.batch = batch;
        this.seq = seq;
        this.window = new int[seq + 1];
    }

    /** Windows in one pass. */
    public long windows() {
        long n = 0;
        for (ShardReader s : shards.shards()) n += Math.max(0, (s.size() - 1) / seq);
        return n;
    }

    public int next(int[] tokens, int[] targets) {
        int rows = 0;
        while (rows < batch && shard < shards.shards().size()) {
            ShardReader s = shards.shards().get(shard);
            if (offset + seq + 1 > s.size()) {
                shard++;
                offset = 0;
                continue;
            }
            s.read(offset, window, 0, seq + 1);
            System.arraycopy(window, 0, tokens, rows * seq, seq);
            System.arraycopy(window, 1, targets, rows * seq, seq);
            offset += seq;
            rows++;
        }
        return rows;
    }

    public void reset() {
        shard = 0;
        offset = 0;
    }
}
