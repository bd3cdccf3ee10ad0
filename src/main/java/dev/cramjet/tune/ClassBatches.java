package dev.cramjet.tune;

import dev.cramjet.CramjetException;
import dev.cramjet.Hash;
import dev.cramjet.data.Batch;
import dev.cramjet.io.Json;
import dev.cramjet.train.Batches;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Labelled sequences as the training loop's micro-batches: padded to the context, one target per sequence.
 * Without class weights every epoch visits each example once, in a permutation keyed by (seed, epoch). With
 * weights, each draw picks a class with probability ∝ weight × count, then an example of it — which in
 * expectation weights the loss by class (weights {@code balanced}, n / (k·n_c), make every class equally likely)
 * without a change to the loss. Either way the stream's whole state is the number of examples drawn.
 */
final class ClassBatches implements Batches {
    private final int[][] seqs;
    private final int[] labels;
    private final long seed;
    private final int[][] byClass;
    private final double[] cumulative;
    private long drawn;
    private long permEpoch = -1;
    private int[] perm;

    /** @param weights per-class weights, or null for plain epochs */
    ClassBatches(int[][] seqs, int[] labels, int classes, double[] weights, long seed) {
        if (seqs.length == 0) throw new CramjetException("the training split has no examples");
        this.seqs = seqs;
        this.labels = labels;
        this.seed = seed;
        if (weights == null) {
            byClass = null;
            cumulative = null;
            return;
        }
        List<List<Integer>> lists = new ArrayList<>();
        for (int c = 0; c < classes; c++) lists.add(new ArrayList<>());
        for (int i = 0; i < labels.length; i++) lists.get(labels[i]).add(i);
        byClass = new int[classes][];
        cumulative = new double[classes];
        double total = 0;
        for (int c = 0; c < classes; c++) {
            byClass[c] = lists.get(c).stream().mapToInt(Integer::intValue).toArray();
            total += weights[c] * byClass[c].length;
            cumulative[c] = total;
        }
    }

    /** Balanced class weights n / (k·n_c) (0 for an absent class). */
    static double[] balanced(int[] labels, int classes) {
        double[] count = new double[classes], w = new double[classes];
        for (int l : labels) count[l]++;
        for (int c = 0; c < classes; c++) w[c] = count[c] == 0 ? 0 : labels.length / (classes * count[c]);
        return w;
    }

    @Override public Batch allocate(int batch, int seq) { return new Batch(batch, seq, batch, true); }

    @Override
    public void next(Batch b) {
        java.util.Arrays.fill(b.tokens, 0);
        for (int r = 0; r < b.batch; r++) {
            int i = draw(drawn++);
            System.arraycopy(seqs[i], 0, b.tokens, r * b.seq, seqs[i].length);
            b.lengths[r] = seqs[i].length;
            b.targets[r] = labels[i];
        }
    }

    private int draw(long k) {
        if (byClass == null) {
            long epoch = k / seqs.length;
            if (epoch != permEpoch) {
                perm = permutation(seqs.length, Hash.mix(seed + epoch * Hash.GOLDEN));
                permEpoch = epoch;
            }
            return perm[(int) (k % seqs.length)];
        }
        double u = (Hash.mix(seed ^ (0x5A17L + k * Hash.GOLDEN)) >>> 11) * 0x1p-53 * cumulative[cumulative.length - 1];
        int c = 0;
        while (cumulative[c] <= u || byClass[c].length == 0) c++;
        return byClass[c][(int) Long.remainderUnsigned(Hash.mix(seed + k * Hash.GOLDEN + 1), byClass[c].length)];
    }

    private static int[] permutation(int n, long key) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        SplittableRandom r = new SplittableRandom(key);
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1), t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    @Override public Map<String, Object> state() { return Map.of("drawn", drawn); }

    @Override public void restore(Map<String, Object> state, String where) { drawn = Json.integer(state.get("drawn"), where + ".drawn"); }
}
