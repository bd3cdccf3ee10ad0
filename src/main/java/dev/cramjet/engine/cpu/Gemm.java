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
 * transpose costs nothing but a different packing loop. For a block of K ({@code kc}) and of rows ({@code mc}), A is
 * packed into slivers of {@link #MR} rows, each row K-contiguous at a constant stride (a plain copy for a row-major
 * A); for each block of columns ({@code nc}), B is packed into panels of {@link #NR} columns stored K-major (one
 * panel row = two vectors). The transposed operands (A of tn, B of nt) are packed through L×L register transposes.
 * Then for every sliver the micro-kernel walks the B panels. It keeps the 6×NR tile of C in twelve vector
 * accumulators and, for each p, does C[r,:] += A[r,p] · B[p,:] with one broadcast of A[r,p] and two FMAs per row:
 * 12 FMAs per 2 vector loads and 6 broadcasts, so it runs at the FMA ports' speed. The sliver (6·kc floats) stays
 * in L1 while the B block streams from L2/L3. Tails are handled by zero-padding the packed operands and writing
 * edge tiles through a scratch tile. The team splits C by rows or by columns, whichever costs its busiest thread
 * least.
 *
 * <p>One order of sums for every path: each element of C is, per K block (the blocks depend on K alone), a chain of
 * fused multiply-adds over p from zero, added to C. So a row's bits never depend on how many rows share its product
 * or which path ran — a decode step gives each sequence what it would get alone, and a prompt read in chunks what
 * it gets in one go. A weight that many products read unchanged can be packed once ({@link #pack}, kept by the CPU
 * backend): the kernel then reads its panels directly at every row count, one sequential stream of the weight per
 * call, so a few-row decode step costs about what a one-row step costs while memory is the limit (on AVX-512 such a
 * product of up to {@link F32Native#ROWS} rows runs f32.c, which overlaps those reads with the arithmetic by
 * prefetching; the same chains, so the same bits). Without a packed copy, an nt product of fewer than
 * {@link #IN_PLACE_ROWS} rows (a step's first read of a weight) reads B in place against a transposed copy of A, in
 * the same order, rather than pack a weight it reads once.
 */
public final class Gemm {
    private Gemm() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Rows of C per micro-kernel call. */
    private static final int MR = 6;
    /** Columns of C per micro-kernel call: two vectors (32 floats with AVX-512, 16 with AVX2), and a packed panel's width. */
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
    /**
     * Packing one element costs about as much as this many multiply-adds in the kernel: about a cycle (× 16 lanes),
     * copy or transpose alike, as the operand mostly comes from memory.
     */
    private static final long PACK_COST = 16;
    /**
     * Below this many multiply-adds (about 20 µs of one core) a call runs on the caller's thread: waking the team
     * costs more than it saves.
     */
    private static final long PARALLEL_MIN = 1L << 20;
    /**
     * An unpacked nt product with fewer rows than this skips packing B, which would copy the weight for one read,
     * and multiplies B in place by a transposed copy of A ({@link #ntInPlace}).
     */
    private static final int IN_PLACE_ROWS = 64;
    /** The native few-row kernel over packed panels, where it runs and its panels are these. */
    private static final F32Native NATIVE = NR == F32Native.PANEL ? F32Native.KERNEL : null;

    /** Per-thread packing buffers, grown on demand and then reused, so steady-state calls allocate nothing. */
    private static final class Scratch {
        private float[] a = new float[0];
        private float[] b = new float[0];
        private float[] at = new float[0];
        final float[] tile = new float[MR * NR];
        final float[] tmp = new float[L * L];
        /** The in-place kernel's four vectors of sums. */
        final float[] sums = new float[4 * L];

        float[] a(int size) { return a.length >= size ? a : (a = new float[size]); }

        float[] b(int size) { return b.length >= size ? b : (b = new float[size]); }

        float[] at(int size) { return at.length >= size ? at : (at = new float[size]); }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** C[M,N] = (accumulate ? C : 0) + A[M,K] · B[N,K]ᵀ. */
    public static void nt(float[] a, int aOff, float[] b, int bOff, float[] c, int cOff, int m, int n, int k,
                          boolean accumulate) {
        nt(a, aOff, b, bOff, null, c, cOff, m, n, k, accumulate);
    }

    /**
     * {@link #nt} with B also given packed ({@link #pack} of the same b, bOff, n, k), or null. The kernel then reads
     * those panels instead of packing or reading B, with the bits it has either way.
     */
    static void nt(float[] a, int aOff, float[] b, int bOff, Packed packed, float[] c, int cOff, int m, int n, int k,
                   boolean accumulate) {
        check(a, aOff, b, bOff, c, cOff, m, n, k);
        if (packed != null) {
            if (packed.n != n || packed.k != k) {
                throw new IllegalArgumentException("packed B is " + packed.n + "x" + packed.k + ", product needs " + n + "x" + k);
            }
            if (m <= F32Native.ROWS && k > 0 && NATIVE != null) ntNative(a, aOff, packed, c, cOff, m, n, k, accumulate);
            else gemm(a, aOff, k, 1, b, bOff, 1, k, packed, c, cOff, n, 1, m, n, k, accumulate);
            return;
        }
        if (m < IN_PLACE_ROWS && k > 0 && n > 0) {
            ntInPlace(a, aOff, b, bOff, c, cOff, m, n, k, accumulate);
            return;
        }
        gemm(a, aOff, k, 1, b, bOff, 1, k, null, c, cOff, n, 1, m, n, k, accumulate);
    }

    /**
     * B[N,K] of an nt product (a weight) packed once, as {@link #blocked} packs it for every call: K cut into the
     * same blocks, block pc holding the panels of NR columns of all N, panel q at panels[pc·np + q·NR·kc] (np = N
     * rounded up to NR, kc the block's size), columns past N zero. A product reading it skips the pack, which costs
     * about PACK_COST multiply-adds per element of B: a quarter of a 64-row product.
     */
    static final class Packed {
        final int n, k;
        final float[] panels;

        private Packed(int n, int k) {
            this.n = n;
            this.k = k;
            panels = new float[Math.multiplyExact(roundUp(n, NR), k)];
        }

        long bytes() { return 4L * panels.length; }
    }

    /** Packs B[N,K] (row-major at bOff) for {@link #nt}, on the team. */
    static Packed pack(float[] b, int bOff, int n, int k) {
        Objects.checkFromIndexSize(bOff, Math.multiplyExact(n, k), b.length);
        Packed p = new Packed(n, k);
        if (n == 0 || k == 0) return p;
        int kc0 = evenSplit(k, KC, 1), np = roundUp(n, NR);
        Parallel.range(n, NR, (j0, j1) -> {
            float[] tmp = SCRATCH.get().tmp;
            for (int pc = 0; pc < k; pc += kc0) {
                int kc = Math.min(kc0, k - pc);
                packB(b, bOff, 1, k, pc, kc, j0, j1 - j0, p.panels, pc * np + j0 * kc, tmp);
            }
        });
        return p;
    }

    /**
     * A few-row nt product on f32.c, which prefetches the next panel while it computes one (Java has no prefetch,
     * and the panels of a decoding step come from DRAM): the team splits the panels, and each element gets the
     * chain {@link #blocked} gives it, in the same K blocks.
     */
    private static void ntNative(float[] a, int aOff, Packed packed, float[] c, int cOff, int m, int n, int k,
                                 boolean accumulate) {
        int kc0 = evenSplit(k, KC, 1), panels = roundUp(n, NR) / NR;
        Parallel.Range part = (q0, q1) -> NATIVE.matmul(a, aOff, packed, kc0, c, cOff, m, q0, q1, accumulate);
        if ((long) m * n * k < PARALLEL_MIN) part.run(0, panels);
        else Parallel.range(panels, 1, part);
    }

    /**
     * An nt product of fewer than IN_PLACE_ROWS rows without packing B: A is transposed once (on the caller's
     * thread) to K-major rows of L-padded columns, and the team splits B's rows. Each element is the packed kernel's
     * chain over p within the same K blocks, c (+)= Σ_p A(i,p)·B(j,p) one fused multiply-add at a time, so it has
     * the bits {@link #blocked} would give.
     */
    private static void ntInPlace(float[] a, int aOff, float[] b, int bOff, float[] c, int cOff, int m, int n, int k,
                                  boolean accumulate) {
        int mp = roundUp(m, L), kc0 = evenSplit(k, KC, 1);
        Scratch s = SCRATCH.get();
        float[] at = s.at(k * mp);
        transpose(a, aOff, k, m, k, at, 0, mp, s.tmp);
        for (int p = 0; p < k; p++) Arrays.fill(at, p * mp + m, p * mp + mp, 0f);
        Parallel.Range rows = (j0, j1) -> {
            float[] lanes = SCRATCH.get().sums;
            for (int j = j0; j < j1; j += 4) {
                int cols = Math.min(4, j1 - j);
                for (int v = 0; v < m; v += L) {
                    for (int pc = 0; pc < k; pc += kc0) {
                        inPlace4(at, mp, v, b, bOff, j, cols, k, pc, Math.min(kc0, k - pc), c, cOff, m, n,
                                accumulate || pc > 0, lanes);
                    }
                }
            }
        };
        if ((long) m * n * k < PARALLEL_MIN) rows.run(0, n);
        else Parallel.range(n, 4, rows);
    }

    /**
     * C(v+t, j+r) (+)= Σ_{p in [pc, pc+kc)} A(v+t, p)·B(j+r, p) for the rows v+t &lt; m of one vector and the first
     * {@code cols} of four rows of B (a tail repeats the last row and drops it), A read transposed from at.
     */
    private static void inPlace4(float[] at, int mp, int v, float[] b, int bOff, int j, int cols, int k, int pc,
                                 int kc, float[] c, int cOff, int m, int n, boolean add, float[] lanes) {
        int b0 = bOff + j * k, b1 = bOff + (j + Math.min(1, cols - 1)) * k;
        int b2 = bOff + (j + Math.min(2, cols - 1)) * k, b3 = bOff + (j + Math.min(3, cols - 1)) * k;
        FloatVector s0 = FloatVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
        for (int p = pc, end = pc + kc; p < end; p++) {
            FloatVector x = FloatVector.fromArray(S, at, p * mp + v);
            s0 = FloatVector.broadcast(S, b[b0 + p]).fma(x, s0);
            s1 = FloatVector.broadcast(S, b[b1 + p]).fma(x, s1);
            s2 = FloatVector.broadcast(S, b[b2 + p]).fma(x, s2);
            s3 = FloatVector.broadcast(S, b[b3 + p]).fma(x, s3);
        }
        s0.intoArray(lanes, 0);
        s1.intoArray(lanes, L);
        s2.intoArray(lanes, 2 * L);
        s3.intoArray(lanes, 3 * L);
        for (int t = 0, rows = Math.min(L, m - v); t < rows; t++) {
            for (int r = 0; r < cols; r++) {
                int ci = cOff + (v + t) * n + j + r;
                c[ci] = add ? c[ci] + lanes[r * L + t] : lanes[r * L + t];
            }
        }
    }

    /** C[M,N] = (accumulate ? C : 0) + A[M,K] · B[K,N]. */
    public static void nn(float[] a, int aOff, float[] b, int bOff, float[] c, int cOff, int m, int n, int k,
                          boolean accumulate) {
        check(a, aOff, b, bOff, c, cOff, m, n, k);
        gemm(a, aOff, k, 1, b, bOff, n, 1, null, c, cOff, n, 1, m, n, k, accumulate);
    }

    /** C[M,N] = (accumulate ? C : 0) + A[K,M]ᵀ · B[K,N]. */
    public static void tn(float[] a, int aOff, float[] b, int bOff, float[] c, int cOff, int m, int n, int k,
                          boolean accumulate) {
        check(a, aOff, b, bOff, c, cOff, m, n, k);
        // A is K-major here, so packing it is a transpose of M·K elements. When B is much narrower, compute
        // Cᵀ = Bᵀ·A instead: only B's N·K elements are transposed, and C is written through its transpose.
        if (2 * n <= m) gemm(b, bOff, 1, n, a, aOff, m, 1, null, c, cOff, 1, n, n, m, k, accumulate);
        else gemm(a, aOff, 1, m, b, bOff, n, 1, null, c, cOff, n, 1, m, n, k, accumulate);
    }

    private static void check(float[] a, int aOff, float[] b, int bOff, float[] c, int cOff, int m, int n, int k) {
        if (m < 0 || n < 0 || k < 0) throw new IllegalArgumentException("negative gemm size " + m + "x" + n + "x" + k);
        Objects.checkFromIndexSize(aOff, Math.multiplyExact(m, k), a.length);
        Objects.checkFromIndexSize(bOff, Math.multiplyExact(n, k), b.length);
        Objects.checkFromIndexSize(cOff, Math.multiplyExact(m, n), c.length);
    }

    /**
     * C(i,j) (+)= Σ_p A(i,p)·B(p,j) with A(i,p) = a[aOff + i·ars + p·acs], B(p,j) = b[bOff + p·brs + j·bcs] and
     * C(i,j) = c[cOff + i·crs + j·ccs]. Splits rows (in slivers) or columns (in panels) over the team, whichever leaves the
     * busiest thread the least work, packing included.
     */
    private static void gemm(float[] a, int aOff, int ars, int acs, float[] b, int bOff, int brs, int bcs,
                             Packed packed, float[] c, int cOff, int crs, int ccs, int m, int n, int k,
                             boolean accumulate) {
        if (m == 0 || n == 0) return;
        int t = Parallel.threads();
        if (t == 1 || (long) m * n * k < PARALLEL_MIN) {
            blocked(a, aOff, ars, acs, b, bOff, brs, bcs, packed, c, cOff, crs, ccs, k, accumulate, 0, m, 0, n);
            return;
        }
        // Cost of the busiest thread in multiply-adds (per unit of K): its tiles, plus packing its share of one
        // operand and all of the other, which every thread packs for itself (B not at all when it comes packed).
        long mt = ceilDiv(m, MR * t) * MR, nt = ceilDiv(n, NR * t) * NR, bPack = packed == null ? PACK_COST : 0;
        long byRows = mt * n + PACK_COST * mt + bPack * n, byCols = m * nt + PACK_COST * m + bPack * nt;
        if (byRows <= byCols) {
            Parallel.range(m, MR, (i0, i1) ->
                    blocked(a, aOff, ars, acs, b, bOff, brs, bcs, packed, c, cOff, crs, ccs, k, accumulate, i0, i1, 0, n));
        } else {
            Parallel.range(n, NR, (j0, j1) ->
                    blocked(a, aOff, ars, acs, b, bOff, brs, bcs, packed, c, cOff, crs, ccs, k, accumulate, 0, m, j0, j1));
        }
    }

    private static long ceilDiv(long x, long y) { return (x + y - 1) / y; }

    /**
     * The rectangle rows [i0,i1) × columns [j0,j1) of C, on the calling thread. Whole tiles of a row-major C
     * (ccs = 1) are stored by the kernel; edge tiles and a transposed C go through the scratch tile.
     */
    private static void blocked(float[] a, int aOff, int ars, int acs, float[] b, int bOff, int brs, int bcs,
                                Packed packed, float[] c, int cOff, int crs, int ccs, int k, boolean accumulate,
                                int i0, int i1, int j0, int j1) {
        if (k == 0) {
            if (accumulate) return;
            for (int i = i0; i < i1; i++) for (int j = j0; j < j1; j++) c[cOff + i * crs + j * ccs] = 0f;
            return;
        }
        int kc0 = evenSplit(k, KC, 1), mc0 = evenSplit(i1 - i0, MC, MR), nc0 = evenSplit(j1 - j0, NC, NR);
        Scratch s = SCRATCH.get();
        float[] ap = s.a(roundUp(mc0, MR) * KC), bp = packed != null ? packed.panels : s.b(roundUp(nc0, NR) * kc0);
        float[] tile = s.tile;
        for (int pc = 0; pc < k; pc += kc0) {
            int kc = Math.min(kc0, k - pc);
            boolean add = accumulate || pc > 0;
            for (int ic = i0; ic < i1; ic += mc0) {
                int mc = Math.min(mc0, i1 - ic);
                packA(a, aOff, ars, acs, ic, mc, pc, kc, ap, s.tmp);
                for (int jc = j0; jc < j1; jc += nc0) {
                    int nc = Math.min(nc0, j1 - jc);
                    // The block's panels: packed once (jc is a multiple of NR there), or now into scratch.
                    int b0 = packed != null ? pc * roundUp(packed.n, NR) + jc * kc : 0;
                    if (packed == null) packB(b, bOff, brs, bcs, pc, kc, jc, nc, bp, 0, s.tmp);
                    for (int ir = 0; ir < mc; ir += MR) {
                        int mr = Math.min(MR, mc - ir);
                        for (int jr = 0; jr < nc; jr += NR) {
                            int nr = Math.min(NR, nc - jr);
                            int cIdx = cOff + (ic + ir) * crs + (jc + jr) * ccs;
                            if (mr == MR && nr == NR && ccs == 1) {
                                kernel(ap, ir * KC, bp, b0 + jr * kc, kc, c, cIdx, crs, add);
                            } else if (mr == 4 && nr == NR && ccs == 1) {
                                kernel4(ap, ir * KC, bp, b0 + jr * kc, kc, c, cIdx, crs, add);
                            } else {
                                // An edge tile, through scratch: four rows' work where that covers it (decode steps
                                // of one to three sequences), rather than six.
                                if (mr <= 4) kernel4(ap, ir * KC, bp, b0 + jr * kc, kc, tile, 0, NR, false);
                                else kernel(ap, ir * KC, bp, b0 + jr * kc, kc, tile, 0, NR, false);
                                for (int r = 0; r < mr; r++) {
                                    for (int j = 0; j < nr; j++) {
                                        int at = cIdx + r * crs + j * ccs;
                                        c[at] = add ? c[at] + tile[r * NR + j] : tile[r * NR + j];
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
     * ap[(s·MR + r)·KC + p], i.e. row i of the block at ap[i·KC], rows past the end zero. The row stride is the
     * constant KC whatever kc is, so the kernel's six row offsets are compile-time constants. A is row-major
     * (acs = 1: a plain copy) or column-major (ars = 1, tn: a transpose).
     */
    private static void packA(float[] a, int aOff, int ars, int acs, int i0, int rows, int p0, int kc, float[] ap,
                              float[] tmp) {
        if (acs == 1) {
            for (int i = 0; i < rows; i++) System.arraycopy(a, aOff + (i0 + i) * ars + p0, ap, i * KC, kc);
        } else {
            transpose(a, aOff + i0 * ars + p0 * acs, acs, kc, rows, ap, 0, KC, tmp);
        }
        for (int i = rows; i < roundUp(rows, MR); i++) Arrays.fill(ap, i * KC, i * KC + kc, 0f);
    }

    /**
     * Packs B(p0 .. p0+kc, j0 .. j0+nc) as panels of NR columns: panel q holds B(p0 + p, j0 + q·NR + j) at
     * bp[bpOff + q·NR·kc + p·NR + j], columns past nc zero. B is row-major (bcs = 1: copies) or column-major
     * (brs = 1, nt: a transpose).
     */
    private static void packB(float[] b, int bOff, int brs, int bcs, int p0, int kc, int j0, int nc, float[] bp,
                              int bpOff, float[] tmp) {
        for (int q = 0; q * NR < nc; q++) {
            int cols = Math.min(NR, nc - q * NR);
            int base = bpOff + q * NR * kc;
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
                transpose(b, src, bcs, cols, kc, bp, base, NR, tmp);
            }
        }
    }

    /**
     * dst[d0 + u·dStride + t] = src[s0 + t·sStride + u] for t < rows, u < cols: the transposing copy both packs
     * need (A for tn, B for nt), and Q8's expanded panels. Whole L×L blocks go through registers, the rest element
     * by element; tmp holds L·L floats.
     */
    static void transpose(float[] src, int s0, int sStride, int rows, int cols, float[] dst, int d0,
                          int dStride, float[] tmp) {
        int tv = rows - rows % L, uv = cols - cols % L;
        for (int t = 0; t < tv; t += L) {
            for (int u = 0; u < uv; u += L) {
                transposeBlock(src, s0 + t * sStride + u, sStride, dst, d0 + u * dStride + t, dStride, tmp);
            }
        }
        for (int t = 0; t < rows; t++) {
            for (int u = t < tv ? uv : 0; u < cols; u++) dst[d0 + u * dStride + t] = src[s0 + t * sStride + u];
        }
    }

    /**
     * One L×L block of {@link #transpose}, in log2(L) butterfly stages: the stage of width h pairs rows j and j+h
     * (bit h of j clear) and swaps their off-diagonal h-lane halves with one two-vector selectFrom each; after all
     * stages row u holds column u. Intermediate stages go through tmp, so no vector outlives a loop iteration.
     */
    private static void transposeBlock(float[] src, int s0, int sStride, float[] dst, int d0, int dStride,
                                       float[] tmp) {
        for (int h = L / 2, stage = 0; h >= 1; h /= 2, stage++) {
            boolean first = h == L / 2, last = h == 1;
            for (int j = 0; j < L; j++) {
                if ((j & h) != 0) continue;
                FloatVector x = first ? FloatVector.fromArray(S, src, s0 + j * sStride)
                        : FloatVector.fromArray(S, tmp, j * L);
                FloatVector y = first ? FloatVector.fromArray(S, src, s0 + (j + h) * sStride)
                        : FloatVector.fromArray(S, tmp, (j + h) * L);
                FloatVector lo = SWAP_LO[stage].selectFrom(x, y), hi = SWAP_HI[stage].selectFrom(x, y);
                if (last) {
                    lo.intoArray(dst, d0 + j * dStride);
                    hi.intoArray(dst, d0 + (j + h) * dStride);
                } else {
                    lo.intoArray(tmp, j * L);
                    hi.intoArray(tmp, (j + h) * L);
                }
            }
        }
    }

    /**
     * selectFrom indices of the butterfly stage of width h (h = L/2, L/4, …, 1): lane l of the low row keeps its own
     * lane where bit h of l is clear and takes the high row's lane l−h where it is set; the high row keeps its own
     * lane where the bit is set and takes the low row's lane l+h where it is clear. Indices ≥ L select the second
     * vector.
     */
    private static final FloatVector[] SWAP_LO = swapIndices(true), SWAP_HI = swapIndices(false);

    private static FloatVector[] swapIndices(boolean low) {
        int stages = Integer.numberOfTrailingZeros(L);
        FloatVector[] v = new FloatVector[stages];
        for (int stage = 0, h = L / 2; stage < stages; stage++, h /= 2) {
            float[] idx = new float[L];
            for (int l = 0; l < L; l++) {
                boolean set = (l & h) != 0;
                idx[l] = low ? (set ? L + l - h : l) : (set ? L + l : l + h);
            }
            v[stage] = FloatVector.fromArray(S, idx, 0);
        }
        return v;
    }

    /**
     * The 6×NR tile: C[r, 0..NR) (+)= Σ_p ap[a0 + r·KC + p] · bp[b0 + p·NR .. +NR) for r < 6, C at c[ci + r·ldc].
     * Twelve accumulators, one broadcast of A per row per p.
     */
    private static void kernel(float[] ap, int a0, float[] bp, int b0, int kc, float[] c, int ci, int ldc,
                               boolean add) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
        FloatVector c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        for (int p = 0; p < kc; p++) {
            int bi = b0 + p * NR, ai = a0 + p;
            FloatVector b0v = FloatVector.fromArray(S, bp, bi);
            FloatVector b1v = FloatVector.fromArray(S, bp, bi + L);
            FloatVector av = FloatVector.broadcast(S, ap[ai]);
            c00 = av.fma(b0v, c00);
            c01 = av.fma(b1v, c01);
            av = FloatVector.broadcast(S, ap[ai + 1 * KC]);
            c10 = av.fma(b0v, c10);
            c11 = av.fma(b1v, c11);
            av = FloatVector.broadcast(S, ap[ai + 2 * KC]);
            c20 = av.fma(b0v, c20);
            c21 = av.fma(b1v, c21);
            av = FloatVector.broadcast(S, ap[ai + 3 * KC]);
            c30 = av.fma(b0v, c30);
            c31 = av.fma(b1v, c31);
            av = FloatVector.broadcast(S, ap[ai + 4 * KC]);
            c40 = av.fma(b0v, c40);
            c41 = av.fma(b1v, c41);
            av = FloatVector.broadcast(S, ap[ai + 5 * KC]);
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

    /**
     * {@link #kernel} for a sliver of four rows (16 rows, a decode step of 16 sequences, are slivers of 6, 6 and 4),
     * which the six-row kernel would compute a third in vain for: the same sums, in the same order, per element. A
     * method of its own rather than a flag on kernel: with the flag's two extra rows inside the loop, the six-row
     * path ran 5–15% slower in an ad-hoc single-thread measurement, and it carries every training matmul.
     */
    private static void kernel4(float[] ap, int a0, float[] bp, int b0, int kc, float[] c, int ci, int ldc,
                                boolean add) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
        FloatVector c30 = c00, c31 = c00;
        for (int p = 0; p < kc; p++) {
            int bi = b0 + p * NR, ai = a0 + p;
            FloatVector b0v = FloatVector.fromArray(S, bp, bi);
            FloatVector b1v = FloatVector.fromArray(S, bp, bi + L);
            FloatVector av = FloatVector.broadcast(S, ap[ai]);
            c00 = av.fma(b0v, c00);
            c01 = av.fma(b1v, c01);
            av = FloatVector.broadcast(S, ap[ai + 1 * KC]);
            c10 = av.fma(b0v, c10);
            c11 = av.fma(b1v, c11);
            av = FloatVector.broadcast(S, ap[ai + 2 * KC]);
            c20 = av.fma(b0v, c20);
            c21 = av.fma(b1v, c21);
            av = FloatVector.broadcast(S, ap[ai + 3 * KC]);
            c30 = av.fma(b0v, c30);
            c31 = av.fma(b1v, c31);
        }
        store(c00, c01, c, ci, add);
        store(c10, c11, c, ci + ldc, add);
        store(c20, c21, c, ci + 2 * ldc, add);
        store(c30, c31, c, ci + 3 * ldc, add);
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
