package dev.cramjet.infer;

import dev.cramjet.CramjetException;

import java.util.SplittableRandom;

/**
 * Picks the next token from a row of logits. The steps, in order:
 * <ol>
 * <li>repetition penalty (CTRL, Keskar et al. 2019): for each distinct token already in the context, a positive
 *     logit is divided by the penalty and a negative one multiplied by it, so a penalty &gt; 1 always makes a seen
 *     token less likely;</li>
 * <li>temperature 0 is greedy: the arg-max, ties going to the lowest token id, no randomness;</li>
 * <li>top-k keeps the k largest logits, found by quickselect (expected O(V), no sort of the vocabulary);</li>
 * <li>softmax at the temperature over the survivors;</li>
 * <li>top-p (nucleus, Holtzman et al. 2019) keeps the smallest set of most likely survivors whose probability mass
 *     reaches p, again by partitioning rather than sorting;</li>
 * <li>one draw from a {@link SplittableRandom} seeded once, so a seed reproduces a whole generation.</li>
 * </ol>
 * Candidates are ordered by (logit descending, id ascending), a strict total order, so every choice is
 * deterministic. All scratch space is allocated once for the vocabulary size; {@link #sample} allocates nothing.
 * Not thread-safe: one sampler per generation.
 */
public final class Sampler {
    /**
     * Sampling settings. temperature ≥ 0 (0 = greedy); topK ≥ 0 (0 = off); topP in (0, 1] (1 = off);
     * repetitionPenalty &gt; 0 (1 = off).
     */
    public record Settings(double temperature, int topK, double topP, double repetitionPenalty, long seed) {
        public Settings {
            if (!(temperature >= 0) || Double.isInfinite(temperature)) {
                throw new CramjetException("temperature must be a finite number >= 0, got " + temperature);
            }
            if (topK < 0) throw new CramjetException("top-k must be >= 0 (0 turns it off), got " + topK);
            if (!(topP > 0 && topP <= 1)) throw new CramjetException("top-p must be in (0, 1] (1 turns it off), got " + topP);
            if (!(repetitionPenalty > 0) || Double.isInfinite(repetitionPenalty)) {
                throw new CramjetException("repetition penalty must be a finite number > 0 (1 turns it off), got " + repetitionPenalty);
            }
        }

        /** Greedy decoding: temperature 0, no filtering, no penalty. */
        public static Settings greedy() { return new Settings(0, 0, 1, 1, 0); }
    }

    private final Settings settings;
    private final int vocab;
    private final SplittableRandom random;
    /** The logits after the penalty, indexed by token id. */
    private final float[] work;
    /** Unnormalised probabilities, indexed by token id (valid for the current candidates only). */
    private final float[] weight;
    /** Candidate token ids; [0, n) is the live set. */
    private final int[] ids;
    /** seen[id] == stamp marks id as already penalised in this call, so repeats in the context count once. */
    private final int[] seen;
    private int stamp;

    public Sampler(Settings settings, int vocab) {
        if (vocab <= 0) throw new IllegalArgumentException("vocabulary size must be positive, got " + vocab);
        this.settings = settings;
        this.vocab = vocab;
        this.random = new SplittableRandom(settings.seed());
        this.work = new float[vocab];
        this.weight = new float[vocab];
        this.ids = new int[vocab];
        this.seen = new int[vocab];
    }

    public Settings settings() { return settings; }

    /** The number of logit columns it samples from: token ids are in [0, vocab). */
    public int vocab() { return vocab; }

    /**
     * The next token given the logits (at least {@code vocab} long; columns past the vocabulary, such as padding,
     * are ignored) and the context so far, {@code context[0, length)}, used by the repetition penalty.
     * The logits are not modified.
     */
    public int sample(float[] logits, int[] context, int length) {
        if (logits.length < vocab) {
            throw new IllegalArgumentException("logits have " + logits.length + " columns, vocabulary is " + vocab);
        }
        for (int i = 0; i < vocab; i++) {
            float l = logits[i];
            work[i] = Float.isNaN(l) ? Float.NEGATIVE_INFINITY : l;
        }
        if (settings.repetitionPenalty() != 1) penalise(context, length);
        if (settings.temperature() == 0) return argmax();

        int n = vocab;
        for (int i = 0; i < n; i++) ids[i] = i;
        if (settings.topK() > 0 && settings.topK() < n) {
            selectTop(0, n, settings.topK());
            n = settings.topK();
        }

        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, work[ids[i]]);
        if (max == Float.NEGATIVE_INFINITY) return argmax(); // nothing has any probability: fall back to a fixed choice
        double invT = 1 / settings.temperature();
        double total = 0;
        for (int i = 0; i < n; i++) {
            int id = ids[i];
            float w = (float) Math.exp((work[id] - max) * invT);
            weight[id] = w;
            total += w;
        }

