package dev.cramjet.train;

import dev.cramjet.data.Batch;

import java.util.Map;

/** The training data as the loop consumes it: micro-batches in a reproducible order whose position can be saved. */
public interface Batches {
    /**
     * A micro-batch of this stream's shape for {@link #next} to fill, allocated once by the loop: language-model
     * windows (a target per position, no padding) unless the stream says otherwise (a fine-tune's padded
     * sequences with lengths, or preference pairs as twice the rows).
     */
    default Batch allocate(int batch, int seq) { return new Batch(batch, seq); }

    /** Fills the batch with the next micro-batch (a language model's targets are its tokens shifted by one). */
    void next(Batch batch);

    /** Where the stream stands (JSON-able), so a resumed run reads exactly the batches it would have read. */
    Map<String, Object> state();

    /** Returns to a position from {@link #state}; {@code where} names its source in errors. */
    void restore(Map<String, Object> state, String where);

    /**
     * Moves past {@code count} micro-batches without reading them: how data-parallel ranks share one stream (rank
     * r of W, accumulating A, reads micro-batches r·A … r·A + A − 1 of each step's W·A), so its position stays the
     * whole state. A stream that cannot seek serves one process only.
     */
    default void skip(long count) {
        if (count != 0) throw new UnsupportedOperationException(getClass().getName() + " cannot skip micro-batches, so data-parallel ranks cannot share it");
    }
}
