package dev.cramjet.train;

/**
 * Gradient-accumulation count per optimizer step, optionally ramped: small batches early (when the gradient signal
 * is strong and noise helps) growing linearly to the target tokens-per-step over the first {@code over} fraction of
 * the budget. The micro-batch shape never changes, so the model's activation buffers are sized once.
 */
public record BatchRamp(int target, double over) {
    public BatchRamp {
        if (target < 1) throw new IllegalArgumentException("target accumulation must be >= 1, got " + target);
    }

    /** Micro-batches to accumulate at {@code progress}. */
    public int at(double progress) {
        if (over <= 0 || progress >= over) return target;
        return Math.max(1, (int) Math.ceil(target * progress / over));
    }
}