        if (settings.topP() < 1) {
            int kept = nucleus(n, settings.topP() * total);
            total = 0;
            for (int i = 0; i < kept; i++) total += weight[ids[i]];
            n = kept;
        }

        double u = random.nextDouble() * total;
        double acc = 0;
        for (int i = 0; i < n; i++) {
            acc += weight[ids[i]];
            if (u < acc) return ids[i];
        }
        return ids[n - 1]; // u landed on the rounding slack at the very top
    }

    private void penalise(int[] context, int length) {
        if (++stamp == 0) { // wrapped after 2^32 calls: clear the marks once
            java.util.Arrays.fill(seen, 0);
            stamp = 1;
        }
        float r = (float) settings.repetitionPenalty();
        for (int i = 0; i < length; i++) {
            int id = context[i];
            if (id < 0 || id >= vocab || seen[id] == stamp) continue;
            seen[id] = stamp;
            float l = work[id];
            work[id] = l > 0 ? l / r : l * r;
        }
    }

    private int argmax() {
        int best = 0;
        for (int i = 1; i < vocab; i++) if (work[i] > work[best]) best = i;
        return best;
    }

    /** True when token a ranks before token b: larger logit, or the same logit and a smaller id. */
    private boolean before(int a, int b) {
        float la = work[a], lb = work[b];
        return la > lb || (la == lb && a < b);
    }

    /**
     * Rearranges ids[lo, hi) so that ids[lo, lo + k) holds its k highest-ranked tokens (in no particular order).
     * Hoare-style quickselect with a median-of-three pivot.
     */
    private void selectTop(int lo, int hi, int k) {
        int target = lo + k; // the boundary we need: ranks [lo, target) before, the rest after
        while (hi - lo > 1) {
            int p = partition(lo, hi);
            if (p == target || p + 1 == target) return;
            if (p > target) hi = p;
            else lo = p + 1;
        }
    }

    /**
     * Partitions ids[lo, hi) around a pivot: on return ids[lo, p) rank before the pivot, ids[p] is the pivot and
     * ids(p, hi) rank after it. Returns p.
     */
    private int partition(int lo, int hi) {
        int mid = (lo + hi) >>> 1, last = hi - 1;
        // Median of three to the end, as the pivot.
        if (before(ids[mid], ids[lo])) swap(mid, lo);
        if (before(ids[last], ids[lo])) swap(last, lo);
        if (before(ids[mid], ids[last])) swap(mid, last);
        int pivot = ids[last];
        int store = lo;
        for (int i = lo; i < last; i++) {
            if (before(ids[i], pivot)) swap(i, store++);
        }
        swap(store, last);
        return store;
    }

    /**
     * Rearranges ids[0, n) so that ids[0, m) is the smallest set of highest-ranked tokens whose weight sum reaches
     * {@code mass}; returns m (at least 1). Quickselect on the cumulative mass: each round partitions the undecided
     * range and keeps the side where the boundary lies.
     */
    private int nucleus(int n, double mass) {
        int lo = 0, hi = n;   // ids[0, lo) are in the set; ids[hi, n) are out; ids[lo, hi) undecided
        double inside = 0;    // weight of ids[0, lo)
        while (lo < hi) {
            int p = partition(lo, hi);
            double above = 0;
            for (int i = lo; i < p; i++) above += weight[ids[i]];
            if (inside + above >= mass) {
                hi = p;             // the boundary lies among the tokens ranked above the pivot
            } else if (inside + above + weight[ids[p]] >= mass) {
                return p + 1;       // the pivot is the last token needed
            } else {
                inside += above + weight[ids[p]];
                lo = p + 1;
            }
        }
        return Math.max(lo, 1);
    }

    private void swap(int i, int j) {
        int t = ids[i];
        ids[i] = ids[j];
        ids[j] = t;
    }
}
