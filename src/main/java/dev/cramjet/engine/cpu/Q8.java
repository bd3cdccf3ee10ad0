package dev.cramjet.engine.cpu;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;

import static dev.cramjet.engine.cpu.Loops.L;
import static dev.cramjet.engine.cpu.Loops.S;

/**
 * Q8_0 weights on the CPU (ggml's layout in meaning, not in bytes): a row of C values is C/32 blocks, each 32 int8
 * quants in {@code q} and one scale in {@code d} (an fp16 value, held as the float it converts to exactly), value =
 * d·q. Quants and scales live in separate arrays so 32 quants load as whole vectors. Index conventions: value i of a
 * tensor is q[i], its block's scale d[i / 32].
 *
 * <p>The matmul y = x·Wᵀ quantizes x too, per block of 32 ({@link #quantizeRows}), and multiplies int8 by int8: each
 * block's 32 products summed exactly in integers, scaled by d_w·d_x and added into the output block after block, in
 * order. The native kernel ({@link Q8Native}: AVX-512 VNNI, 64 int8 multiply-adds per instruction) computes it where
 * it can be built; {@link #panel} is its Java twin, the same bits, and the reference. Either way each output
 * element's arithmetic is the same for any number of rows, so a row of a batch gets the bits it gets alone.
 */
final class Q8 {
    private Q8() {}

