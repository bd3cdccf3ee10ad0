package dev.cramjet.engine;

/**
 * A decoding step's entries, host-side: entry e is {@code count(e)} consecutive rows of the step's activations from
 * row {@code first(e)}, the tokens of sequence {@code seq(e)} of a batch's caches at positions
 * [pos(e), pos(e) + count(e)). Rows are handed out in order, so entry e starts where entry e − 1 ends. Built by the
 * model between two steps ({@link #add}, {@link #clear}), read by {@link Backend#attentionCached(Tensor, Tensor,
 * Tensor, Tensor, DecodeStep, int)}.
 */
public final class DecodeStep {
    private final int[] seq, pos, first, count;
    private int entries, rows;

    /** Room for {@code capacity} entries. */
    public DecodeStep(int capacity) {
        seq = new int[capacity];
        pos = new int[capacity];
        first = new int[capacity];
        count = new int[capacity];
    }

    /** Appends an entry of n ≥ 1 rows for sequence s at position p; returns its index. */
    public int add(int s, int p, int n) {
        if (entries == seq.length) throw new IllegalStateException("a step holds at most " + seq.length + " entries");
        if (s < 0 || p < 0 || n < 1) throw new IllegalArgumentException("entry of sequence " + s + " at " + p + " with " + n + " rows");
        seq[entries] = s;
        pos[entries] = p;
        first[entries] = rows;
        count[entries] = n;
        rows += n;
        return entries++;
    }

    public int entries() { return entries; }

    /** Rows over all entries. */
    public int rows() { return rows; }

    public int seq(int e) { return seq[e]; }

    public int pos(int e) { return pos[e]; }

    public int first(int e) { return first[e]; }

    public int count(int e) { return count[e]; }

    public void clear() { entries = rows = 0; }
}
