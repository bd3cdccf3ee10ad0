package dev.cramjet.data;

/**
 * One micro-batch as the training loop and evaluation pass it around: B sequences of T tokens, and what the
 * model is scored on. Its arrays are allocated once and refilled by each {@code next}.
 * <ul>
 * <li>{@code tokens} [B·T], row-major;</li>
 * <li>{@code targets}: one per position ([B·T]: the next token for a language model, the masked token for an
 *     encoder) or one per sequence ([B]: a label), negative where nothing is scored;</li>
 * <li>{@code lengths} [B]: each sequence's real tokens when sequences are padded to T, or null when every
 *     sequence fills T (packed language-model windows).</li>
 * </ul>
 */
public final class Batch {
    public final int batch, seq;
    public final int[] tokens, targets, lengths;

    /** A batch with one target per position and no padding (language-model windows). */
    public Batch(int batch, int seq) { this(batch, seq, batch * seq, false); }

    /** @param targets one per position (batch·seq) or one per sequence (batch); padded: keep lengths */
    public Batch(int batch, int seq, int targets, boolean padded) {
        if (targets != batch * seq && targets != batch) {
            throw new IllegalArgumentException("targets must be one per position or one per sequence, got " + targets);
        }
        this.batch = batch;
        this.seq = seq;
        this.tokens = new int[batch * seq];
        this.targets = new int[targets];
        this.lengths = padded ? new int[batch] : null;
    }
}
