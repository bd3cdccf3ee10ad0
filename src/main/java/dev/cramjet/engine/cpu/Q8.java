package dev.cramjet.engine.cpu;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
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
 * it can be built; {@link #dot} is its Java twin, the same bits, and the reference. Either way each output
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

    /** One thread's quantized rows of x and the native kernel's corrections for them, grown as needed. */
    private static final class Rows {
        byte[] q = new byte[0];
        float[] d = new float[0];
        int[] sums = new int[0];
        MemorySegment qs, ds, ss;

        void fit(int m, int k) {
            if (q.length >= m * k) return;
            q = new byte[m * k];
            d = new float[m * k / BLOCK];
            sums = new int[m * k / BLOCK];
            qs = MemorySegment.ofArray(q);
            ds = MemorySegment.ofArray(d);
            ss = MemorySegment.ofArray(sums);
        }
    }

    private static final ThreadLocal<Rows> ROWS = ThreadLocal.withInitial(Rows::new);

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
            byte[] q = w.q8, xq = x.q;
            float[] d = w.q8Scale, xd = x.d, out = c.f32;
            // Row by row of W, in memory order: one long sequential stream the hardware prefetcher follows; each
            // row of W, once read, serves every row of x from the cache.
            columns = (j0, j1) -> {
                for (int j = j0; j < j1; j++) {
                    for (int i = 0; i < m; i++) {
                        int ci = cOff + i * n + j;
                        float v = dot(xq, xd, i * k, q, d, wo + j * k, k);
                        out[ci] = accumulate ? out[ci] + v : v;
                    }
                }
            };
        }
        // Chunks of whole 16-column panels: the native kernel's unit.
        if ((long) m * n * k < PARALLEL_MIN) columns.run(0, n);
        else Parallel.range(n, 16, columns);
    }

    /**
     * The product's sum for the quantized row of x at xi and the row of W at quant index wr, block by block in
     * order: a = fma(s, fl(d_w·d_x), a), s the block's integer sum (as a float: partial sums of 32 int8 products are
     * integers below 2²⁴, exact in any order).
     */
    private static float dot(byte[] xq, float[] xd, int xi, byte[] q, float[] d, int wr, int k) {
        float a = 0;
        for (int p = 0; p < k; p += BLOCK) {
            FloatVector v = quants(q, wr + p).mul(quants(xq, xi + p));
            for (int e = L; e < BLOCK; e += L) v = quants(q, wr + p + e).fma(quants(xq, xi + p + e), v);
            a = Math.fma(v.reduceLanes(VectorOperators.ADD), d[(wr + p) / BLOCK] * xd[(xi + p) / BLOCK], a);
        }
        return a;
    }

    /** L quants from index i as floats. */
    private static FloatVector quants(byte[] q, int i) {
        return (FloatVector) ByteVector.fromArray(BS, q, i).convertShape(VectorOperators.B2F, S, 0);
    }
}
