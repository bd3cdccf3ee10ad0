package dev.cramjet.eval;

import java.util.Map;

/**
 * What one validation pass tells the training loop: the loss, the figures for the run's metrics.jsonl, and the
 * objective that early stopping and the choice of the best checkpoint minimise — the loss for a language model,
 * or e.g. minus the macro-F1 for a classifier monitored on F1.
 */
public interface Validation {
    /** Mean validation cross-entropy (nats). */
    double loss();

    /** Lower is better. */
    default double objective() { return loss(); }

    /** The fields of the "eval" metrics line: val_loss first, then the rest (val_ppl, val_accuracy, …). */
    Map<String, Object> metrics();

    /** One line for people, e.g. "loss 3.9120, perplexity 50.00, 1.210 bits per byte". */
    String describe();
}
