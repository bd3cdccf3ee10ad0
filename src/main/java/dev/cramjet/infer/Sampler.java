package dev.cramjet.infer;

import dev.cramjet.CramjetException;
import dev.cramjet.Lanes;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.SplittableRandom;

/**
 * Picks the next token from a row of logits. The steps, in order:
 * <ol>
 * <li>repetition penalty (CTRL, Keskar et al. 2019): for each distinct token already in the context, a positive
 *     logit is divided by the penalty and a negative one multiplied by it, so a penalty &gt; 1 always makes a seen
 *     token less likely;</li>
 * <li>presence and frequency penalties (OpenAI's definition): logit[j] −= frequency·c[j] + presence·[c[j] &gt; 0],
 *     c[j] being how often j occurs in the generated part of the context;</li>
 * <li>temperature 0 is greedy: the arg-max, ties going to the lowest token id, no randomness;</li>
 * <li>top-k keeps the k largest logits, found in one pass with a k-element min-heap (O(V log k) at worst,
 *     about V comparisons in practice, since few tokens beat the heap's weakest member; no sort);</li>
 * <li>softmax at the temperature over the survivors (over the whole vocabulary with the Vector API);</li>
 * <li>top-p (nucleus, Holtzman et al. 2019) keeps the smallest set of most likely survivors whose probability mass
 *     reaches p: over the whole vocabulary a few vector passes first shortlist the likely tokens, then quickselect
 *     on the cumulative mass finds the set, so nothing is sorted;</li>
 * <li>one draw from a {@link SplittableRandom} seeded once, so a seed reproduces a whole generation.</li>
 * </ol>
 * Candidates are ordered by (logit descending, id ascending), a strict total order, so every choice is
 * deterministic, and the exponentials and lane sums are {@link Lanes}' (StrictMath in scalar tails), which give the
 * same bits in every JIT tier: a seed reproduces a generation in a fresh process and in a long-running server. All scratch space is allocated once for the vocabulary size; {@link #sample} allocates nothing.
 * Not thread-safe: one sampler per generation.
 */
public final class Sampler {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    /**
     * Sampling settings. temperature ≥ 0 (0 = greedy); topK ≥ 0 (0 = off); topP in (0, 1] (1 = off);
     * repetitionPenalty &gt; 0 (1 = off); presencePenalty and frequencyPenalty in [−2, 2] (0 = off).
     */
    public record Settings(double temperature, int topK, double topP, double repetitionPenalty, double presencePenalty,
                           double frequencyPenalty, long seed) {
        /** Without presence and frequency penalties. */
        public Settings(double temperature, int topK, double topP, double repetitionPenalty, long seed) {
            this(temperature, topK, topP, repetitionPenalty, 0, 0, seed);
        }

        public Settings {
            if (!(temperature >= 0) || Double.isInfinite(temperature)) {
                throw new CramjetException("temperature must be a finite number >= 0, got " + temperature);
            }
            if (topK < 0) throw new CramjetException("top-k must be >= 0 (0 turns it off), got " + topK);
            if (!(topP > 0 && topP <= 1)) throw new CramjetException("top-p must be in (0, 1] (1 turns it off), got " + topP);
            if (!(repetitionPenalty > 0) || Double.isInfinite(repetitionPenalty)) {
                throw new CramjetException("repetition penalty must be a finite number > 0 (1 turns it off), got " + repetitionPenalty);
            }
            if (!(Math.abs(presencePenalty) <= 2)) throw new CramjetException("presence penalty must be in [-2, 2], got " + presencePenalty);
            if (!(Math.abs(frequencyPenalty) <= 2)) throw new CramjetException("frequency penalty must be in [-2, 2], got " + frequencyPenalty);
        }

        /** Greedy decoding: temperature 0, no filtering, no penalty. */
        public static Settings greedy() { return new Settings(0, 0, 1, 1, 0); }

        /** The same settings with another seed. */
        public Settings seed(long newSeed) {
            return new Settings(temperature, topK, topP, repetitionPenalty, presencePenalty, frequencyPenalty, newSeed);
        }
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
    /** How often each id occurs in the generated tokens (valid where seen[id] == stamp). */
    private final int[] counts;
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
        this.counts = new int[vocab];
    }

    public Settings settings() { return settings; }

    /** The number of logit columns it samples from: token ids are in [0, vocab). */
    public int vocab() { return vocab; }

    /** {@link #sample(float[], int[], int, int)} with the whole context generated. */
    public int sample(float[] logits, int[] context, int length) { return sample(logits, context, 0, length); }