    static final int BLOCK = 32;
    /** Bytes holding as many quants as S has float lanes (16 on AVX-512: a 128-bit load). */
    private static final VectorSpecies<Byte> BS = VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8));
    /** Products smaller than this run on the calling thread: waking the team would cost more. */
    private static final long PARALLEL_MIN = 1L << 20;
    /** Adding 1.5·2²³ rounds a float below 2²² to the nearest integer, ties to even. */
    private static final float ROUNDER = 12582912f;

    // ---- quantization ----------------------------------------------------------------------------------------

    /**
     * Quantizes n values (whole blocks) x[xo..] into q[qo..], d[qo/32..] by ggml's rule: d = max|x|/127, the scale
     * stored as fp16 (round to nearest even), q = round(x·(1/d)) half away from zero, 1/d from the unrounded d.
     */
    static void quantize(float[] x, int xo, byte[] q, float[] d, int qo, int n) {
        for (int b = 0; b < n / BLOCK; b++) {
            int xi = xo + b * BLOCK, qi = qo + b * BLOCK;
            float amax = 0;
            for (int j = 0; j < BLOCK; j++) amax = Math.max(amax, Math.abs(x[xi + j]));
            float scale = amax / 127, inv = scale != 0 ? 1 / scale : 0;
            d[qi / BLOCK] = Float.float16ToFloat(Float.floatToFloat16(scale));
            for (int j = 0; j < BLOCK; j++) {
                float v = x[xi + j] * inv;
                q[qi + j] = (byte) Math.copySign(Math.floor(Math.abs((double) v) + 0.5), v);
            }
        }
    }

    /** y[yo + j] = d·q for the n values (whole blocks) from index qo. */
    static void dequantize(byte[] q, float[] d, int qo, int n, float[] y, int yo) {
        for (int j = 0; j < n; j++) y[yo + j] = d[(qo + j) / BLOCK] * q[qo + j];
    }

    /** Reads ggml block_q8_0 bytes {fp16 d little-endian, 32 × int8} for n values into q, d from index qo. */
    static void fromBlocks(byte[] blocks, byte[] q, float[] d, int qo, int n) {
        for (int b = 0; b < n / BLOCK; b++) {
            int at = b * 34, qi = qo + b * BLOCK;
            short half = (short) ((blocks[at] & 0xFF) | (blocks[at + 1] << 8));
            d[qi / BLOCK] = Float.float16ToFloat(half);
            System.arraycopy(blocks, at + 2, q, qi, BLOCK);
        }
    }

    /** The inverse of {@link #fromBlocks}. */
    static void toBlocks(byte[] q, float[] d, int qo, int n, byte[] blocks) {
        for (int b = 0; b < n / BLOCK; b++) {
            int at = b * 34, qi = qo + b * BLOCK;
            short half = Float.floatToFloat16(d[qi / BLOCK]);
            blocks[at] = (byte) half;
            blocks[at + 1] = (byte) (half >> 8);
            System.arraycopy(q, qi, blocks, at + 2, BLOCK);
        }
    }

    /**
     * Quantizes {@code values} (whole blocks) of x[xo..] into q[0..], d[0..] as the product does: per block
     * d = max|x|/127 in fp32, q = rint(x·(127/max|x|)) with ties to even (ggml's quantize_row_q8_0 as its SIMD code
     * rounds, with d kept in fp32); a zero block gives d = 0, q = 0.
     */
    static void quantizeRows(float[] x, int xo, int values, byte[] q, float[] d) {
        for (int b = 0; b < values / BLOCK; b++) {
            int xi = xo + b * BLOCK, qi = b * BLOCK;
            FloatVector m = FloatVector.fromArray(S, x, xi).abs();
            for (int v = L; v < BLOCK; v += L) m = m.max(FloatVector.fromArray(S, x, xi + v).abs());
            float amax = m.reduceLanes(VectorOperators.MAX), inv = amax != 0 ? 127f / amax : 0;
            d[b] = amax / 127;
            for (int v = 0; v < BLOCK; v += L) {
                FloatVector r = FloatVector.fromArray(S, x, xi + v).mul(inv).add(ROUNDER).sub(ROUNDER);
                r.convertShape(VectorOperators.F2B, BS, 0).reinterpretAsBytes().intoArray(q, qi + v);
            }
        }
    }

    /** One thread's quantized rows of x (and as floats for the Java kernel), the native kernel's corrections. */
    private static final class Rows {
        byte[] q = new byte[0];
        float[] d = new float[0], f = new float[0];
        int[] sums = new int[0];
        MemorySegment qs, ds, ss;

        void fit(int m, int k) {
            if (q.length >= m * k) return;
            q = new byte[m * k];
            f = new float[m * k];
            d = new float[m * k / BLOCK];
            sums = new int[m * k / BLOCK];
            qs = MemorySegment.ofArray(q);
            ds = MemorySegment.ofArray(d);
            ss = MemorySegment.ofArray(sums);
        }
    }

    private static final ThreadLocal<Rows> ROWS = ThreadLocal.withInitial(Rows::new);

    /**
     * W [n,k] in the Java kernel's layout, made once per weight and kept by its storage: panels of L columns (one
     * per float lane), per block its 32 quants × L columns, then per block the L columns' scales; columns past n are
     * zero.
     */
    record Panels(byte[] q, float[] d) {
        long bytes() { return q.length + 4L * d.length; }
    }

    static Panels panels(byte[] q, float[] d, int wo, int n, int k) {
        int nb = k / BLOCK, count = (n + L - 1) / L;
        byte[] pq = new byte[count * L * k];
        float[] pd = new float[count * L * nb];
        for (int j = 0; j < n; j++) {
            int p = j / L, l = j % L, row = wo + j * k;
            for (int b = 0; b < nb; b++) {
                int at = (p * nb + b) * BLOCK * L + l;
                for (int e = 0; e < BLOCK; e++) pq[at + e * L] = q[row + b * BLOCK + e];
                pd[(p * nb + b) * L + l] = d[row / BLOCK + b];
            }
        }
        return new Panels(pq, pd);
    }

    /**
     * C[M,N] (+)= A[M,K]·Wᵀ with W [N,K] in Q8_0 (quants from index wo of w), A's rows quantized by
     * {@link #quantizeRows}, C from index cOff of c's floats: K is a multiple of 32.
     */
    static void nt(float[] a, int aOff, CpuStorage w, int wo, CpuStorage c, int cOff, int m, int n, int k,
                   boolean accumulate) {
        nt(Q8Native.KERNEL, a, aOff, w, wo, c, cOff, m, n, k, accumulate);
    }

    /** {@link #nt} on the native kernel, or on the Java one when kernel is null. */
    static void nt(Q8Native kernel, float[] a, int aOff, CpuStorage w, int wo, CpuStorage c, int cOff, int m, int n,
                   int k, boolean accumulate) {
        Rows x = ROWS.get();
        x.fit(m, k);
        quantizeRows(a, aOff, m * k, x.q, x.d);
        Parallel.Range columns;
        if (kernel != null) {
            kernel.sums(x.qs, m, k, x.ss);
            Q8Native.Packed packed = w.q8Packed(kernel, wo, n, k);
            MemorySegment cs = c.segment();
            columns = (j0, j1) -> kernel.matmul(packed, x.qs, x.ds, x.ss, cs, cOff, n, m, k, j0, j1, accumulate);
        } else {
            for (int i = 0; i < m * k; i++) x.f[i] = x.q[i];
            Panels panels = w.q8Panels(wo, n, k);
            float[] xf = x.f, xd = x.d, out = c.f32;
            // A panel of W, once read, serves every row of x from the cache; the panels stream in memory order.
            columns = (j0, j1) -> {
                for (int p = j0 / L; p * L < j1; p++) {
                    int width = Math.min(L, j1 - p * L), i = 0;
                    for (; i + 4 <= m; i += 4) panelBy4(xf, xd, i, k, panels, p, out, cOff + i * n + p * L, n, width, accumulate);
                    for (; i < m; i++) panel(xf, xd, i, k, panels, p, out, cOff + i * n + p * L, width, accumulate);
                }
            };
        }
        // Chunks of whole 16-column panels: the native kernel's unit (and a whole number of the Java kernel's).
        if ((long) m * n * k < PARALLEL_MIN) columns.run(0, n);
        else Parallel.range(n, 16, columns);
    }

    /**
     * c[ci + l] (+)= the product for row i of x (quants as floats in xf, scales xd) and the width columns of panel
     * p, lane l one column: per block, s = Σ quant·quant in a lane (integers below 2²⁴, so exact, as the native
     * kernel's int32 sum), then a = fma(s, fl(d_w·d_x), a), blocks in order.
     */
    private static void panel(float[] xf, float[] xd, int i, int k, Panels w, int p, float[] c, int ci, int width,
                              boolean accumulate) {
        int nb = k / BLOCK, xi = i * k;
        FloatVector a = FloatVector.zero(S);
        for (int b = 0; b < nb; b++) {
            int wb = (p * nb + b) * BLOCK * L, xb = xi + b * BLOCK;
            FloatVector s = FloatVector.zero(S);
            for (int e = 0; e < BLOCK; e++) s = quants(w.q(), wb + e * L).fma(FloatVector.broadcast(S, xf[xb + e]), s);
            a = s.fma(FloatVector.fromArray(S, w.d(), (p * nb + b) * L).mul(xd[i * nb + b]), a);
        }
        store(a, c, ci, width, accumulate);
    }

    /** {@link #panel} for rows i..i+3 (c rows n apart), each vector of quants converted once for the four. */
    private static void panelBy4(float[] xf, float[] xd, int i, int k, Panels w, int p, float[] c, int ci, int n,
                                 int width, boolean accumulate) {
        int nb = k / BLOCK, x0 = i * k, x1 = x0 + k, x2 = x1 + k, x3 = x2 + k;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        for (int b = 0; b < nb; b++) {
            int wb = (p * nb + b) * BLOCK * L, xb = b * BLOCK;
            FloatVector s0 = FloatVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
            for (int e = 0; e < BLOCK; e++) {
                FloatVector q = quants(w.q(), wb + e * L);
                s0 = q.fma(FloatVector.broadcast(S, xf[x0 + xb + e]), s0);
                s1 = q.fma(FloatVector.broadcast(S, xf[x1 + xb + e]), s1);
                s2 = q.fma(FloatVector.broadcast(S, xf[x2 + xb + e]), s2);
                s3 = q.fma(FloatVector.broadcast(S, xf[x3 + xb + e]), s3);
            }
            FloatVector dw = FloatVector.fromArray(S, w.d(), (p * nb + b) * L);
            a0 = s0.fma(dw.mul(xd[i * nb + b]), a0);
            a1 = s1.fma(dw.mul(xd[(i + 1) * nb + b]), a1);
            a2 = s2.fma(dw.mul(xd[(i + 2) * nb + b]), a2);
            a3 = s3.fma(dw.mul(xd[(i + 3) * nb + b]), a3);
        }
        store(a0, c, ci, width, accumulate);
        store(a1, c, ci + n, width, accumulate);
        store(a2, c, ci + 2 * n, width, accumulate);
        store(a3, c, ci + 3 * n, width, accumulate);
    }

    /** c[ci..ci + width) = a's lanes, or c + a when accumulating. */
    private static void store(FloatVector a, float[] c, int ci, int width, boolean accumulate) {
        VectorMask<Float> keep = S.indexInRange(0, width);
        if (accumulate) a = FloatVector.fromArray(S, c, ci, keep).add(a);
        a.intoArray(c, ci, keep);
    }

    /** L quants from index i as floats. */
    private static FloatVector quants(byte[] q, int i) {
        return (FloatVector) ByteVector.fromArray(BS, q, i).convertShape(VectorOperators.B2F, S, 0);
    }
}
