package dev.cramjet.train;

import dev.cramjet.CramjetException;

/**
 * A learning-rate schedule as a function of the fraction of the budget spent (progress in [0, 1]), so the same
 * schedule works whether the budget is steps, tokens or wall-clock time. Warm-up, stable and decay phases are also
 * fractions of the run. Every schedule ends at {@code min}; all but one-cycle and triangle start from zero.
 */
public sealed interface Schedule {
    /** The learning rate at {@code progress} ∈ [0, 1]. */
    double lr(double progress);

    /** The name used in configs. */
    String name();

    /** Linear warm-up to peak, then a half cosine from peak down to min. */
    record Cosine(double peak, double min, double warmup) implements Schedule {
        public double lr(double p) {
            if (p < warmup) return peak * p / warmup;
            double t = (p - warmup) / (1 - warmup);
            return min + (peak - min) * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, t)));
        }

        public String name() { return "cosine"; }
    }

    /** Linear warm-up to peak, then a straight line down to min. */
    record Linear(double peak, double min, double warmup) implements Schedule {
        public double lr(double p) {
            if (p < warmup) return peak * p / warmup;
            double t = (p - warmup) / (1 - warmup);
            return peak + (min - peak) * Math.min(1, t);
        }

        public String name() { return "linear"; }
    }

    /**
     * Warmup-stable-decay (the "trapezoid"): warm up, hold the peak, and spend the last {@code decay} fraction of the
     * run decaying linearly to min. The long flat phase makes a checkpoint before the decay a good branch point.
     */
    record WarmupStableDecay(double peak, double min, double warmup, double decay) implements Schedule {
        public double lr(double p) {
            if (p < warmup) return peak * p / warmup;
            double decayStart = 1 - decay;
            if (p < decayStart) return peak;
            return peak + (min - peak) * Math.min(1, (p - decayStart) / decay);
        }

        public String name() { return "wsd"; }
    }

    /**
     * One-cycle (Smith &amp; Topin): rises from peak/25 to peak over the first {@code rise} fraction on a half
     * cosine, then anneals on a half cosine down to min.
     */
    record OneCycle(double peak, double min, double rise) implements Schedule {
        public double lr(double p) {
            double start = peak / 25;
            if (p < rise) return start + (peak - start) * 0.5 * (1 - Math.cos(Math.PI * p / rise));
            double t = Math.min(1, (p - rise) / (1 - rise));
            return min + (peak - min) * 0.5 * (1 + Math.cos(Math.PI * t));
        }

        public String name() { return "one-cycle"; }
    }

    /**
     * Cramming's "budget triangle": from a quarter of the peak up to the peak at {@code rise} (Cramming: 75% of the
     * budget), then a straight line down to min (Cramming: 0). Only a clock-driven budget can place the peak so late.
     */
    record Triangle(double peak, double min, double rise) implements Schedule {
        public double lr(double p) {
            if (p < rise) return peak * (0.25 + 0.75 * p / rise);
            return peak + (min - peak) * Math.min(1, (p - rise) / (1 - rise));
        }

        public String name() { return "triangle"; }
    }

    /** The schedule called {@code name}; {@code warmup} is the rise fraction for one-cycle and triangle. */
    static Schedule of(String name, double peak, double min, double warmup, double decay) {
        if (!(peak > 0)) throw new CramjetException("lr: must be positive, got " + peak);
        if (min < 0 || min > peak) throw new CramjetException("min-lr-ratio: must be in [0, 1], got " + (min / peak));
        if (warmup < 0 || warmup >= 1) throw new CramjetException("warmup: must be a fraction in [0, 1), got " + warmup);
        return switch (name) {
            case "cosine" -> new Cosine(peak, min, warmup);
            case "linear" -> new Linear(peak, min, warmup);
            case "wsd" -> {
                if (!(decay > 0) || warmup + decay > 1) {
                    throw new CramjetException("decay: the wsd decay fraction must be in (0, 1 - warmup], got " + decay);
                }
                yield new WarmupStableDecay(peak, min, warmup, decay);
            }
            case "one-cycle" -> new OneCycle(peak, min, warmup > 0 ? warmup : 0.3);
            case "triangle" -> new Triangle(peak, min, warmup > 0 ? warmup : 0.75);
            default -> throw new CramjetException("schedule: expected cosine, linear, wsd, one-cycle or triangle, got '" + name + "'");
        };
    }
}