    /**
     * The next token given the logits (at least {@code vocab} long; columns past the vocabulary, such as padding,
     * are ignored) and the context so far, {@code context[0, length)}, read by the repetition penalty, of which
     * {@code context[generated, length)} was generated, read by the presence and frequency penalties.
     * The logits are not modified.
     */
    public int sample(float[] logits, int[] context, int generated, int length) {
        if (logits.length < vocab) {
            throw new IllegalArgumentException("logits have " + logits.length + " columns, vocabulary is " + vocab);
        }
        load(logits);
        if (settings.repetitionPenalty() != 1) penalise(context, length);
        if (settings.presencePenalty() != 0 || settings.frequencyPenalty() != 0) penaliseGenerated(context, generated, length);
        if (settings.temperature() == 0) return argmax();

        int n = vocab;
        boolean all = true;       // the candidates are every id in order, so ids[] is not filled for them
        double total;
        if (settings.topK() > 0 && settings.topK() < vocab) {
            n = settings.topK();
            all = false;
            selectTop(n);
            total = softmaxCandidates(n);
        } else {
            total = softmaxAll();
        }
        if (Double.isNaN(total)) return argmax(); // nothing has any probability: fall back to a fixed choice

        if (settings.topP() < 1) {
            double mass = settings.topP() * total;
            if (all) n = shortlist(mass);
            all = false;
            int kept = nucleus(n, mass);
            total = 0;
            for (int j = 0; j < kept; j++) total += weight[ids[j]];
            n = kept;
        }

        double u = random.nextDouble() * total;
        double acc = 0;
        for (int j = 0; j < n; j++) {
            int id = all ? j : ids[j];
            acc += weight[id];
            if (u < acc) return id;
        }
        return all ? n - 1 : ids[n - 1]; // u landed on the rounding slack at the very top
    }

    /** work ← the logits of the vocabulary, NaN read as −∞ (a token that cannot be chosen). */
    private void load(float[] logits) {
        int i = 0;
        for (int upper = S.loopBound(vocab); i < upper; i += S.length()) {
            FloatVector l = FloatVector.fromArray(S, logits, i);
            l.blend(Float.NEGATIVE_INFINITY, l.test(VectorOperators.IS_NAN)).intoArray(work, i);
        }
        for (; i < vocab; i++) work[i] = Float.isNaN(logits[i]) ? Float.NEGATIVE_INFINITY : logits[i];
    }

    private void penalise(int[] context, int length) {
        nextStamp();
        float r = (float) settings.repetitionPenalty();
        for (int i = 0; i < length; i++) {
            int id = context[i];
            if (id < 0 || id >= vocab || seen[id] == stamp) continue;
            seen[id] = stamp;
            float l = work[id];
            work[id] = l > 0 ? l / r : l * r;
        }
    }

    private void penaliseGenerated(int[] context, int from, int length) {
        nextStamp();
        for (int i = from; i < length; i++) {
            int id = context[i];
            if (id < 0 || id >= vocab) continue;
            if (seen[id] != stamp) { seen[id] = stamp; counts[id] = 0; }
            counts[id]++;
        }
        float presence = (float) settings.presencePenalty(), frequency = (float) settings.frequencyPenalty();
        for (int i = from; i < length; i++) {
            int id = context[i];
            if (id < 0 || id >= vocab || counts[id] == 0) continue;
            work[id] -= frequency * counts[id] + presence;
            counts[id] = 0;                           // each distinct id once
        }
    }

    private void nextStamp() {
        if (++stamp == 0) { // wrapped after 2^32 calls: clear the marks once
            java.util.Arrays.fill(seen, 0);
            stamp = 1;
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
     * Puts the k highest-ranked tokens in ids[0, k) (in heap order). ids[0, k) is a min-heap on rank whose root is
     * the weakest token kept; a token replaces the root only if it ranks before it. Scanning ids in increasing
     * order, a token tying the root's logit has the larger id and so never gets in: ties go to lower ids.
     */
    private void selectTop(int k) {
        for (int i = 0; i < k; i++) {
            ids[i] = i;
            siftUp(i);
        }
        for (int id = k; id < vocab; id++) {
            if (before(id, ids[0])) {
                ids[0] = id;
                siftDown(k);
            }
        }
    }

    private void siftUp(int i) {
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (!before(ids[parent], ids[i])) return;
            swap(i, parent);
            i = parent;
        }
    }

    private void siftDown(int size) {
        int i = 0;
        while (true) {
            int l = 2 * i + 1, r = l + 1, weakest = i;
            if (l < size && before(ids[weakest], ids[l])) weakest = l;
            if (r < size && before(ids[weakest], ids[r])) weakest = r;
            if (weakest == i) return;
            swap(i, weakest);
            i = weakest;
        }
    }

    /** weight[id] = exp((logit − max)/T) for the candidates ids[0, n); returns their sum (NaN if all are −∞). */
    private double softmaxCandidates(int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, work[ids[i]]);
        if (max == Float.NEGATIVE_INFINITY) return Double.NaN;
        float invT = (float) (1 / settings.temperature());
        double total = 0;
        for (int i = 0; i < n; i++) {
            int id = ids[i];
            float w = (float) StrictMath.exp((work[id] - max) * invT);
            weight[id] = w;
            total += w;
        }
        return total;
    }

