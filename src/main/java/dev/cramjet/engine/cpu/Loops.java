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
        Parallel.range(n, (from, to) -> {
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
