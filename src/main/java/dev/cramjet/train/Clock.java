package dev.cramjet.train;

/**
 * Where the trainer reads the time. The wall-clock budget drives the learning-rate schedule, so tests replace the
 * system clock with one they advance by hand.
 */
@FunctionalInterface
public interface Clock {
    /** A monotonic reading in nanoseconds (only differences mean anything). */
    long nanos();

    Clock SYSTEM = System::nanoTime;
}
