package dev.cramjet.engine.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Causal attention in tiles (FlashAttention-2 on a CPU). Per head, queries and keys are cut into {@link #TILE}-row
 * tiles; a tile of scores S = Q·Kᵀ/√hs is computed with a register-blocked micro-GEMM, folded into the output with an
 * online softmax (running max m and sum l per query row), and thrown away. The forward saves lse = m + ln l per row.
 * The backward recomputes P = exp(S − lse) tile by tile and uses D_i = Σ_d dO_id·O_id:
 * <pre>
 *   dV += Pᵀ·dO     dP = dO·Vᵀ     dS = P ∘ (dP − D)     dQ += dS·K/√hs     dK += dSᵀ·Q/√hs
 * </pre>
 * Memory is linear in T: a few tile buffers per thread, plus one [T, hs] dQ accumulator in the backward. Tiles are
 * repacked so every inner loop runs over whole vectors: head columns are zero-padded to a multiple of the vector
 * length, so any head size works. Tasks go to threads dynamically, biggest first, because causal tiles are uneven.
 * Not thread-safe: one call at a time per instance.
 */
final class FlashAttention {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Query and key tile size: a multiple of the vector length that keeps a thread's tiles in L1/L2. */
    static final int TILE = 64;

    private final Scratch[] scratch = new Scratch[Parallel.threads()];
    private final AtomicInteger next = new AtomicInteger();

    /** One thread's tile buffers, grown on demand and then reused by every call. */
    private static final class Scratch {
        int hsP, rows;
        float[] q, kt, k, v, vt, s, dp, o, dO, dk, dv, m, l, lse, d, dq, dd;

        void ensure(int hsPadded, int t) {
            if (hsPadded != hsP) {
                hsP = hsPadded;
                int tile = TILE * hsP;
                q = new float[tile]; kt = new float[tile]; k = new float[tile]; v = new float[tile];
                vt = new float[tile]; o = new float[tile]; dO = new float[tile]; dk = new float[tile];
                dv = new float[tile];
                s = new float[TILE * TILE]; dp = new float[TILE * TILE];
                m = new float[TILE]; l = new float[TILE]; lse = new float[TILE]; dd = new float[TILE];
                rows = 0;
            }
            if (t > rows) {
                rows = t;
                dq = new float[t * hsP];
                d = new float[t];
            }
        }
    }

    private Scratch scratch(int thread, int hsP, int t) {
        Scratch sc = scratch[thread];
        if (sc == null) scratch[thread] = sc = new Scratch();
        sc.ensure(hsP, t);
        return sc;
    }

    static int padded(int hs) { return (hs + L - 1) / L * L; }

    /** A piece of work for thread {@code thread}. */
    private interface Task {
        void run(int thread, int task);
    }

    /** Runs tasks [0, n) over all threads, each thread taking the next unclaimed task. */
    private void dynamic(int n, Task body) {
        next.set(0);
        Parallel.each(thread -> {
            for (int i; (i = next.getAndIncrement()) < n; ) body.run(thread, i);
        });
    }

    // ---- forward --------------------------------------------------------------------------------------------

    /** Training forward over qkv [B,T,3C]: out [B,T,C], lse [B,H,T]. */
    void forward(float[] qkv, int qkvOff, float[] out, int outOff, float[] lse, int lseOff,
                 int b, int t, int c, int heads) {
        int hs = c / heads, hsP = padded(hs), tiles = (t + TILE - 1) / TILE;
        int n = b * heads * tiles;
        dynamic(n, (thread, task) -> {
            Scratch sc = scratch(thread, hsP, 0);
            int qt = tiles - 1 - task / (b * heads);     // longest query tiles first
            int bh = task % (b * heads), bi = bh / heads, h = bh % heads;
            int q0 = qt * TILE, nq = Math.min(TILE, t - q0);
            int row = qkvOff + bi * t * 3 * c;
            tile(sc, hs, qkv, row + q0 * 3 * c + h * hs, 3 * c, q0, nq,
                    qkv, row + c + h * hs, 3 * c, qkv, row + 2 * c + h * hs, 3 * c,
                    out, outOff + (bi * t + q0) * c + h * hs, c, lse, lseOff + bh * t + q0);
        });
    }

    /**
     * Generation: queries of qkv [B,Tn,3C] at positions [pos, pos+Tn) against the caches kc, vc [B,Tmax,C], which
     * already hold this step's keys and values.
     */
    void cached(float[] qkv, int qkvOff, float[] kc, int kOff, float[] vc, int vOff, float[] out, int outOff,
                int b, int tn, int tmax, int c, int heads, int pos) {
        int hs = c / heads, hsP = padded(hs), tiles = (tn + TILE - 1) / TILE;
        dynamic(b * heads * tiles, (thread, task) -> {
            Scratch sc = scratch(thread, hsP, 0);
            int qt = tiles - 1 - task / (b * heads);
            int bh = task % (b * heads), bi = bh / heads, h = bh % heads;
            int q0 = qt * TILE, nq = Math.min(TILE, tn - q0);
            int cache = bi * tmax * c + h * hs;
            tile(sc, hs, qkv, qkvOff + (bi * tn + q0) * 3 * c + h * hs, 3 * c, pos + q0, nq,
                    kc, kOff + cache, c, vc, vOff + cache, c,
                    out, outOff + (bi * tn + q0) * c + h * hs, c, null, 0);
        });
    }

    /**
     * One query tile: nq query rows at absolute positions [p0, p0+nq) (row r at q[qOff + r·qStride]), attending to
     * keys/values 0..p (key j at k[kOff + j·kStride]). Writes out rows and, when lse is not null, lse[lseOff + r].
     */
    private static void tile(Scratch sc, int hs, float[] q, int qOff, int qStride, int p0, int nq,
                             float[] k, int kOff, int kStride, float[] v, int vOff, int vStride,
                             float[] out, int oOff, int oStride, float[] lse, int lseOff) {
        int hsP = sc.hsP;
        float scale = (float) (1 / Math.sqrt(hs));
        float[] qs = sc.q, kt = sc.kt, vv = sc.v, s = sc.s, o = sc.o, m = sc.m, l = sc.l;
        for (int r = 0; r < nq; r++) {
            for (int d = 0; d < hs; d++) qs[r * hsP + d] = q[qOff + r * qStride + d] * scale;
            m[r] = Float.NEGATIVE_INFINITY;
            l[r] = 0;
        }
        java.util.Arrays.fill(o, 0, nq * hsP, 0f);
        int last = p0 + nq - 1;
        for (int k0 = 0; k0 <= last; k0 += TILE) {
            int w = Math.min(TILE, last + 1 - k0), wP = padded(w);
            packTransposed(kt, k, kOff + k0 * kStride, kStride, w, wP, hs);
            packRows(vv, v, vOff + k0 * vStride, vStride, w, wP, hs, hsP);
            Tile.gemm(nq, wP, hs, qs, 0, hsP, 1, kt, 0, TILE, s, 0, TILE, false);
            for (int r = 0; r < nq; r++) {
                int valid = Math.min(w, p0 + r - k0 + 1);   // keys k0..p0+r are visible to this row
                int si = r * TILE;
                if (valid <= 0) {
                    java.util.Arrays.fill(s, si, si + wP, 0f);
                    continue;
                }
                float mx = Tile.max(s, si, valid);
                float mNew = Math.max(m[r], mx);
                float corr = (float) Math.exp(m[r] - mNew);
                float sum = Tile.expShift(s, si, valid, mNew);
                java.util.Arrays.fill(s, si + valid, si + wP, 0f);
                l[r] = l[r] * corr + sum;
                m[r] = mNew;
                if (corr != 1f) Tile.scale(o, r * hsP, hsP, corr);
            }
            Tile.gemm(nq, hsP, wP, s, 0, TILE, 1, vv, 0, hsP, o, 0, hsP, true);
        }
        for (int r = 0; r < nq; r++) {
            float inv = 1 / l[r];
            int oi = oOff + r * oStride;
            for (int d = 0; d < hs; d++) out[oi + d] = o[r * hsP + d] * inv;
            if (lse != null) lse[lseOff + r] = m[r] + (float) Math.log(l[r]);
        }
    }

    // ---- backward -------------------------------------------------------------------------------------------

    /** dqkv [B,T,3C] (overwritten) from dout, out [B,T,C], qkv and lse [B,H,T]. One task per (batch, head). */
    void backward(float[] dqkv, int dqkvOff, float[] dout, int doutOff, float[] qkv, int qkvOff,
                  float[] out, int outOff, float[] lse, int lseOff, int b, int t, int c, int heads) {
        int hs = c / heads, hsP = padded(hs);
        float scale = (float) (1 / Math.sqrt(hs));
        int c3 = 3 * c;
        dynamic(b * heads, (thread, bh) -> {
            Scratch sc = scratch(thread, hsP, t);
            int bi = bh / heads, h = bh % heads;
            int qRow = qkvOff + bi * t * c3 + h * hs, kRow = qRow + c, vRow = qRow + 2 * c;
            int oRow = (bi * t) * c + h * hs;
            int lRow = lseOff + bh * t;
            float[] dq = sc.dq, dd = sc.d, kk = sc.k, kt = sc.kt, vt = sc.vt, qs = sc.q, dO = sc.dO;
            float[] s = sc.s, dp = sc.dp, dk = sc.dk, dv = sc.dv;
            for (int i = 0; i < t; i++) {
                dd[i] = Tile.dot(dout, doutOff + oRow + i * c, out, outOff + oRow + i * c, hs);
            }
            java.util.Arrays.fill(dq, 0, t * hsP, 0f);
            for (int k0 = 0; k0 < t; k0 += TILE) {
                int w = Math.min(TILE, t - k0), wP = padded(w);
                packRows(kk, qkv, kRow + k0 * c3, c3, w, wP, hs, hsP);
                packTransposed(kt, qkv, kRow + k0 * c3, c3, w, wP, hs);
                packTransposed(vt, qkv, vRow + k0 * c3, c3, w, wP, hs);
                java.util.Arrays.fill(dk, 0, wP * hsP, 0f);
                java.util.Arrays.fill(dv, 0, wP * hsP, 0f);
                for (int q0 = k0; q0 < t; q0 += TILE) {    // only query tiles at or after the key tile see it
                    int nq = Math.min(TILE, t - q0);
                    for (int r = 0; r < nq; r++) {
                        int src = qRow + (q0 + r) * c3, dst = r * hsP;
                        for (int d = 0; d < hs; d++) qs[dst + d] = qkv[src + d] * scale;
                        java.util.Arrays.fill(qs, dst + hs, dst + hsP, 0f);
                        System.arraycopy(dout, doutOff + oRow + (q0 + r) * c, dO, dst, hs);
                        java.util.Arrays.fill(dO, dst + hs, dst + hsP, 0f);
                    }
                    Tile.gemm(nq, wP, hs, qs, 0, hsP, 1, kt, 0, TILE, s, 0, TILE, false);
                    Tile.gemm(nq, wP, hs, dO, 0, hsP, 1, vt, 0, TILE, dp, 0, TILE, false);
                    for (int r = 0; r < nq; r++) {
                        int valid = Math.min(w, q0 + r - k0 + 1);
                        Tile.softmaxGrad(s, dp, r * TILE, valid, wP, lse[lRow + q0 + r], dd[q0 + r]);
                    }
                    Tile.gemm(w, hsP, nq, s, 0, 1, TILE, dO, 0, hsP, dv, 0, hsP, true);        // dV += Pᵀ·dO
                    Tile.gemm(nq, hsP, wP, dp, 0, TILE, 1, kk, 0, hsP, dq, q0 * hsP, hsP, true); // dQ += dS·K
                    Tile.gemm(w, hsP, nq, dp, 0, 1, TILE, qs, 0, hsP, dk, 0, hsP, true);       // dK += dSᵀ·Q/√hs
                }
                for (int j = 0; j < w; j++) {
                    int dst = dqkvOff + (bi * t + k0 + j) * c3 + h * hs;
                    System.arraycopy(dk, j * hsP, dqkv, dst + c, hs);
                    System.arraycopy(dv, j * hsP, dqkv, dst + 2 * c, hs);
                }
            }
            for (int i = 0; i < t; i++) {
                int dst = dqkvOff + (bi * t + i) * c3 + h * hs;
                for (int d = 0; d < hs; d++) dqkv[dst + d] = dq[i * hsP + d] * scale;
            }
        });
    }

    // ---- packing --------------------------------------------------------------------------------------------

    /** dst[d·TILE + j] = src[off + j·stride + d] for j < w; columns [w, wP) zeroed. */
    private static void packTransposed(float[] dst, float[] src, int off, int stride, int w, int wP, int hs) {
        for (int j = 0; j < w; j++) {
            int si = off + j * stride;
            for (int d = 0; d < hs; d++) dst[d * TILE + j] = src[si + d];
        }
        if (wP > w) for (int d = 0; d < hs; d++) java.util.Arrays.fill(dst, d * TILE + w, d * TILE + wP, 0f);
    }

    /** dst[j·hsP + d] = src[off + j·stride + d]; head columns [hs, hsP) and rows [w, wP) zeroed. */
    private static void packRows(float[] dst, float[] src, int off, int stride, int w, int wP, int hs, int hsP) {
        for (int j = 0; j < w; j++) {
            System.arraycopy(src, off + j * stride, dst, j * hsP, hs);
            if (hsP > hs) java.util.Arrays.fill(dst, j * hsP + hs, (j + 1) * hsP, 0f);
        }
        java.util.Arrays.fill(dst, w * hsP, wP * hsP, 0f);
    }

    /** Vector kernels on tile buffers. */
    static final class Tile {
        private Tile() {}

        /**
         * C[r, 0:n] (+)= Σ_k A[r,k]·B[k, 0:n] for r &lt; m, with A read at a[aOff + r·ars + k·aks] (so a transposed A
         * costs nothing) and n a multiple of the vector length. Blocked 4 rows × up to 4 vectors.
         */
        static void gemm(int m, int n, int kDim, float[] a, int aOff, int ars, int aks, float[] b, int bOff, int ldb,
                         float[] c, int cOff, int ldc, boolean acc) {
            int r = 0;
            for (; r + 4 <= m; r += 4) {
                int col = 0;
                for (; col + 4 * L <= n; col += 4 * L) {
                    block4x4(kDim, a, aOff + r * ars, ars, aks, b, bOff + col, ldb, c, cOff + r * ldc + col, ldc, acc);
                }
                for (; col + 2 * L <= n; col += 2 * L) {
                    block4x2(kDim, a, aOff + r * ars, ars, aks, b, bOff + col, ldb, c, cOff + r * ldc + col, ldc, acc);
                }
                for (; col < n; col += L) {
                    block4x1(kDim, a, aOff + r * ars, ars, aks, b, bOff + col, ldb, c, cOff + r * ldc + col, ldc, acc);
                }
            }
            for (; r < m; r++) {
                for (int col = 0; col < n; col += L) {
                    int ci = cOff + r * ldc + col;
                    FloatVector c0 = acc ? FloatVector.fromArray(S, c, ci) : FloatVector.zero(S);
                    int ai = aOff + r * ars, bi = bOff + col;
                    for (int kk = 0; kk < kDim; kk++, ai += aks, bi += ldb) {
                        c0 = FloatVector.fromArray(S, b, bi).fma(FloatVector.broadcast(S, a[ai]), c0);
                    }
                    c0.intoArray(c, ci);
                }
            }
        }

        private static void block4x4(int kDim, float[] a, int ai, int ars, int aks, float[] b, int bi, int ldb,
                                     float[] c, int ci, int ldc, boolean acc) {
            FloatVector c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33;
            if (acc) {
                c00 = FloatVector.fromArray(S, c, ci); c01 = FloatVector.fromArray(S, c, ci + L);
                c02 = FloatVector.fromArray(S, c, ci + 2 * L); c03 = FloatVector.fromArray(S, c, ci + 3 * L);
                c10 = FloatVector.fromArray(S, c, ci + ldc); c11 = FloatVector.fromArray(S, c, ci + ldc + L);
                c12 = FloatVector.fromArray(S, c, ci + ldc + 2 * L); c13 = FloatVector.fromArray(S, c, ci + ldc + 3 * L);
                c20 = FloatVector.fromArray(S, c, ci + 2 * ldc); c21 = FloatVector.fromArray(S, c, ci + 2 * ldc + L);
                c22 = FloatVector.fromArray(S, c, ci + 2 * ldc + 2 * L);
                c23 = FloatVector.fromArray(S, c, ci + 2 * ldc + 3 * L);
                c30 = FloatVector.fromArray(S, c, ci + 3 * ldc); c31 = FloatVector.fromArray(S, c, ci + 3 * ldc + L);
                c32 = FloatVector.fromArray(S, c, ci + 3 * ldc + 2 * L);
                c33 = FloatVector.fromArray(S, c, ci + 3 * ldc + 3 * L);
            } else {
                c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = FloatVector.zero(S);
                c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = c00;
            }
            for (int kk = 0; kk < kDim; kk++, ai += aks, bi += ldb) {
                FloatVector b0 = FloatVector.fromArray(S, b, bi), b1 = FloatVector.fromArray(S, b, bi + L);
                FloatVector b2 = FloatVector.fromArray(S, b, bi + 2 * L), b3 = FloatVector.fromArray(S, b, bi + 3 * L);
                FloatVector x = FloatVector.broadcast(S, a[ai]);
                c00 = b0.fma(x, c00); c01 = b1.fma(x, c01); c02 = b2.fma(x, c02); c03 = b3.fma(x, c03);
                x = FloatVector.broadcast(S, a[ai + ars]);
                c10 = b0.fma(x, c10); c11 = b1.fma(x, c11); c12 = b2.fma(x, c12); c13 = b3.fma(x, c13);
                x = FloatVector.broadcast(S, a[ai + 2 * ars]);
                c20 = b0.fma(x, c20); c21 = b1.fma(x, c21); c22 = b2.fma(x, c22); c23 = b3.fma(x, c23);
                x = FloatVector.broadcast(S, a[ai + 3 * ars]);
                c30 = b0.fma(x, c30); c31 = b1.fma(x, c31); c32 = b2.fma(x, c32); c33 = b3.fma(x, c33);
            }
            c00.intoArray(c, ci); c01.intoArray(c, ci + L); c02.intoArray(c, ci + 2 * L); c03.intoArray(c, ci + 3 * L);
            ci += ldc;
            c10.intoArray(c, ci); c11.intoArray(c, ci + L); c12.intoArray(c, ci + 2 * L); c13.intoArray(c, ci + 3 * L);
            ci += ldc;
            c20.intoArray(c, ci); c21.intoArray(c, ci + L); c22.intoArray(c, ci + 2 * L); c23.intoArray(c, ci + 3 * L);
            ci += ldc;
            c30.intoArray(c, ci); c31.intoArray(c, ci + L); c32.intoArray(c, ci + 2 * L); c33.intoArray(c, ci + 3 * L);
        }

        private static void block4x2(int kDim, float[] a, int ai, int ars, int aks, float[] b, int bi, int ldb,
                                     float[] c, int ci, int ldc, boolean acc) {
            FloatVector c00, c01, c10, c11, c20, c21, c30, c31;
            if (acc) {
                c00 = FloatVector.fromArray(S, c, ci); c01 = FloatVector.fromArray(S, c, ci + L);
                c10 = FloatVector.fromArray(S, c, ci + ldc); c11 = FloatVector.fromArray(S, c, ci + ldc + L);
                c20 = FloatVector.fromArray(S, c, ci + 2 * ldc); c21 = FloatVector.fromArray(S, c, ci + 2 * ldc + L);
                c30 = FloatVector.fromArray(S, c, ci + 3 * ldc); c31 = FloatVector.fromArray(S, c, ci + 3 * ldc + L);
            } else {
                c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = FloatVector.zero(S);
            }
            for (int kk = 0; kk < kDim; kk++, ai += aks, bi += ldb) {
                FloatVector b0 = FloatVector.fromArray(S, b, bi), b1 = FloatVector.fromArray(S, b, bi + L);
                FloatVector x = FloatVector.broadcast(S, a[ai]);
                c00 = b0.fma(x, c00); c01 = b1.fma(x, c01);
                x = FloatVector.broadcast(S, a[ai + ars]);
                c10 = b0.fma(x, c10); c11 = b1.fma(x, c11);
                x = FloatVector.broadcast(S, a[ai + 2 * ars]);
                c20 = b0.fma(x, c20); c21 = b1.fma(x, c21);
                x = FloatVector.broadcast(S, a[ai + 3 * ars]);
                c30 = b0.fma(x, c30); c31 = b1.fma(x, c31);
            }
            c00.intoArray(c, ci); c01.intoArray(c, ci + L);
            c10.intoArray(c, ci + ldc); c11.intoArray(c, ci + ldc + L);
            c20.intoArray(c, ci + 2 * ldc); c21.intoArray(c, ci + 2 * ldc + L);
            c30.intoArray(c, ci + 3 * ldc); c31.intoArray(c, ci + 3 * ldc + L);
        }

        private static void block4x1(int kDim, float[] a, int ai, int ars, int aks, float[] b, int bi, int ldb,
                                     float[] c, int ci, int ldc, boolean acc) {
            FloatVector c0, c1, c2, c3;
            if (acc) {
                c0 = FloatVector.fromArray(S, c, ci); c1 = FloatVector.fromArray(S, c, ci + ldc);
                c2 = FloatVector.fromArray(S, c, ci + 2 * ldc); c3 = FloatVector.fromArray(S, c, ci + 3 * ldc);
            } else {
                c0 = c1 = c2 = c3 = FloatVector.zero(S);
            }
            for (int kk = 0; kk < kDim; kk++, ai += aks, bi += ldb) {
                FloatVector b0 = FloatVector.fromArray(S, b, bi);
                c0 = b0.fma(FloatVector.broadcast(S, a[ai]), c0);
                c1 = b0.fma(FloatVector.broadcast(S, a[ai + ars]), c1);
                c2 = b0.fma(FloatVector.broadcast(S, a[ai + 2 * ars]), c2);
                c3 = b0.fma(FloatVector.broadcast(S, a[ai + 3 * ars]), c3);
            }
            c0.intoArray(c, ci); c1.intoArray(c, ci + ldc); c2.intoArray(c, ci + 2 * ldc); c3.intoArray(c, ci + 3 * ldc);
        }

        /** max of x[off, off+n), n ≥ 1. */
        static float max(float[] x, int off, int n) {
            FloatVector acc = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
            int i = 0;
            for (int bound = S.loopBound(n); i < bound; i += L) acc = acc.max(FloatVector.fromArray(S, x, off + i));
            if (i < n) {
                VectorMask<Float> mask = S.indexInRange(i, n);
                acc = acc.max(FloatVector.fromArray(S, x, off + i, mask).blend(Float.NEGATIVE_INFINITY, mask.not()));
            }
            return acc.reduceLanes(VectorOperators.MAX);
        }

        /** x ← exp(x − shift) over [off, off+n); returns the sum of the new values. */
        static float expShift(float[] x, int off, int n, float shift) {
            FloatVector sum = FloatVector.zero(S);
            int i = 0;
            for (int bound = S.loopBound(n); i < bound; i += L) {
                FloatVector e = VectorMath.exp(FloatVector.fromArray(S, x, off + i).sub(shift));
                e.intoArray(x, off + i);
                sum = sum.add(e);
            }
            if (i < n) {
                VectorMask<Float> mask = S.indexInRange(i, n);
                FloatVector e = VectorMath.exp(FloatVector.fromArray(S, x, off + i, mask).sub(shift));
                e.intoArray(x, off + i, mask);
                sum = sum.add(e, mask);
            }
            return sum.reduceLanes(VectorOperators.ADD);
        }

        /**
         * One score row of the backward: p = exp(s − lse) for the first {@code valid} columns (0 beyond, up to wP),
         * stored in s; dp ← p·(dp − D), the softmax gradient.
         */
        static void softmaxGrad(float[] s, float[] dp, int off, int valid, int wP, float lse, float dd) {
            int i = 0;
            int n = Math.max(valid, 0);
            for (int bound = S.loopBound(n); i < bound; i += L) {
                FloatVector p = VectorMath.exp(FloatVector.fromArray(S, s, off + i).sub(lse));
                p.intoArray(s, off + i);
                p.mul(FloatVector.fromArray(S, dp, off + i).sub(dd)).intoArray(dp, off + i);
            }
            for (; i < wP; i += L) {
                VectorMask<Float> mask = S.indexInRange(i, n);
                FloatVector p = VectorMath.exp(FloatVector.fromArray(S, s, off + i).sub(lse)).blend(0f, mask.not());
                p.intoArray(s, off + i);
                p.mul(FloatVector.fromArray(S, dp, off + i).sub(dd)).intoArray(dp, off + i);
            }
        }

        static void scale(float[] x, int off, int n, float f) {
            for (int i = 0; i < n; i += L) FloatVector.fromArray(S, x, off + i).mul(f).intoArray(x, off + i);
        }

        /** Σ a[ai+i]·b[bi+i] for i &lt; n. */
        static float dot(float[] a, int ai, float[] b, int bi, int n) {
            FloatVector acc = FloatVector.zero(S);
            int i = 0;
            for (int bound = S.loopBound(n); i < bound; i += L) {
                acc = FloatVector.fromArray(S, a, ai + i).fma(FloatVector.fromArray(S, b, bi + i), acc);
            }
            float sum = acc.reduceLanes(VectorOperators.ADD);
            for (; i < n; i++) sum += a[ai + i] * b[bi + i];
            return sum;
        }
    }
}
