package dev.cramjet.engine.cpu;

import dev.cramjet.Lanes;
import dev.cramjet.engine.DecodeStep;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Attention in tiles (FlashAttention-2 on a CPU), causal or bidirectional, over sequences of per-sequence valid
 * lengths (right padding: keys past a sequence's length are never read, and its padded queries get zero rows and
 * zero gradients). Per head, queries and keys are cut into {@link #TILE}-row
 * tiles; a tile of scores is computed with a register-blocked micro-GEMM, folded into the output with an online
 * softmax (running max m and sum l per query), and thrown away. The forward saves lse = m + ln l per query. The
 * backward recomputes P = exp(S − lse) tile by tile and uses D_i = Σ_d dO_id·O_id:
 * <pre>
 *   dV += Pᵀ·dO     dP = dO·Vᵀ     dS = P ∘ (dP − D)     dQ += dS·K/√hs     dK += dSᵀ·Q/√hs
 * </pre>
 * Score tiles are stored transposed, Sᵀ[key][query] = K·(Q/√hs)ᵀ: the GEMM then reads K rows in place and only Qᵀ
 * (once per query tile) is packed, and the softmax runs down key rows with whole vectors of queries, so the row max
 * and row sum need no horizontal reductions. Memory is linear in T: tile buffers per thread, plus [T, hs] panels of
 * one head in the backward. Head columns are zero-padded to a multiple of the vector length where a kernel needs
 * whole vectors, so any head size works. Tasks go to threads dynamically, as threads free up.
 * Not thread-safe: one call at a time per instance.
 */
final class FlashAttention {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Query and key tile size: a multiple of the vector length that keeps a thread's tiles in L1/L2. */
    static final int TILE = 64;

    private final Scratch[] scratch = new Scratch[Parallel.threads()];
    private final AtomicInteger next = new AtomicInteger();

    /** One thread's buffers, grown on demand and then reused by every call. */
    private static final class Scratch {
        int hsP, rows;
        // forward tiles
        float[] qt, st, v, o, m, l, corr;
        final int[] gather = new int[L];
        // backward: one head's panels ([hs][T] transposed, [T][hsP] rows) and tiles
        float[] qtT, doT, qRows, doRows, kRows, vRows, dq, d, lse, dst, dk, dv;

        void ensure(int hsPadded, int t) {
            if (hsPadded != hsP) {
                hsP = hsPadded;
                qt = new float[hsP * TILE]; st = new float[(TILE + 1) * TILE]; v = new float[TILE * hsP];
                o = new float[TILE * hsP]; m = new float[TILE]; l = new float[TILE]; corr = new float[TILE];
                dst = new float[TILE * TILE]; dk = new float[TILE * hsP]; dv = new float[TILE * hsP];
                rows = 0;
            }
            if (t > rows) {
                rows = padded(t);
                qtT = new float[hsP * rows]; doT = new float[hsP * rows];
                qRows = new float[rows * hsP]; doRows = new float[rows * hsP]; kRows = new float[rows * hsP];
                vRows = new float[rows * hsP]; dq = new float[rows * hsP]; d = new float[rows]; lse = new float[rows];
            }
        }
    }

    private Scratch scratch(int thread, int hsP, int t) {
        Scratch sc = scratch[thread];
        if (sc == null) scratch[thread] = sc = new Scratch();
        sc.ensure(hsP, t);
        return sc;
    }

    static int padded(int n) { return (n + L - 1) / L * L; }

    /** {@link #cached}'s entries in task order, and where each one's tasks start: grown, then reused. */
    private int[] order = new int[0], starts = new int[1];

    /** A piece of work for thread {@code thread}. */
    private interface Task {
        void run(int thread, int task);
    }

    /** Runs tasks [0, n) over all threads, each thread taking the next unclaimed task. */
    private void dynamic(int n, Task body) {
        if (n == 1) {                  // one head of one token (generation): not worth waking the team
            body.run(0, 0);
            return;
        }
        next.set(0);
        Parallel.each(thread -> {
            for (int i; (i = next.getAndIncrement()) < n; ) body.run(thread, i);
        });
    }

    // ---- forward --------------------------------------------------------------------------------------------

    /** Training forward over qkv [B,T,3C]: out [B,T,C], lse [B,H,T]; lengths [B] or null (all T). */
    void forward(float[] qkv, int qkvOff, float[] out, int outOff, float[] lse, int lseOff,
                 int b, int t, int c, int heads, boolean causal, int[] lengths) {
        int hs = c / heads, hsP = padded(hs), tiles = (t + TILE - 1) / TILE;
        // A task is one head's query tiles g, g+groups, …: consecutive tiles reuse the head's K and V from cache, and
        // the heads are split into interleaved groups only as far as needed to give every thread work.
        int groups = Math.max(1, Math.min(tiles, (2 * Parallel.threads() + b * heads - 1) / (b * heads)));
        dynamic(b * heads * groups, (thread, task) -> {
            Scratch sc = scratch(thread, hsP, 0);
            int bh = task / groups, bi = bh / heads, h = bh % heads;
            int row = qkvOff + bi * t * 3 * c, len = lengths == null ? t : lengths[bi];
            for (int qt = task % groups; qt < tiles; qt += groups) {
                int q0 = qt * TILE, nq = Math.min(TILE, t - q0), valid = Math.max(0, Math.min(nq, len - q0));
                int o = outOff + (bi * t + q0) * c + h * hs, l = lseOff + bh * t + q0;
                if (valid > 0) {
                    tile(sc, hs, qkv, row + q0 * 3 * c + h * hs, 3 * c, q0, valid,
                            qkv, row + c + h * hs, 3 * c, qkv, row + 2 * c + h * hs, 3 * c,
                            causal ? q0 + valid - 1 : len - 1, causal, out, o, c, lse, l);
                }
                for (int r = valid; r < nq; r++) {             // padded queries
                    Arrays.fill(out, o + r * c, o + r * c + hs, 0f);
                    lse[l + r] = 0;
                }
            }
        });
    }

    /**
     * Generation: a decoding step's entries — entry e's queries are rows [first, first + count) of qkv [N,3C], at
     * positions [pos, pos + count) of sequence seq of the caches kc, vc [S,Tmax,C], which already hold the step's keys
     * and values, as do their panels. Out [N,C]. One task per (entry, head, query tile), the prompts' tiles (the most
     * keys) first, so the team stays busy to the end. A tile of one query (a decoding step's) takes {@link #oneQuery},
     * the same bits as {@link #tile}.
     */
    void cached(float[] qkv, int qkvOff, float[] kc, int kOff, float[] vc, int vOff, float[] out, int outOff,
                int tmax, int c, int heads, DecodeStep step, Panels keys, Panels values) {
        int hs = c / heads, hsP = padded(hs), entries = step.entries();
        if (order.length < entries) { order = new int[entries]; starts = new int[entries + 1]; }
        int n = 0;
        for (int e = 0; e < entries; e++) if (step.count(e) > 1) order[n++] = e;
        for (int e = 0; e < entries; e++) if (step.count(e) == 1) order[n++] = e;
        for (int i = 0; i < entries; i++) starts[i + 1] = starts[i] + heads * ((step.count(order[i]) + TILE - 1) / TILE);
        int[] ord = order, first = starts;
        dynamic(starts[entries], (thread, task) -> {
            Scratch sc = scratch(thread, hsP, 0);
            int i = Arrays.binarySearch(first, 0, entries + 1, task);    // every entry has tasks: starts ascend
            if (i < 0) i = -i - 2;
            int e = ord[i], t = task - first[i], tiles = (step.count(e) + TILE - 1) / TILE;
            int qt = tiles - 1 - t / heads, h = t % heads, bi = step.seq(e), pos = step.pos(e);
            int q0 = qt * TILE, nq = Math.min(TILE, step.count(e) - q0), row = step.first(e) + q0;
            int cache = bi * tmax * c + h * hs, q = qkvOff + row * 3 * c + h * hs, o = outOff + row * c + h * hs;
            if (nq == 1) {
                oneQuery(sc, hs, qkv, q, keys.panels(bi, h), values.panels(bi, h), pos + q0, out, o);
            } else {
                tile(sc, hs, qkv, q, 3 * c, pos + q0, nq, kc, kOff + cache, c, vc, vOff + cache, c,
                        pos + q0 + nq - 1, true, out, o, c, null, 0);
            }
        });
    }

    /**
     * A key or value cache [B,Tmax,C] copied per sequence and head for {@link #oneQuery}, one panel per {@link #TILE}
     * positions. Keys are transposed — key j's column d at [j / TILE][d·TILE + j % TILE], so L consecutive keys'
     * column d is one vector; values are rows padded to whole vectors — value j at [j / TILE][(j % TILE)·hsP, +hs),
     * zeros up to hsP — so a head's values are one contiguous run rather than hs floats every C (reading the cache's
     * strided rows made a 16-sequence step's attention about a quarter slower once the caches outgrow the L3 cache).
     * Positions [0, filled) of a sequence are current. A panel is made when its first position is written, so a copy
     * is as large as the part of the cache in use, and is never copied again. Kept by the cache's {@link CpuStorage}
     * (which drops it when any other op writes there) and written by attentionCached alone.
     */
    static final class Panels {
        final boolean keys;
        final int offset, b, tmax, c, heads;
        private final int hs, width;
        private final float[][][] panels;
        private final int[] filled;

        Panels(boolean keys, int offset, int b, int tmax, int c, int heads) {
            this.keys = keys;
            this.offset = offset;
            this.b = b;
            this.tmax = tmax;
            this.c = c;
            this.heads = heads;
            hs = c / heads;
            width = keys ? hs : padded(hs);
            panels = new float[b * heads][(tmax + TILE - 1) / TILE][];
            filled = new int[b];
        }

        boolean is(boolean keys, int offset, int b, int tmax, int c, int heads) {
            return this.keys == keys && this.offset == offset && this.b == b && this.tmax == tmax && this.c == c
                    && this.heads == heads;
        }

        /** Whether the cache's floats meet [from, from + n) of the storage. */
        boolean overlaps(long from, long n) {
            return from < offset + (long) b * tmax * c && offset < from + n;
        }

        /**
         * Copies positions [pos, to) of sequence bi of the cache (x at off) into the panels — from an earlier
         * position where the sequence's copy lags behind (a new copy, or one dropped since) — after which [0, to) is
         * current.
         */
        void write(float[] x, int off, int bi, int pos, int to) {
            int from = Math.min(filled[bi], pos);
            for (int h = 0; h < heads; h++) {
                float[][] tiles = panels[bi * heads + h];
                for (int j = from; j < to; j++) {
                    float[] p = tiles[j / TILE];
                    if (p == null) p = tiles[j / TILE] = new float[width * TILE];
                    int src = off + (bi * tmax + j) * c + h * hs;
                    if (keys) {
                        for (int d = 0, at = j % TILE; d < hs; d++, at += TILE) p[at] = x[src + d];
                    } else {
                        System.arraycopy(x, src, p, j % TILE * width, hs);
                    }
                }
            }
            filled[bi] = to;
        }

        float[][] panels(int bi, int h) { return panels[bi * heads + h]; }

        long bytes() {
            long n = 0;
            for (float[][] tiles : panels) for (float[] p : tiles) if (p != null) n += 4L * p.length;
            return n;
        }
    }

    /**
     * {@link #tile} for one query, at position {@code last} (hs floats at q[qOff]), with the keys in the vector lanes:
     * a key tile's scores are L keys a vector, FMA chains over d down the transposed panels kt, and the softmax's
     * exps run L keys at once, where the tile GEMM would fill one lane of sixteen. Every chain is tile's, in its order
     * — s_j = fma(k_jd, q_d/√hs, ·) over d from 0; per key tile the max, e^(s − m'), their sum in key order, l ←
     * fma(l, corr, Σ), O·corr, O += p_j·V_j in key order, V_j read from the value panels vt — so a query gets the
     * same bits on either path.
     */
    private static void oneQuery(Scratch sc, int hs, float[] q, int qOff, float[][] kt, float[][] vt, int last,
                                 float[] out, int oOff) {
        int hsP = sc.hsP;
        float scale = (float) (1 / Math.sqrt(hs));
        float[] qs = sc.qt, p = sc.st, o = sc.o;                    // the scaled query, a tile's scores, O
        for (int d = 0; d < hs; d++) qs[d] = q[qOff + d] * scale;
        Arrays.fill(o, 0, hsP, 0f);
        float m = Float.NEGATIVE_INFINITY, l = 0;
        for (int k0 = 0; k0 <= last; k0 += TILE) {
            int w = Math.min(TILE, last + 1 - k0);
            scores(kt[k0 / TILE], qs, hs, w, p);
            float mNew = Math.max(m, Tile.max(p, 0, w));
            p[w] = m;                                               // as in onlineSoftmax: one exp yields corr too
            exps(p, w + 1, mNew);
            // onlineSoftmax's lane sum, in key order; its extra 0·corr term changes nothing (l takes corr anyway).
            float sum = 0, corr = p[w];
            for (int j = 0; j < w; j++) sum += p[j];
            l = Math.fma(l, corr, sum);
            m = mNew;
            if (corr != 1f) Tile.scale(o, 0, hsP, corr);
            Tile.gemm(1, hsP, w, p, 0, 1, 1, vt[k0 / TILE], 0, hsP, o, 0, hsP, true);           // O += P·V
        }
        float inv = 1 / l;
        for (int d = 0; d < hs; d++) out[oOff + d] = o[d] * inv;
    }

    /**
     * s[i] = the chain fma(kt[d·TILE + i], qs[d], ·) over d &lt; hs from 0, for the keys i &lt; w of one panel, up
     * to the next multiple of L (the extra lanes are never used): the lone-row tile GEMM with the query as its row
     * and the panel as B — four vectors in flight hide the FMA latency, and a part tile reads only the vectors it
     * uses (from DRAM at a serving batch's cache sizes, reads are the cost).
     */
    private static void scores(float[] kt, float[] qs, int hs, int w, float[] s) {
        int i = 0;
        for (; i + 4 * L <= w; i += 4 * L) Tile.block1x4(hs, qs, 0, 1, kt, i, TILE, s, i, false);
        for (; i < w; i += L) Tile.block1x1(hs, qs, 0, 1, kt, i, TILE, s, i, false);
    }

    /** x[i] ← e^(x[i] − shift) for i &lt; n, whole vectors (x has room to the next multiple of L; the extra lanes are junk). */
    private static void exps(float[] x, int n, float shift) {
        for (int i = 0; i < n; i += L) Lanes.exp(FloatVector.fromArray(S, x, i).sub(shift)).intoArray(x, i);
    }

    /**
     * One query tile: nq queries at absolute positions [p0, p0+nq) (query r at q[qOff + r·qStride]), each attending
     * to keys 0..last (key j at k[kOff + j·kStride], value j at v[vOff + j·vStride]), and if causal only to those
     * up to its own position. Writes the output rows and, when lse is not null, lse[lseOff + r].
     */
    private static void tile(Scratch sc, int hs, float[] q, int qOff, int qStride, int p0, int nq,
                             float[] k, int kOff, int kStride, float[] v, int vOff, int vStride, int last, boolean causal,
                             float[] out, int oOff, int oStride, float[] lse, int lseOff) {
        int hsP = sc.hsP, nqP = padded(nq);
        float scale = (float) (1 / Math.sqrt(hs));
        float[] qt = sc.qt, st = sc.st, o = sc.o, m = sc.m, l = sc.l;
        packTransposed(qt, TILE, q, qOff, qStride, nq, nqP, hs, scale, sc.gather);
        Arrays.fill(m, Float.NEGATIVE_INFINITY);
        Arrays.fill(l, 0f);
        Arrays.fill(o, 0, nq * hsP, 0f);
        // Values are read in place when a head is whole vectors wide, else copied into zero-padded rows.
        boolean direct = hs == hsP;
        float[] vb = direct ? v : sc.v;
        for (int k0 = 0; k0 <= last; k0 += TILE) {
            int w = Math.min(TILE, last + 1 - k0);
            Tile.gemm(w, nqP, hs, k, kOff + k0 * kStride, kStride, 1, qt, 0, TILE, st, 0, TILE, false,
                    causal ? Tile.COLUMNS_FROM_ROW : Tile.FULL, k0 - p0);
            softmaxStep(sc, w, nq, nqP, p0, k0, causal);
            int vb0, ldv;
            if (direct) {
                vb0 = vOff + k0 * vStride;
                ldv = vStride;
            } else {
                packRows(sc.v, v, vOff + k0 * vStride, vStride, w, hs, hsP);
                vb0 = 0;
                ldv = hsP;
            }
            Tile.gemm(nq, hsP, w, st, 0, 1, TILE, vb, vb0, ldv, o, 0, hsP, true,
                    causal ? Tile.K_UNTIL_ROW : Tile.FULL, p0 - k0);                                       // O += P·V
        }
        for (int r = 0; r < nq; r++) {
            float inv = 1 / l[r];
            int oi = oOff + r * oStride;
            for (int d = 0; d < hs; d++) out[oi + d] = o[r * hsP + d] * inv;
            if (lse != null) lse[lseOff + r] = m[r] + (float) StrictMath.log(l[r]);
        }
    }

    /**
     * The online softmax of one key tile: mask, fold the tile into m and l, rescale the output rows by the change of
     * max. A method of its own so the compiled tile loop stays small enough for C2 to inline both exps here (an exp
     * left out of line boxes every vector passed to it).
     */
    private static void softmaxStep(Scratch sc, int w, int nq, int nqP, int p0, int k0, boolean causal) {
        float[] o = sc.o, corr = sc.corr;
        int hsP = sc.hsP;
        if (causal) maskCausal(sc.st, w, nqP, p0, k0);
        Tile.onlineSoftmax(sc.st, w, nqP, sc.m, sc.l, corr);
        for (int r = 0; r < nq; r++) if (corr[r] != 1f) Tile.scale(o, r * hsP, hsP, corr[r]);
    }

    /** The backward's softmax step on a tile: mask, P = exp(S − lse), dS = P ∘ (dP − D). Own method: see softmaxStep. */
    private static void gradStep(Scratch sc, int w, int nqP, int q0, int k0, boolean causal) {
        if (causal) maskCausal(sc.st, w, nqP, q0, k0);
        Tile.softmaxGrad(sc.st, sc.dst, w, nqP, sc.lse, q0, sc.d, q0);
    }

    /**
     * Sᵀ[j][i] = −∞ where key k0+j lies after query p0+i, for i &lt; nP (padding columns included, so entries a
     * causal GEMM skipped are never read stale). Only tiles on the diagonal have such entries.
     */
    private static void maskCausal(float[] st, int w, int nP, int p0, int k0) {
        for (int j = 0; j < w; j++) {
            int firstVisible = k0 + j - p0;              // queries i ≥ this see key j
            if (firstVisible <= 0) continue;
            Arrays.fill(st, j * TILE, j * TILE + Math.min(firstVisible, nP), Float.NEGATIVE_INFINITY);
        }
    }

    // ---- backward -------------------------------------------------------------------------------------------

    /**
     * dqkv [B,T,3C] (overwritten) from dout, out [B,T,C], qkv and lse [B,H,T], with the forward's mask. One task per
     * (batch, head); a sequence's padded rows get a zero gradient.
     */
    void backward(float[] dqkv, int dqkvOff, float[] dout, int doutOff, float[] qkv, int qkvOff,
                  float[] out, int outOff, float[] lse, int lseOff, int b, int t, int c, int heads,
                  boolean causal, int[] lengths) {
        int hs = c / heads, hsP = padded(hs);
        float scale = (float) (1 / Math.sqrt(hs));
        int c3 = 3 * c;
        dynamic(b * heads, (thread, bh) -> {
            Scratch sc = scratch(thread, hsP, t);
            int bi = bh / heads, h = bh % heads, len = lengths == null ? t : lengths[bi];
            int qRow = qkvOff + bi * t * c3 + h * hs, oRow = (bi * t) * c + h * hs, tp = sc.rows;
            float[] dq = sc.dq, st = sc.st, dst = sc.dst, dk = sc.dk, dv = sc.dv;
            float[] qtT = sc.qtT, doT = sc.doT, qRows = sc.qRows, doRows = sc.doRows, kRows = sc.kRows, vRows = sc.vRows;
            packHead(sc, qkv, qRow, c3, dout, doutOff + oRow, out, outOff + oRow, c, lse, lseOff + bh * t, len, hs, scale);
            // Causal: only query tiles at or after a key tile see it, and the diagonal tiles are part-masked.
            int rows = causal ? Tile.COLUMNS_FROM_ROW : Tile.FULL, after = causal ? Tile.K_FROM_ROW : Tile.FULL;
            int until = causal ? Tile.K_UNTIL_ROW : Tile.FULL;
            for (int k0 = 0; k0 < len; k0 += TILE) {
                int w = Math.min(TILE, len - k0);
                Arrays.fill(dk, 0, w * hsP, 0f);
                Arrays.fill(dv, 0, w * hsP, 0f);
                for (int q0 = causal ? k0 : 0; q0 < len; q0 += TILE) {
                    int nq = Math.min(TILE, len - q0), nqP = padded(nq);
                    int skew = k0 - q0;
                    Tile.gemm(w, nqP, hs, kRows, k0 * hsP, hsP, 1, qtT, q0, tp, st, 0, TILE, false, rows, skew);   // Sᵀ
                    Tile.gemm(w, nqP, hs, vRows, k0 * hsP, hsP, 1, doT, q0, tp, dst, 0, TILE, false, rows, skew);  // dPᵀ
                    gradStep(sc, w, nqP, q0, k0, causal);
                    Tile.gemm(w, hsP, nq, st, 0, TILE, 1, doRows, q0 * hsP, hsP, dv, 0, hsP, true, after, skew);  // dV += Pᵀ·dO
                    Tile.gemm(w, hsP, nq, dst, 0, TILE, 1, qRows, q0 * hsP, hsP, dk, 0, hsP, true, after, skew);  // dK += dSᵀ·Q
                    Tile.gemm(nq, hsP, w, dst, 0, 1, TILE, kRows, k0 * hsP, hsP, dq, q0 * hsP, hsP, true, until, -skew); // dQ += dS·K
                }
                for (int j = 0; j < w; j++) {
                    int to = dqkvOff + (bi * t + k0 + j) * c3 + h * hs;
                    for (int d = 0; d < hs; d++) dqkv[to + c + d] = dk[j * hsP + d] * scale;
                    System.arraycopy(dv, j * hsP, dqkv, to + 2 * c, hs);
                }
            }
            for (int i = 0; i < t; i++) {
                int to = dqkvOff + (bi * t + i) * c3 + h * hs;
                if (i < len) {
                    for (int d = 0; d < hs; d++) dqkv[to + d] = dq[i * hsP + d] * scale;
                } else {                                      // padding: no gradient for its q, k or v
                    for (int part = 0; part < 3; part++) Arrays.fill(dqkv, to + part * c, to + part * c + hs, 0f);
                }
            }
        });
    }

    // ---- packing --------------------------------------------------------------------------------------------

    /**
     * One head's panels for the backward: Qᵀ/√hs and dOᵀ for the score GEMMs, rows of Q, dO, K, V for the gradient
     * GEMMs, D_i = dO_i·O_i and lse_i (zero-padded to whole vectors), and a cleared dQ accumulator. Kept out of the
     * tile loop's method so that method stays small enough for C2 to inline its exp.
     */
    private static void packHead(Scratch sc, float[] qkv, int qRow, int c3, float[] dout, int dRow, float[] out,
                                 int oRow, int c, float[] lse, int lRow, int t, int hs, float scale) {
        int tp = sc.rows, hsP = sc.hsP, kRow = qRow + c, vRow = qRow + 2 * c;
        packTransposed(sc.qtT, tp, qkv, qRow, c3, t, padded(t), hs, scale, sc.gather);
        packTransposed(sc.doT, tp, dout, dRow, c, t, padded(t), hs, 1f, sc.gather);
        packRows(sc.qRows, qkv, qRow, c3, t, hs, hsP);
        packRows(sc.doRows, dout, dRow, c, t, hs, hsP);
        packRows(sc.kRows, qkv, kRow, c3, t, hs, hsP);
        packRows(sc.vRows, qkv, vRow, c3, t, hs, hsP);
        for (int i = 0; i < t; i++) {
            sc.d[i] = Tile.dot(dout, dRow + i * c, out, oRow + i * c, hs);
            sc.lse[i] = lse[lRow + i];
        }
        Arrays.fill(sc.d, t, tp, 0f);
        Arrays.fill(sc.lse, t, tp, 0f);
        Arrays.fill(sc.dq, 0, t * hsP, 0f);
    }

    /**
     * dst[d·ld + i] = f·src[off + i·stride + d] for i &lt; n, d &lt; hs; columns [n, nP) zeroed. Whole vectors of i
     * are gathered (lane l reads row i+l), so each store is contiguous.
     */
    private static void packTransposed(float[] dst, int ld, float[] src, int off, int stride, int n, int nP, int hs,
                                       float f, int[] rows) {
        for (int l = 0; l < L; l++) rows[l] = l * stride;
        int i = 0;
        for (; i + L <= n; i += L) {
            int si = off + i * stride;
            for (int d = 0; d < hs; d++) {
                FloatVector.fromArray(S, src, si + d, rows, 0).mul(f).intoArray(dst, d * ld + i);
            }
        }
        for (; i < n; i++) {
            int si = off + i * stride;
            for (int d = 0; d < hs; d++) dst[d * ld + i] = src[si + d] * f;
        }
        if (nP > n) for (int d = 0; d < hs; d++) Arrays.fill(dst, d * ld + n, d * ld + nP, 0f);
    }

    /** dst[j·hsP + d] = src[off + j·stride + d] for j &lt; n; head columns [hs, hsP) zeroed. */
    private static void packRows(float[] dst, float[] src, int off, int stride, int n, int hs, int hsP) {
        for (int j = 0; j < n; j++) {
            System.arraycopy(src, off + j * stride, dst, j * hsP, hs);
            if (hsP > hs) Arrays.fill(dst, j * hsP + hs, (j + 1) * hsP, 0f);
        }
    }

    /** Vector kernels on tile buffers. */
    static final class Tile {
        private Tile() {}

        /** {@link #gemm(int, int, int, float[], int, int, int, float[], int, int, float[], int, int, boolean, int, int)}: all of it. */
        static final int FULL = 0;
        /** Rows are keys j, columns queries i; only i ≥ j + skew is needed (columns left of it are masked later). */
        static final int COLUMNS_FROM_ROW = 1;
        /** Row r needs k &lt; r + 1 + skew only: the other A entries are zero (masked probabilities). */
        static final int K_UNTIL_ROW = 2;
        /** Row r needs k ≥ r + skew only: the other A entries are zero. */
        static final int K_FROM_ROW = 3;

        static void gemm(int m, int n, int kDim, float[] a, int aOff, int ars, int aks, float[] b, int bOff, int ldb,
                         float[] c, int cOff, int ldc, boolean acc) {
            gemm(m, n, kDim, a, aOff, ars, aks, b, bOff, ldb, c, cOff, ldc, acc, FULL, 0);
        }

        /**
         * C[r, 0:n] (+)= Σ_k A[r,k]·B[k, 0:n] for r &lt; m, with A read at a[aOff + r·ars + k·aks] (so a transposed A
         * costs nothing) and n a multiple of the vector length. Blocked 4 rows × up to 4 vectors. On a causal tile's
         * diagonal, {@code causal} and {@code skew} say which part is known to be masked, and each 4-row block skips
         * the whole vectors and k ranges that lie entirely in it — the same sums, about half the diagonal's work.
         */
        static void gemm(int m, int n, int kDim, float[] a, int aOff, int ars, int aks, float[] b, int bOff, int ldb,
                         float[] c, int cOff, int ldc, boolean acc, int causal, int skew) {
            for (int r = 0; r < m; ) {
                int rows = r + 4 <= m ? 4 : 1;
                int col = 0, k0 = 0, k1 = kDim;
                switch (causal) {
                    case COLUMNS_FROM_ROW -> col = Math.min(n, Math.max(0, Math.floorDiv(r + skew, L) * L));
                    case K_UNTIL_ROW -> k1 = Math.min(kDim, Math.max(0, r + rows + skew));
                    case K_FROM_ROW -> k0 = Math.min(kDim, Math.max(0, r + skew));
                    default -> { }
                }
                int kn = Math.max(0, k1 - k0), ai = aOff + r * ars + k0 * aks, bi = bOff + k0 * ldb, ci = cOff + r * ldc;
                if (rows == 4) {
                    for (; col + 4 * L <= n; col += 4 * L) block4x4(kn, a, ai, ars, aks, b, bi + col, ldb, c, ci + col, ldc, acc);
                    for (; col + 2 * L <= n; col += 2 * L) block4x2(kn, a, ai, ars, aks, b, bi + col, ldb, c, ci + col, ldc, acc);
                    for (; col < n; col += L) block4x1(kn, a, ai, ars, aks, b, bi + col, ldb, c, ci + col, ldc, acc);
                } else {
                    for (; col + 4 * L <= n; col += 4 * L) block1x4(kn, a, ai, aks, b, bi + col, ldb, c, ci + col, acc);
                    for (; col < n; col += L) block1x1(kn, a, ai, aks, b, bi + col, ldb, c, ci + col, acc);
                }
                r += rows;
            }
        }

        private static void block1x1(int kDim, float[] a, int ai, int aks, float[] b, int bi, int ldb, float[] c, int ci,
                                     boolean acc) {
            FloatVector c0 = acc ? FloatVector.fromArray(S, c, ci) : FloatVector.zero(S);
            for (int kk = 0; kk < kDim; kk++, ai += aks, bi += ldb) {
                c0 = FloatVector.fromArray(S, b, bi).fma(FloatVector.broadcast(S, a[ai]), c0);
            }
            c0.intoArray(c, ci);
        }

        /** Four vectors of block1x1's row at once: the same chains, four in flight, each row of B read in one go. */
        private static void block1x4(int kDim, float[] a, int ai, int aks, float[] b, int bi, int ldb, float[] c, int ci,
                                     boolean acc) {
            FloatVector c0, c1, c2, c3;
            if (acc) {
                c0 = FloatVector.fromArray(S, c, ci); c1 = FloatVector.fromArray(S, c, ci + L);
                c2 = FloatVector.fromArray(S, c, ci + 2 * L); c3 = FloatVector.fromArray(S, c, ci + 3 * L);
            } else {
                c0 = c1 = c2 = c3 = FloatVector.zero(S);
            }
            for (int kk = 0; kk < kDim; kk++, ai += aks, bi += ldb) {
                FloatVector x = FloatVector.broadcast(S, a[ai]);
                c0 = FloatVector.fromArray(S, b, bi).fma(x, c0);
                c1 = FloatVector.fromArray(S, b, bi + L).fma(x, c1);
                c2 = FloatVector.fromArray(S, b, bi + 2 * L).fma(x, c2);
                c3 = FloatVector.fromArray(S, b, bi + 3 * L).fma(x, c3);
            }
            c0.intoArray(c, ci); c1.intoArray(c, ci + L); c2.intoArray(c, ci + 2 * L); c3.intoArray(c, ci + 3 * L);
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

        /**
         * Σ exp(x − shift) over [off, off+n), also written back into x when {@code store}. One vector call site of
         * exp and a scalar tail: every extra inlined copy of exp risks C2's inlining budget, and an exp left out of
         * line boxes its vectors on every call.
         */
        static float expShift(float[] x, int off, int n, float shift, boolean store) {
            FloatVector sum = FloatVector.zero(S);
            int i = 0;
            for (int bound = S.loopBound(n); i < bound; i += L) {
                FloatVector e = Lanes.exp(FloatVector.fromArray(S, x, off + i).sub(shift));
                if (store) e.intoArray(x, off + i);
                sum = sum.add(e);
            }
            float total = Lanes.sum(sum);
            for (; i < n; i++) {
                float e = (float) StrictMath.exp(x[off + i] - shift);
                if (store) x[off + i] = e;
                total += e;
            }
            return total;
        }

        /**
         * Online-softmax step on a transposed score tile st[j·TILE + i] (w keys × nP queries): per query, the new max
         * m' = max(m, max_j s), corr = e^(m − m'), p = e^(s − m') written back, l ← l·corr + Σ_j p, m ← m'.
         * st needs a spare row w.
         */
        static void onlineSoftmax(float[] st, int w, int nP, float[] m, float[] l, float[] corr) {
            for (int i = 0; i < nP; i += L) {
                FloatVector mx = FloatVector.fromArray(S, st, i);
                for (int j = 1; j < w; j++) mx = mx.max(FloatVector.fromArray(S, st, j * TILE + i));
                FloatVector mOld = FloatVector.fromArray(S, m, i), mNew = mOld.max(mx);
                // The old max rides along as row w, so one exp call site also yields corr = e^(m − m') (a second
                // inlined exp can exhaust C2's inlining budget); its weight 0 keeps it out of the sum exactly.
                mOld.intoArray(st, w * TILE + i);
                FloatVector sum = FloatVector.zero(S);
                for (int j = 0; j <= w; j++) {
                    FloatVector p = Lanes.exp(FloatVector.fromArray(S, st, j * TILE + i).sub(mNew));
                    p.intoArray(st, j * TILE + i);
                    sum = sum.add(p.mul(j < w ? 1f : 0f));
                }
                FloatVector cr = FloatVector.fromArray(S, st, w * TILE + i);
                cr.intoArray(corr, i);
                FloatVector.fromArray(S, l, i).fma(cr, sum).intoArray(l, i);
                mNew.intoArray(m, i);
            }
        }

        /**
         * Backward on transposed tiles: p = exp(s − lse_i) into st, dst ← p·(dst − D_i), for w keys × nP queries;
         * lse and D are read at lseOff + i and dOff + i.
         */
        static void softmaxGrad(float[] st, float[] dst, int w, int nP, float[] lse, int lseOff, float[] dd, int dOff) {
            for (int i = 0; i < nP; i += L) {
                FloatVector lv = FloatVector.fromArray(S, lse, lseOff + i), dv = FloatVector.fromArray(S, dd, dOff + i);
                for (int j = 0; j < w; j++) {
                    int at = j * TILE + i;
                    FloatVector p = Lanes.exp(FloatVector.fromArray(S, st, at).sub(lv));
                    p.intoArray(st, at);
                    p.mul(FloatVector.fromArray(S, dst, at).sub(dv)).intoArray(dst, at);
                }
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
            float sum = Lanes.sum(acc);
            for (; i < n; i++) sum += a[ai + i] * b[bi + i];
            return sum;
        }
    }
}
