package dev.cramjet.engine.cpu;

import java.util.Arrays;
import java.util.Objects;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * fp32 matrix multiplication on row-major float arrays, the three shapes a linear layer needs:
 * forward y = x·Wᵀ ({@link #nt}), input gradient dx = dy·W ({@link #nn}), weight gradient dW += dyᵀ·x ({@link #tn}).
 * Offsets are in elements. Parallel over all cores.
 *
 * <p>All three run the same blocked algorithm (GotoBLAS order). Each operand is read through a pair of strides, so a
 * transpose costs nothing but a different packing loop. For a block of K ({@code kc}) and of columns ({@code nc}),
 * B is packed into panels of {@link #NR} columns stored K-major (one panel row = two vectors); then for every
 * {@link #MR}-row sliver of A, packed K-major too, the micro-kernel walks the B panels. The micro-kernel keeps the
 * 6×NR tile of C in twelve vector accumulators and, for each p, does C[r,:] += A[r,p] · B[p,:] with one broadcast of
 * A[r,p] and two FMAs per row: 12 FMAs per 2 vector loads and 6 broadcasts, so it runs at the FMA ports' speed.
 * The sliver of A (6·kc floats) stays in L1 while the B block (kc·nc floats) streams from L2.
 * Tails are handled by zero-padding the packed operands and writing edge tiles through a scratch tile.
 */
public final class Gemm {
    private Gemm() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Rows of C per micro-kernel call. */
    static final int MR = 6;
    /** Columns of C per micro-kernel call: two vectors. */
    static final int NR = 2 * L;
    /**
     * Largest K block. One pass over C per K block, so big; the A sliver (6·KC floats, 18 KiB) still stays in L1
     * while B streams past it.
     */
    private static final int KC = 768;
    /** Columns per packed B block: the block (KC·NC floats, 3 MiB) stays in this core's share of L2 + L3. */
    private static final int NC = 1024;
    /**
     * Rows per packed A block. B is packed again for every A block, so large: the A block only streams, one sliver
     * at a time, and a thread's whole share of a training matmul's rows fits in one.
     */
    private static final int MC = 2400;
    /** Below this many multiply-adds a call runs on the caller's thread: waking the team costs more than it saves. */
    private static final long PARALLEL_MIN = 1L << 17;

    /** Per-thread packing buffers, grown on demand and then reused, so steady-state calls allocate nothing. */
    private static final class Scratch {
        private float[] a = new float[0];
        private float[] b = new float[0];
        final float[] tile = new float[MR * NR];

        float[] a(int size) { return a.length >= size ? a : (a = new float[size]); }

        float[] b(int size) { return b.length >= size ? b : (b = new float[size]); }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** C[M,N] = (accumulate ? C : 0) + A[M,K] · B[N,K]ᵀ. */
    public static void nt(float[] a, int aOff, float[] b, int bOff, float[] c, int cOff, int m, int n, int k,
                          boolean accumulate) {
        check(a, aOff, b, bOff, c, cOff, m, n, k);
        gemm(a, aOff, k, 1, b, bOff, 1, k, c, cOff, m, n, k, accumulate);
    }

    /** C[M,N] = (accumulate ? C : 0) + A[M,K] · B[K,N]. */
    public static void nn(float[] a, int aOff, float[] b, int bOff, float[] c, int cOff, int m, int n, int k,
                          boolean accumulate) {
        check(a, aOff, b, bOff, c, cOff, m, n, k);
        gemm(a, aOff, k, 1, b, bOff, n, 1, c, cOff, m, n, k, accumulate);
    }

    /** C[M,N] = (accumulate ? C : 0) + A[K,M]ᵀ · B[K,N]. */
    public static void tn(float[] a, int aOff, float[] b, int bOff, float[] c, int cOff, int m, int n, int k,
                          boolean accumulate) {
        check(a, aOff, b, bOff, c, cOff, m, n, k);
        gemm(a, aOff, 1, m, b, bOff, n, 1, c, cOff, m, n, k, accumulate);
    }

    private static void check(float[] a, int aOff, float[] b, int bOff, float[] c, int cOff, int m, int n, int k) {
        if (m < 0 || n < 0 || k < 0) throw new IllegalArgumentException("negative gemm size " + m + "x" + n + "x" + k);
        Objects.checkFromIndexSize(aOff, Math.multiplyExact(m, k), a.length);
        Objects.checkFromIndexSize(bOff, Math.multiplyExact(n, k), b.length);
        Objects.checkFromIndexSize(cOff, Math.multiplyExact(m, n), c.length);
    }

    /**
     * C[i,j] (+)= Σ_p A(i,p)·B(p,j) with A(i,p) = a[aOff + i·ars + p·acs] and B(p,j) = b[bOff + p·brs + j·bcs];
     * C is dense row-major. Splits rows (in slivers) or columns (in panels) over the team, whichever leaves the
     * busiest thread the least work.
     */
    private static void gemm(float[] a, int aOff, int ars, int acs, float[] b, int bOff, int brs, int bcs,
                             float[] c, int cOff, int m, int n, int k, boolean accumulate) {
        if (m == 0 || n == 0) return;
        int t = Parallel.threads();
        if (t == 1 || (long) m * n * k < PARALLEL_MIN) {
            blocked(a, aOff, ars, acs, b, bOff, brs, bcs, c, cOff, n, k, accumulate, 0, m, 0, n);
            return;
        }
        long slivers = (m + MR - 1) / MR, panels = (n + NR - 1) / NR;
        long byRows = ceilDiv(slivers, t) * panels, byCols = slivers * ceilDiv(panels, t);
        if (byRows <= byCols) {
            Parallel.range(m, MR, (i0, i1) ->
                    blocked(a, aOff, ars, acs, b, bOff, brs, bcs, c, cOff, n, k, accumulate, i0, i1, 0, n));
        } else {
            Parallel.range(n, NR, (j0, j1) ->
                    blocked(a, aOff, ars, acs, b, bOff, brs, bcs, c, cOff, n, k, accumulate, 0, m, j0, j1));
        }
    }

    private static long ceilDiv(long x, long y) { return (x + y - 1) / y; }

    /** The rectangle rows [i0,i1) × columns [j0,j1) of C, on the calling thread. ldc = n. */
    private static void blocked(float[] a, int aOff, int ars, int acs, float[] b, int bOff, int brs, int bcs,
                                float[] c, int cOff, int n, int k, boolean accumulate,
                                int i0, int i1, int j0, int j1) {
        if (k == 0) {
            if (!accumulate) for (int i = i0; i < i1; i++) Arrays.fill(c, cOff + i * n + j0, cOff + i * n + j1, 0f);
            return;
        }
        int kc0 = evenSplit(k, KC, 1), mc0 = evenSplit(i1 - i0, MC, MR), nc0 = evenSplit(j1 - j0, NC, NR);
        Scratch s = SCRATCH.get();
        float[] ap = s.a(roundUp(mc0, MR) * kc0), bp = s.b(roundUp(nc0, NR) * kc0), tile = s.tile;
        for (int pc = 0; pc < k; pc += kc0) {
            int kc = Math.min(kc0, k - pc);
            boolean add = accumulate || pc > 0;
            for (int ic = i0; ic < i1; ic += mc0) {
                int mc = Math.min(mc0, i1 - ic);
                packA(a, aOff, ars, acs, ic, mc, pc, kc, ap);
                for (int jc = j0; jc < j1; jc += nc0) {
                    int nc = Math.min(nc0, j1 - jc);
                    packB(b, bOff, brs, bcs, pc, kc, jc, nc, bp);
                    for (int ir = 0; ir < mc; ir += MR) {
                        int mr = Math.min(MR, mc - ir);
                        for (int jr = 0; jr < nc; jr += NR) {
                            int nr = Math.min(NR, nc - jr);
                            int cIdx = cOff + (ic + ir) * n + jc + jr;
                            if (mr == MR && nr == NR) {
                                kernel(ap, ir * kc, bp, jr * kc, kc, c, cIdx, n, add);
                            } else {
                                kernel(ap, ir * kc, bp, jr * kc, kc, tile, 0, NR, false);
                                for (int r = 0; r < mr; r++) {
                                    int row = cIdx + r * n;
                                    for (int j = 0; j < nr; j++) {
                                        c[row + j] = add ? c[row + j] + tile[r * NR + j] : tile[r * NR + j];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /** The block size ≤ max (a multiple of unit unless it covers all of size) that splits size into equal steps. */
    private static int evenSplit(int size, int max, int unit) {
        int steps = (size + max - 1) / max;
        return Math.min(size, roundUp((size + steps - 1) / steps, unit));
    }

    private static int roundUp(int x, int unit) { return (x + unit - 1) / unit * unit; }

    /**
     * Packs A(i0 .. i0+rows, p0 .. p0+kc) as slivers of MR rows: sliver s holds A(i0 + s·MR + r, p0 + p) at
     * ap[s·MR·kc + p·MR + r], rows past the end zero.
     */
    private static void packA(float[] a, int aOff, int ars, int acs, int i0, int rows, int p0, int kc, float[] ap) {
        int tail = rows % MR;
        if (tail != 0) Arrays.fill(ap, (rows - tail) * kc, (rows - tail + MR) * kc, 0f);
        if (acs == 1) {
            for (int i = 0; i < rows; i++) {
                int src = aOff + (i0 + i) * ars + p0, dst = (i / MR) * MR * kc + i % MR;
                for (int p = 0; p < kc; p++) ap[dst + p * MR] = a[src + p];
            }
        } else {
            for (int i = 0; i < rows; i += MR) {
                int mr = Math.min(MR, rows - i), dst = i * kc;
                for (int p = 0; p < kc; p++) {
                    int src = aOff + (i0 + i) * ars + (p0 + p) * acs;
                    for (int r = 0; r < mr; r++) ap[dst + p * MR + r] = a[src + r * ars];
                }
            }
        }
    }

    /**
     * Packs B(p0 .. p0+kc, j0 .. j0+nc) as panels of NR columns: panel q holds B(p0 + p, j0 + q·NR + j) at
     * bp[q·NR·kc + p·NR + j], columns past nc zero.
     */
    private static void packB(float[] b, int bOff, int brs, int bcs, int p0, int kc, int j0, int nc, float[] bp) {
        for (int q = 0; q * NR < nc; q++) {
            int cols = Math.min(NR, nc - q * NR);
            int base = q * NR * kc;
            int src = bOff + p0 * brs + (j0 + q * NR) * bcs;
            if (bcs == 1 && cols == NR) {
                for (int p = 0; p < kc; p++) {
                    int from = src + p * brs, to = base + p * NR;
                    FloatVector.fromArray(S, b, from).intoArray(bp, to);
                    FloatVector.fromArray(S, b, from + L).intoArray(bp, to + L);
                }
            } else if (bcs == 1) {
                for (int p = 0; p < kc; p++) {
                    int from = src + p * brs, to = base + p * NR;
                    for (int j = 0; j < cols; j++) bp[to + j] = b[from + j];
                    Arrays.fill(bp, to + cols, to + NR, 0f);
                }
            } else {
                if (cols < NR) Arrays.fill(bp, base, base + NR * kc, 0f);
                for (int j = 0; j < cols; j++) {
                    int from = src + j * bcs;
                    for (int p = 0; p < kc; p++) bp[base + p * NR + j] = b[from + p * brs];
                }
            }
        }
    }

    /**
     * The 6×NR tile: C[r, 0..NR) (+)= Σ_p ap[p·MR + r] · bp[b0 + p·NR .. +NR) for r < 6, C at c[ci + r·ldc].
     * Twelve accumulators, one broadcast of A per row per p.
     */
    private static void kernel(float[] ap, int a0, float[] bp, int b0, int kc, float[] c, int ci, int ldc,
                               boolean add) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
        FloatVector c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        for (int p = 0; p < kc; p++) {
            int bi = b0 + p * NR, ai = a0 + p * MR;
            FloatVector b0v = FloatVector.fromArray(S, bp, bi);
            FloatVector b1v = FloatVector.fromArray(S, bp, bi + L);
            FloatVector av = FloatVector.broadcast(S, ap[ai]);
            c00 = av.fma(b0v, c00);
            c01 = av.fma(b1v, c01);
            av = FloatVector.broadcast(S, ap[ai + 1]);
            c10 = av.fma(b0v, c10);
            c11 = av.fma(b1v, c11);
            av = FloatVector.broadcast(S, ap[ai + 2]);
            c20 = av.fma(b0v, c20);
            c21 = av.fma(b1v, c21);
            av = FloatVector.broadcast(S, ap[ai + 3]);
            c30 = av.fma(b0v, c30);
            c31 = av.fma(b1v, c31);
            av = FloatVector.broadcast(S, ap[ai + 4]);
            c40 = av.fma(b0v, c40);
            c41 = av.fma(b1v, c41);
            av = FloatVector.broadcast(S, ap[ai + 5]);
            c50 = av.fma(b0v, c50);
            c51 = av.fma(b1v, c51);
        }
        store(c00, c01, c, ci, add);
        store(c10, c11, c, ci + ldc, add);
        store(c20, c21, c, ci + 2 * ldc, add);
        store(c30, c31, c, ci + 3 * ldc, add);
        store(c40, c41, c, ci + 4 * ldc, add);
        store(c50, c51, c, ci + 5 * ldc, add);
    }

    private static void store(FloatVector v0, FloatVector v1, float[] c, int ci, boolean add) {
        if (add) {
            v0 = v0.add(FloatVector.fromArray(S, c, ci));
            v1 = v1.add(FloatVector.fromArray(S, c, ci + L));
        }
        v0.intoArray(c, ci);
        v1.intoArray(c, ci + L);
    }
}
