package dev.cramjet.engine.cpu;

import dev.cramjet.Lanes;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector loops over spans of arrays, and the ways the CPU ops split work over {@link Parallel}'s threads. Horizontal
 * sums go through {@link Lanes#sum} so results never depend on how the JIT compiled them.
 */
final class Loops {
    private Loops() {}

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();
    /** Elements per chunk of a parallel elementwise loop: big enough to amortise the hand-off. */
    static final int GRAIN = 4096;

    /** dst[d..] = a[ai..] + b[bi..] over n elements. */
    static void addInto(float[] dst, int d, float[] a, int ai, float[] b, int bi, int n) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector.fromArray(S, a, ai + i).add(FloatVector.fromArray(S, b, bi + i)).intoArray(dst, d + i);
        }
        for (; i < n; i++) dst[d + i] = a[ai + i] + b[bi + i];
    }

    /** dst[d..] += src[s..] over n elements. */
    static void accumulate(float[] dst, int d, float[] src, int s, int n) {
        addInto(dst, d, dst, d, src, s, n);
    }

    /**
     * dst[d + j] += Σ_k src[s + row_k·stride + j] for j &lt; n over the rows row_k = rows[k] for k in [from, to) —
     * or row_k = k when rows is null. The rows are summed in order first (in registers, four vectors of columns at a
     * time) and the sum is added to dst once. A parameter gradient accumulated this way gets one addition per
     * element per call, so accumulating two micro-batches on one process gives the bits of adding their gradients
     * computed apart — which is what two data-parallel ranks do.
     */
    static void addRowSum(float[] dst, int d, float[] src, int s, int stride, int[] rows, int from, int to, int n) {
        int j = 0;
        for (; j + 4 * L <= n; j += 4 * L) {
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            for (int k = from; k < to; k++) {
                int at = s + (rows == null ? k : rows[k]) * stride + j;
                a0 = a0.add(FloatVector.fromArray(S, src, at));
                a1 = a1.add(FloatVector.fromArray(S, src, at + L));
                a2 = a2.add(FloatVector.fromArray(S, src, at + 2 * L));
                a3 = a3.add(FloatVector.fromArray(S, src, at + 3 * L));
            }
            a0.add(FloatVector.fromArray(S, dst, d + j)).intoArray(dst, d + j);
            a1.add(FloatVector.fromArray(S, dst, d + j + L)).intoArray(dst, d + j + L);
            a2.add(FloatVector.fromArray(S, dst, d + j + 2 * L)).intoArray(dst, d + j + 2 * L);
            a3.add(FloatVector.fromArray(S, dst, d + j + 3 * L)).intoArray(dst, d + j + 3 * L);
        }
        for (; j + L <= n; j += L) {
            FloatVector a = FloatVector.zero(S);
            for (int k = from; k < to; k++) a = a.add(FloatVector.fromArray(S, src, s + (rows == null ? k : rows[k]) * stride + j));
            a.add(FloatVector.fromArray(S, dst, d + j)).intoArray(dst, d + j);
        }
        for (; j < n; j++) {
            float a = 0;
            for (int k = from; k < to; k++) a += src[s + (rows == null ? k : rows[k]) * stride + j];
            dst[d + j] += a;
        }
    }

    static float sum(float[] x, int off, int n) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) acc = acc.add(FloatVector.fromArray(S, x, off + i));
        float s = Lanes.sum(acc);
        for (; i < n; i++) s += x[off + i];
        return s;
    }

    /** Σ (x − c)² over [off, off+n). */
    static float sumSquaredDiff(float[] x, int off, int n, float c) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector d = FloatVector.fromArray(S, x, off + i).sub(c);
            acc = d.fma(d, acc);
        }
        float s = Lanes.sum(acc);
        for (; i < n; i++) s += (x[off + i] - c) * (x[off + i] - c);
        return s;
    }

    /** dst row r = src row r + bias, for n rows of width w. dst may be src. */
    static void addRows(int n, int w, float[] src, int so, float[] bias, int bo, float[] dst, int dOff) {
        rows(n, w, (from, to) -> {
            for (int r = from; r < to; r++) addInto(dst, dOff + r * w, src, so + r * w, bias, bo, w);
        });
    }

    /**
     * Below this many elements an elementwise loop runs on the caller's thread: it takes a few microseconds, less
     * than waking the team (which, on a loaded machine, waits for a time slice: LoRA's [rows, rank] scales cost
     * milliseconds each that way).
     */
    static final int PARALLEL_MIN = 1 << 16;

    /** Splits an elementwise loop over [0, n) into vector-aligned chunks across threads (small loops: one thread). */
    static void elementwise(int n, Parallel.Range body) {
        if (n < PARALLEL_MIN) {
            if (n > 0) body.run(0, n);
        } else {
            Parallel.range(n, GRAIN, body);
        }
    }

    /**
     * Splits n rows of width w across threads, or runs them on the caller's thread when they hold fewer than
     * PARALLEL_MIN elements, as {@link #elementwise} does: a decode step's norms, biases and activations (16 rows)
     * take microseconds, about what waking the team costs, and a dozen of them run per layer.
     */
    static void rows(int n, int w, Parallel.Range body) {
        if ((long) n * w < PARALLEL_MIN) {
            if (n > 0) body.run(0, n);
        } else {
            Parallel.range(n, body);
        }
    }

    @FunctionalInterface
    interface Chunk {
        void run(int thread, int from, int to);
    }

    /** Like {@link Parallel#range(int, int, Parallel.Range)} but tells the body its thread (for per-thread scratch). */
    static void chunks(int n, int grain, Chunk body) {
        int blocks = (n + grain - 1) / grain;
        int t = Math.max(1, Math.min(Parallel.threads(), blocks));
        if (t == 1) {
            body.run(0, 0, n);
            return;
        }
        Parallel.each(thread -> {
            if (thread >= t) return;
            int from = (int) ((long) blocks * thread / t) * grain;
            int to = Math.min(n, (int) ((long) blocks * (thread + 1) / t) * grain);
            body.run(thread, Math.min(from, n), to);
        });
    }
}
