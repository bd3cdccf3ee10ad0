package dev.cramjet.train;

import dev.cramjet.data.Batch;

import java.util.Map;

/** The training data as the loop consumes it: micro-batches in a reproducible order whose position can be saved. */
public interface Batches {
    /**
     * A micro-batch of {@code batch} sequences of {@code context} tokens in the shape this stream fills: language-model
     * windows by default; a fine-tune's stream makes padded ones (with lengths), or more rows (preference pairs).
     */
    default Batch allocate(int batch, int context) { return new Batch(batch, context); }

    /** Fills the batch with the next micro-batch (a language model's targets are its tokens shifted by one). */
    void next(Batch batch);

    /** Where the stream stands (JSON-able), so a resumed run reads exactly the batches it would have read. */
    Map<String, Object> state();

    /** Returns to a position from {@link #state}. */
    void restore(Map<String, Object> state);
}
