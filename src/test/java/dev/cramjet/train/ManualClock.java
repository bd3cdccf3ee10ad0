package dev.cramjet.train;

/** A clock tests advance by hand. */
final class ManualClock implements Clock {
    long now;

    void advanceSeconds(double s) { now += (long) (s * 1e9); }

    @Override public long nanos() { return now; }
}
