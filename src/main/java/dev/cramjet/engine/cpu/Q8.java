package dev.cramjet.engine.cpu;

import dev.cramjet.Lanes;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

import static dev.cramjet.engine.cpu.Loops.L;
import static dev.cramjet.engine.cpu.Loops.S;

/**
 * Q8_0 weights on the CPU (ggml's layout in meaning, not in bytes): a row of C values is C/32 blocks, each 32 int8
 * quants in {@code q} and one scale in {@code d} (an fp16 value, held as the float it converts to exactly), value =
 * d·q. Quants and scales live in separate arrays so 32 quants load as whole vectors. Index conventions: value i of a
 * tensor is q[i], its block's scale d[i / 32].
 *
 * <p>The matmul y = x·Wᵀ reads the quants directly. With few rows of x (decoding a token) it is a memory-bound
 * matrix-vector product, and a quarter of fp32's bytes is the point: each block's 32 quants become floats in
 * registers (sign-extending conversion), multiply x, and the block's sum is scaled by d once. With many rows
 * (a prompt) a 64-row panel of W is expanded to fp32 once and reused by every row of x.
 */
final class Q8 {
    private Q8() {}

    static final int BLOCK = 32;
    /** Bytes holding as many quants as S has float lanes (16 on AVX-512: a 128-bit load). */
    private static final VectorSpecies<Byte> BS = VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8));
    /**
     * Rows of x below which the product takes dot products over the quants, each vector of quants converted once
     * for four rows of x: a decode step of that many sequences, each row summed as it would be alone. Measured
     * crossover with the expanded panels: even at 32 rows, 15% slower at 48.
     */
    static final int FEW_ROWS = 32;
    /** Products smaller than this run on the calling thread: waking the team would cost more. */
    private static final long PARALLEL_MIN = 1L << 20;
    /** Output rows of W expanded to fp32 at a time for many rows of x. */
    private static final int PANEL = 64;

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

    // ---- matmul ----------------------------------------------------------------------------------------------

    /** Per-thread fp32 panel of W, transposed: [C][PANEL]. */
    private static final ThreadLocal<float[][]> PANELS = ThreadLocal.withInitial(() -> new float[1][0]);
    /** Per-thread fp32 rows of a panel before the transpose, [PANEL][C], and the transpose's L×L scratch. */
    private static final ThreadLocal<float[][]> ROWS = ThreadLocal.withInitial(() -> new float[][] {new float[0], new float[L * L]});

    /**
     * C[M,N] (+)= A[M,K]·Wᵀ with W [N,K] in Q8_0 (quants from index wo), the fp32 twin of {@link Gemm#nt}:
     * K is a multiple of 32.
     */
    static void nt(float[] a, int aOff, byte[] q, float[] d, int wo, float[] c, int cOff, int m, int n, int k,
                   boolean accumulate) {
        if (m < FEW_ROWS) {
            // Row by row of W, in memory order: one long sequential stream the hardware prefetcher follows. Four
            // rows of W at a time (four short interleaved streams, 768 bytes each on gpt2-124m) ran a third as fast
            // from DRAM at batch 1. Each row of W, once read, serves every row of x from the cache.
            Parallel.Range columns = (j0, j1) -> {
                for (int j = j0; j < j1; j++) {
                    int wr = wo + j * k, i = 0;
                    for (; i + 4 <= m; i += 4) rowBy4(a, aOff + i * k, q, d, wr, k, c, cOff + i * n + j, n, accumulate);
                    for (; i < m; i++) {
                        int ci = cOff + i * n + j;
                        c[ci] = (accumulate ? c[ci] : 0) + dot(a, aOff + i * k, q, d, wr, k);
                    }
                }
            };
            if ((long) m * n * k < PARALLEL_MIN) columns.run(0, n);
            else Parallel.range(n, 4, columns);
            return;
        }
        int panels = (n + PANEL - 1) / PANEL;
        Parallel.range(panels, (p0, p1) -> {
            float[][] holder = PANELS.get(), rows = ROWS.get();
            if (holder[0].length < k * PANEL) holder[0] = new float[k * PANEL];
            if (rows[0].length < k * PANEL) rows[0] = new float[k * PANEL];
            float[] wt = holder[0];
            float[] tail = null;
            for (int p = p0; p < p1; p++) {
                int j0 = p * PANEL, w = Math.min(PANEL, n - j0), wp = FlashAttention.padded(w);
                expand(q, d, wo + j0 * k, w, wp, k, wt, rows[0], rows[1]);
                if (w == wp) {
                    FlashAttention.Tile.gemm(m, wp, k, a, aOff, k, 1, wt, 0, PANEL, c, cOff + j0, n, accumulate);
                } else {
                    // A panel narrower than whole vectors: compute it into a padded buffer, keep its w columns.
                    if (tail == null) tail = new float[m * wp];
                    FlashAttention.Tile.gemm(m, wp, k, a, aOff, k, 1, wt, 0, PANEL, tail, 0, wp, false);
                    for (int i = 0; i < m; i++) {
                        int ci = cOff + i * n + j0;
                        for (int j = 0; j < w; j++) c[ci + j] = (accumulate ? c[ci + j] : 0) + tail[i * wp + j];
                    }
                }
            }
        });
    }

    /**
     * wt[kk·PANEL + j] = W[j, kk] for j &lt; w, columns [w, wp) zero: the w rows dequantized along their quants into
     * rows (whole vectors, d·q as the scalar product gives it), then transposed in L×L blocks — element by element
     * with a stride of PANEL floats, the expansion had taken about a sixth of an int8 prompt's time.
     */
    private static void expand(byte[] q, float[] d, int wo, int w, int wp, int k, float[] wt, float[] rows, float[] tmp) {
        for (int j = 0; j < w; j++) {
            int row = wo + j * k;
            for (int p = 0; p < k; p += BLOCK) {
                FloatVector scale = FloatVector.broadcast(S, d[(row + p) / BLOCK]);
                for (int v = 0; v < BLOCK; v += L) quants(q, row + p + v).mul(scale).intoArray(rows, j * k + p + v);
            }
        }
        Gemm.transpose(rows, 0, k, w, k, wt, 0, PANEL, tmp);
        if (wp > w) for (int kk = 0; kk < k; kk++) Arrays.fill(wt, kk * PANEL + w, kk * PANEL + wp, 0f);
    }

    /**
     * Σ_p a[ai + p]·W[p] for the row of W at quant index wr: each block's dot product summed in a vector and scaled
     * by its d, the lanes summed once at the end in Lanes.sum's fixed order.
     */
    private static float dot(float[] a, int ai, byte[] q, float[] d, int wr, int k) {
        FloatVector s = FloatVector.zero(S);
        for (int p = 0; p < k; p += BLOCK) {
            FloatVector b = FloatVector.zero(S);
            for (int v = 0; v < BLOCK; v += L) b = quants(q, wr + p + v).fma(FloatVector.fromArray(S, a, ai + p + v), b);
            s = b.fma(FloatVector.broadcast(S, d[(wr + p) / BLOCK]), s);
        }
        return Lanes.sum(s);
    }

    /**
     * c[ci + i·n] (+)= Σ_p a[ai + i·k + p]·W[p] for four rows i of x and the row of W at quant index wr, each
     * element summed exactly as {@link #dot} sums it; each vector of quants is converted once for the four.
     */
    private static void rowBy4(float[] a, int ai, byte[] q, float[] d, int wr, int k, float[] c, int ci, int n,
                               boolean accumulate) {
        int a1 = ai + k, a2 = ai + 2 * k, a3 = ai + 3 * k;
        FloatVector s0 = FloatVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
        for (int p = 0; p < k; p += BLOCK) {
            FloatVector b0 = FloatVector.zero(S), b1 = b0, b2 = b0, b3 = b0;
            for (int v = 0; v < BLOCK; v += L) {
                FloatVector w = quants(q, wr + p + v);
                b0 = w.fma(FloatVector.fromArray(S, a, ai + p + v), b0);
                b1 = w.fma(FloatVector.fromArray(S, a, a1 + p + v), b1);
                b2 = w.fma(FloatVector.fromArray(S, a, a2 + p + v), b2);
                b3 = w.fma(FloatVector.fromArray(S, a, a3 + p + v), b3);
            }
            FloatVector scale = FloatVector.broadcast(S, d[(wr + p) / BLOCK]);
            s0 = b0.fma(scale, s0);
            s1 = b1.fma(scale, s1);
            s2 = b2.fma(scale, s2);
            s3 = b3.fma(scale, s3);
        }
        c[ci] = (accumulate ? c[ci] : 0) + Lanes.sum(s0);
        c[ci + n] = (accumulate ? c[ci + n] : 0) + Lanes.sum(s1);
        c[ci + 2 * n] = (accumulate ? c[ci + 2 * n] : 0) + Lanes.sum(s2);
        c[ci + 3 * n] = (accumulate ? c[ci + 3 * n] : 0) + Lanes.sum(s3);
    }

    /** L quants from index i as floats. */
    private static FloatVector quants(byte[] q, int i) {
        return (FloatVector) ByteVector.fromArray(BS, q, i).convertShape(VectorOperators.B2F, S, 0);
    }
}
