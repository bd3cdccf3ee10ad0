package dev.cramjet.train;

/**
 * Stops a run after {@code patience} evaluations in a row without a validation objective (the loss, or a metric
 * made lower-is-better) below the best so far (patience 0 never stops). Its state travels in checkpoints so a resumed run counts on.
 */
public final class EarlyStopping {
    private final int patience;
    private double best;
    private int bad;

    public EarlyStopping(int patience, double best, int bad) {
        this.patience = patience;
        this.best = best;
        this.bad = bad;
    }

    public EarlyStopping(int patience) { this(patience, Double.POSITIVE_INFINITY, 0); }

    /** Records an evaluation; returns true if it is the best so far. */
    public boolean update(double objective) {
        if (objective < best) {
            best = objective;
            bad = 0;
            return true;
        }
        bad++;
        return false;
    }

    public boolean shouldStop() { return patience > 0 && bad >= patience; }

    public double best() { return best; }

    public int bad() { return bad; }
}
