package dev.cramjet.train;

import dev.cramjet.data.Batch;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The model and its optimizer as the training loop drives them. The loop owns the order (zero, accumulate, check,
 * step) so it can skip a step whose loss or gradient is not finite before any weight changes.
 */
public interface Learner {
    /** Clears the accumulated gradients. */
    void zeroGrad();

    /**
     * Forward and backward on one micro-batch in training mode (dropout drawn from {@code dropoutSeed}), adding
     * ∂loss/∂θ ÷ accumulation to the gradients, so the step's micro-batches sum to the gradient of their mean loss.
     * Returns the micro-batch's mean loss.
     */
    float trainMicroBatch(Batch batch, long dropoutSeed, int accumulation);

    /** The global L2 norm of the accumulated gradients, before clipping. */
    float gradNorm();

    /** One optimizer update at learning rate {@code lr}, clipped by the norm {@link #gradNorm} just measured (called after it). */
    void step(double lr);

    /**
     * Writes weights and optimizer state into {@code dir} (through AtomicFile). In a data-parallel run every rank
     * calls it and writes its part: rank 0 the weights and replicated state, each rank its optimizer shard.
     */
    void save(Path dir) throws IOException;

    /** Restores what {@link #save} wrote. */
    void load(Path dir) throws IOException;

    /**
     * Puts the running average of the trained weights (an {@code ema} run's) into the model for an evaluation
     * ({@code true}), or the trained weights back ({@code false}); does nothing when no average is kept, or before
     * the first update. A learner that wraps another passes it on.
     */
    void useAverage(boolean on);

    /** Training FLOPs per token (6·N plus attention), for MFU. */
    double flopsPerToken();

    /**
     * Figures of the last step beyond its loss (a preference learner's reward margin and accuracy), logged with it
     * by name; none by default.
     */
    default java.util.Map<String, Double> metrics() { return java.util.Map.of(); }
}
