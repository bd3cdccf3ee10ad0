package dev.cramjet.engine.cpu;

import dev.cramjet.engine.DecodeStep;

import java.util.List;
import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * What this CPU can do in fp32, measured rather than looked up: the FMA ceiling (the denominator of every
 * "fraction of peak" we report) and the speed of our own matmul on a given shape.
 */
public final class CpuPeak {
    private CpuPeak() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** Independent FMA chains per thread: more than latency × ports, so the FMA units never wait on a result. */
    private static final int CHAINS = 12;
    private static final int FMA_ITERS = 1 << 16;

    /** Keeps the JIT from discarding the loops' results. */
    private static volatile float sink;

    /**
     * The fp32 FMA ceiling in GFLOP/s on all cores: every thread runs {@value #CHAINS} register-resident vector FMA
     * chains (acc = acc·x + y, which converges and so never overflows or goes subnormal). Warms up, then takes the
     * best of runs of about 0.1 s each, until five in a row do not beat it by 2% (at most 60).
     */
    public static double fmaPeakGflops() {
        int threads = Parallel.threads();
        // Warm up for a fixed time first: sizing runs on a loop the JIT has not compiled yet (interpreted Vector API
        // code is ~100× slower) would time the interpreter and report a ceiling below our own matmul.
        long warm = System.nanoTime();
        do fmaRun(1); while (System.nanoTime() - warm < 500_000_000L);
        // Then size a run to about 0.1 s.
        long reps = 1;
        while (true) {
            long t0 = System.nanoTime();
            fmaRun(reps);
            long dt = System.nanoTime() - t0;
            if (dt > 20_000_000L) {
                reps = Math.max(1, reps * 100_000_000L / dt);
                break;
            }
            reps *= 2;
        }
        // Then keep the best run, until five in a row fail to beat it by 2%. A fixed count was not enough: at the
        // start of a training run the JIT's compiler threads (or another process) can hold a core for a second,
        // and five runs under that once measured 96 GFLOP/s on a 229 GFLOP/s machine, so MFU read 140–166%.
        double best = 0;
        for (int run = 0, calm = 0; calm < 5 && run < 60; run++) {
            long t0 = System.nanoTime();
            fmaRun(reps);
            long dt = System.nanoTime() - t0;
            double rate = 2.0 * CHAINS * S.length() * FMA_ITERS * reps * threads / dt;
            calm = rate > best * 1.02 ? 0 : calm + 1;
            best = Math.max(best, rate);
        }
        return best;
    }

    private static void fmaRun(long reps) {
        Parallel.each(thread -> {
            float total = 0;
            for (long r = 0; r < reps; r++) total += fmaChains(1 + thread * 1e-3f);
            sink = total;
        });
    }

    private static float fmaChains(float seed) {
        FloatVector x = FloatVector.broadcast(S, 0.999_999f), y = FloatVector.broadcast(S, 1e-3f);
        FloatVector a0 = FloatVector.broadcast(S, seed), a1 = a0.add(1), a2 = a0.add(2), a3 = a0.add(3);
        FloatVector a4 = a0.add(4), a5 = a0.add(5), a6 = a0.add(6), a7 = a0.add(7);
        FloatVector a8 = a0.add(8), a9 = a0.add(9), a10 = a0.add(10), a11 = a0.add(11);
        for (int i = 0; i < FMA_ITERS; i++) {
            a0 = a0.fma(x, y); a1 = a1.fma(x, y); a2 = a2.fma(x, y); a3 = a3.fma(x, y);
            a4 = a4.fma(x, y); a5 = a5.fma(x, y); a6 = a6.fma(x, y); a7 = a7.fma(x, y);
            a8 = a8.fma(x, y); a9 = a9.fma(x, y); a10 = a10.fma(x, y); a11 = a11.fma(x, y);
        }
        return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11)
                .reduceLanes(VectorOperators.ADD);
    }

    /**
     * A decoding step's attention ({@code attentionCached} with one query per sequence, through its transposed keys)
     * for {@code b} sequences of {@code keys} cached positions, {@code heads} heads of {@code hs}: µs per (sequence,
     * head) of one call, warm-up, then the best of several runs.
     */
    public static double decodeAttentionMicros(int b, int keys, int heads, int hs) {
        SplittableRandom rnd = new SplittableRandom(1);
        int c = heads * hs;
        float[] kc = new float[b * keys * c], vc = new float[b * keys * c], qkv = new float[b * 3 * c], out = new float[b * c];
        for (float[] x : List.of(kc, vc, qkv)) for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextDouble(-1, 1);
        FlashAttention flash = new FlashAttention();
        FlashAttention.Panels kt = new FlashAttention.Panels(true, 0, b, keys, c, heads);
        FlashAttention.Panels vt = new FlashAttention.Panels(false, 0, b, keys, c, heads);
        DecodeStep step = new DecodeStep(b);
        for (int s = 0; s < b; s++) {
            kt.write(kc, 0, s, 0, keys);
            vt.write(vc, 0, s, 0, keys);
            step.add(s, keys - 1, 1);
        }
        Runnable call = () -> flash.cached(qkv, 0, kc, 0, vc, 0, out, 0, keys, c, heads, step, kt, vt);
        long warm = System.nanoTime();
        do call.run(); while (System.nanoTime() - warm < 300_000_000L);
        long best = Long.MAX_VALUE;
        long start = System.nanoTime();
        for (int run = 0; run < 5 || (run < 200 && System.nanoTime() - start < 500_000_000L); run++) {
            long t0 = System.nanoTime();
            call.run();
            best = Math.min(best, System.nanoTime() - t0);
        }
        return best / 1e3 / ((double) b * heads);
    }

    /** {@link #gemmGflops(int, int, int, boolean)} without a packed copy of B. */
    public static double gemmGflops(int m, int n, int k) { return gemmGflops(m, n, k, false); }

    /**
     * {@link Gemm#nt} on an m×n×k product in GFLOP/s (2·m·n·k flops): warm-up, then the best of several runs; with
     * {@code packed}, B read from a copy packed once, as a server's decode steps read their weights.
     */
    public static double gemmGflops(int m, int n, int k, boolean packed) {
        SplittableRandom rnd = new SplittableRandom(1);
        float[] a = new float[m * k], b = new float[n * k], c = new float[m * n];
        for (int i = 0; i < a.length; i++) a[i] = (float) rnd.nextDouble(-1, 1);
        for (int i = 0; i < b.length; i++) b[i] = (float) rnd.nextDouble(-1, 1);
        Gemm.Packed p = packed ? Gemm.pack(b, 0, n, k) : null;
        double flops = 2.0 * m * n * k;
        long warm = System.nanoTime();
        do Gemm.nt(a, 0, b, 0, p, c, 0, m, n, k, false); while (System.nanoTime() - warm < 300_000_000L);
        long best = Long.MAX_VALUE;
        long start = System.nanoTime();
        for (int run = 0; run < 5 || (run < 50 && System.nanoTime() - start < 500_000_000L); run++) {
            long t0 = System.nanoTime();
            Gemm.nt(a, 0, b, 0, p, c, 0, m, n, k, false);
            best = Math.min(best, System.nanoTime() - t0);
        }
        return flops / best;
    }
}