    /** The same over the whole vocabulary, in vector lanes. */
    private double softmaxAll() {
        int n = vocab, upper = S.loopBound(n), i = 0;
        FloatVector vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (; i < upper; i += S.length()) vmax = vmax.max(FloatVector.fromArray(S, work, i));
        float max = vmax.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) max = Math.max(max, work[i]);
        if (max == Float.NEGATIVE_INFINITY) return Double.NaN;
        float invT = (float) (1 / settings.temperature());
        FloatVector vsum = FloatVector.zero(S);
        for (i = 0; i < upper; i += S.length()) {
            FloatVector w = Lanes.exp(FloatVector.fromArray(S, work, i).sub(max).mul(invT));
            w.intoArray(weight, i);
            vsum = vsum.add(w);
        }
        double total = Lanes.sum(vsum);
        for (; i < n; i++) {
            float w = (float) StrictMath.exp((work[i] - max) * invT);
            weight[i] = w;
            total += w;
        }
        return total;
    }

    /**
     * The log-probability of {@code token} under the model's own distribution, log softmax(logits) over the
     * vocabulary (before penalties, temperature and filtering: what the model thinks, whatever the settings), and
     * the {@code top} most likely tokens with theirs, most likely first, into topIds and topLogprobs. Call it after
     * {@link #sample}: it reuses the sampler's scratch. Allocates nothing.
     */
    public double logprob(float[] logits, int token, int top, int[] topIds, double[] topLogprobs) {
        if (token < 0 || token >= vocab) throw new IllegalArgumentException("token " + token + " is outside [0, " + vocab + ")");
        if (top < 0 || top > Math.min(topIds.length, topLogprobs.length) || top > vocab) {
            throw new IllegalArgumentException("cannot return " + top + " top tokens");
        }
        load(logits);
        int upper = S.loopBound(vocab), i = 0;
        FloatVector vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (; i < upper; i += S.length()) vmax = vmax.max(FloatVector.fromArray(S, work, i));
        float max = vmax.reduceLanes(VectorOperators.MAX);
        for (; i < vocab; i++) max = Math.max(max, work[i]);
        FloatVector vsum = FloatVector.zero(S);
        for (i = 0; i < upper; i += S.length()) vsum = vsum.add(Lanes.exp(FloatVector.fromArray(S, work, i).sub(max)));
        double sum = Lanes.sum(vsum);
        for (; i < vocab; i++) sum += StrictMath.exp(work[i] - max);
        double lse = max + StrictMath.log(sum);
        if (top > 0) {
            selectTop(top);
            // The heap holds the top tokens weakest first at its root: sort its few entries by rank.
            for (int a = 1; a < top; a++) {
                for (int b = a; b > 0 && before(ids[b], ids[b - 1]); b--) swap(b, b - 1);
            }
            for (int k = 0; k < top; k++) {
                topIds[k] = ids[k];
                topLogprobs[k] = work[ids[k]] - lse;
            }
        }
        return work[token] - lse;
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

    /**
     * Narrows the whole vocabulary to a shortlist that surely contains the nucleus, so the nucleus search does not
     * partition 50k ids: the tokens whose weight is at least τ, for the largest τ in 1, 1/4, 1/16, … whose
     * tokens already hold {@code mass}. (The nucleus is the top of the ranking down to where the mass is reached,
     * and every token at or above τ is in that top.) Each try is one vector pass; returns the shortlist's size,
     * its ids in ids[0, n).
     */
    private int shortlist(double mass) {
        int upper = S.loopBound(vocab);
        float tau = 1; // the largest weight is exactly 1: exp(0)
        while (tau > 0) {
            FloatVector vsum = FloatVector.zero(S);
            int i = 0;
            for (; i < upper; i += S.length()) {
                FloatVector w = FloatVector.fromArray(S, weight, i);
                vsum = vsum.add(w, w.compare(VectorOperators.GE, tau));
            }
            double sum = Lanes.sum(vsum);
            for (; i < vocab; i++) if (weight[i] >= tau) sum += weight[i];
            if (sum >= mass) break;
            tau *= 0.25f;
        }
        int n = 0;
        for (int id = 0; id < vocab; id++) if (weight[id] >= tau) ids[n++] = id;
        return n;
    }

    private void swap(int i, int j) {
        int t = ids[i];
        ids[i] = ids[j];
        ids[j] = t;
    }
}
