/*
 * q8.c — Cramjet's int8 × int8 matrix product on AVX-512 VNNI CPUs (engine/cpu/Q8Native.java compiles it with the
 * machine's C compiler at first use, -O3 -march=native -ffp-contract=off, and binds it with FFM; engine/cpu/Q8.java
 * holds the Java twin that computes the same bits where this cannot be built).
 *
 * The math, for x [n][k] (rows of activations) and W [oc][k] (Q8_0 weights), k a multiple of 32, nb = k/32 blocks:
 *   x is quantized per block by Java (Q8.quantizeRows): xd = max|x|/127, xq = rint(x·(127/max|x|)) ∈ [-127, 127].
 *   For output (r, j) and block b: s_b = Σ_{e<32} wq[j][32b+e]·xq[r][32b+e] (exact in int32),
 *   dd_b = fl(wd[j][b]·xd[r][b]). Blocks are taken 16 at a time (group g = blocks 16g..16g+15, the last one padded
 *   with s = dd = 0), and lane L of 16 fp32 accumulators takes block 16g + BETA(L) of every group:
 *   a_L = fma(float(s), dd, a_L), groups in order. Then out = the lane sum in Lanes.sum's order (lane i absorbs lane
 *   i+8, then i+4, i+2, i+1), and c[r][j] = out, or c[r][j] + out when accumulating. Each output's arithmetic does
 *   not depend on n or on how columns are split between threads, so a row gets the same bits alone or in a batch.
 *
 * Conventions: pointers are to element 0 of Java arrays (heap segments, passed with Linker.Option.critical) and the
 * offsets are element counts; c is row-major with row stride ldc; columns [j0, j1) are computed, so threads split
 * the columns. Nothing here allocates or keeps state.
 *
 * Why this layout. vpdpbusd multiplies 4 unsigned bytes by 4 signed bytes per int32 lane and adds the four
 * products into the lane. Signs: W is made unsigned in registers (w + 128, one xor per load, shared by all rows),
 * x stays signed, and q8_pack stores each block's correction 128·Σx beside x, so s = Σ(w+128)·x − 128·Σx exactly.
 * Blocks: a lane may only ever see products of one block (each block has its own scale), so 8 zmm of W in memory
 * order (two blocks each) are transposed in registers — 128-bit lanes regrouped (vshufi32x4), then 4×4 dword
 * transposes (vpunpck*) — into 8 zmm whose lane L holds dword s of block BETA(L) = 4·(L%4) + L/4; x is packed once
 * per product into that same order, so 8 vpdpbusd per row (x straight from memory) give the 16 blocks' exact sums
 * in one register. The transpose (24 shuffles per 16 blocks of a column) is shared by the ROWS rows of a tile; the
 * per-row work is 8 vpdpbusd, the correction, one convert, one multiply, one FMA. Columns run in memory order, so a
 * single row (decoding) streams W once, front to back.
 */
#include <stdint.h>
#include <string.h>
#include <immintrin.h>

#if !(defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && defined(__AVX512VNNI__))
#error "q8.c needs AVX-512 F, BW, DQ and VNNI (the Java kernel serves other CPUs)"
#endif

#define GROUP 16          /* blocks per accumulator register */
#define GROUP_BYTES 576   /* packed bytes of x per group and row: 512 quants, 16 int32 corrections */
#define ROWS 12           /* rows of x sharing one transposed group of W (16 would spill the accumulators) */
#define COLUMNS 32        /* columns of W per chunk: a chunk of W stays in L2 while every row tile passes over it */

/* BETA(L): the block of its group that accumulator lane L holds (a 4×4 transpose, so its own inverse). */
static inline int beta(int lane) { return 4 * (lane % 4) + lane / 4; }

/*
 * Packs n quantized rows (xq [n][k], xd [n][nb]) into xp: per row, per group, 8 steps of 16 dwords, dword (s, L) =
 * bytes 4s..4s+3 of block BETA(L), then 16 int32: 128·Σ of block BETA(L)'s quants; xdp: per row, per group, the 16
 * scales in lane order. Padding of the last group is zero. Rows of xp are groups·576 bytes, of xdp groups·16 floats.
 */
void q8_pack(const int8_t *xq, const float *xd, int n, int k, uint8_t *xp, float *xdp) {
    int nb = k / 32, groups = (nb + GROUP - 1) / GROUP;
    for (int r = 0; r < n; r++) {
        uint8_t *p = xp + (size_t) r * groups * GROUP_BYTES;
        float *pd = xdp + (size_t) r * groups * GROUP;
        memset(p, 0, (size_t) groups * GROUP_BYTES);
        memset(pd, 0, (size_t) groups * GROUP * sizeof(float));
        for (int b = 0; b < nb; b++) {
            int g = b / GROUP, lane = beta(b % GROUP), sum = 0;
            const int8_t *q = xq + (size_t) r * k + 32 * b;
            uint8_t *pg = p + (size_t) g * GROUP_BYTES;
            for (int s = 0; s < 8; s++) memcpy(pg + s * 64 + lane * 4, q + 4 * s, 4);
            for (int e = 0; e < 32; e++) sum += q[e];
            int32_t corr = 128 * sum;
            memcpy(pg + 512 + lane * 4, &corr, 4);
            pd[g * GROUP + lane] = xd[(size_t) r * nb + b];
        }
    }
}

/* In-lane 4×4 dword transpose of a[0..3] into z[0..3]: z[s] 128-bit lane j, dword m = a[m] lane j, dword s. */
static inline void transpose4(const __m512i *a, __m512i *z) {
    __m512i t0 = _mm512_unpacklo_epi32(a[0], a[1]), t1 = _mm512_unpackhi_epi32(a[0], a[1]);
    __m512i t2 = _mm512_unpacklo_epi32(a[2], a[3]), t3 = _mm512_unpackhi_epi32(a[2], a[3]);
    z[0] = _mm512_unpacklo_epi64(t0, t2);
    z[1] = _mm512_unpackhi_epi64(t0, t2);
    z[2] = _mm512_unpacklo_epi64(t1, t3);
    z[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* The 16 lanes summed as Lanes.sum sums them. */
static inline float lane_sum(__m512 v) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

/*
 * Column j (W row wr, scales wdr) for R rows of packed x from xp/xdp: R is a constant at every call, so the
 * accumulators stay in registers.
 */
static inline __attribute__((always_inline)) void column(const int R, const int8_t *wr, const float *wdr,
        const uint8_t *xp, const float *xdp, int nb, float *c, int ldc, int accumulate) {
    const int groups = (nb + GROUP - 1) / GROUP;
    const size_t xs = (size_t) groups * GROUP_BYTES, ds = (size_t) groups * GROUP;
    const __m512i bias = _mm512_set1_epi8((char) 0x80);
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    __m512 acc[ROWS];
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
    for (int g = 0; g < groups; g++) {
        int blocks = nb - g * GROUP < GROUP ? nb - g * GROUP : GROUP;
        const int8_t *wg = wr + (size_t) g * GROUP * 32;
        __m512i w[8], p[4], q[4], z[8];
#pragma GCC unroll 8
        for (int t = 0; t < 8; t++) {
            int bytes = blocks * 32 - 64 * t;
            /* Masked loads read nothing past the row's last block (and never fault). */
            __mmask64 m = bytes >= 64 ? ~0ULL : bytes <= 0 ? 0 : (1ULL << bytes) - 1;
            w[t] = blocks == GROUP ? _mm512_loadu_si512(wg + 64 * t) : _mm512_maskz_loadu_epi8(m, wg + 64 * t);
        }
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            p[i] = _mm512_shuffle_i32x4(w[2 * i], w[2 * i + 1], 0x88);   /* dwords 0-3 of blocks 4i..4i+3 */
            q[i] = _mm512_shuffle_i32x4(w[2 * i], w[2 * i + 1], 0xDD);   /* dwords 4-7 */
        }
        transpose4(p, z);
        transpose4(q, z + 4);
        /* W + 128 as the unsigned operand: padding becomes 128 too, against x's zero padding. */
#pragma GCC unroll 8
        for (int t = 0; t < 8; t++) z[t] = _mm512_xor_si512(z[t], bias);
        __m512 wd = _mm512_permutexvar_ps(order, _mm512_maskz_loadu_ps((__mmask16) ((1u << blocks) - 1), wdr + g * GROUP));
#pragma GCC unroll 16
        for (int r = 0; r < R; r++) {
            const uint8_t *x = xp + r * xs + (size_t) g * GROUP_BYTES;
            __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), z[0], _mm512_loadu_si512(x));
            __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), z[1], _mm512_loadu_si512(x + 64));
#pragma GCC unroll 8
            for (int t = 2; t < 8; t += 2) {
                s0 = _mm512_dpbusd_epi32(s0, z[t], _mm512_loadu_si512(x + 64 * t));
                s1 = _mm512_dpbusd_epi32(s1, z[t + 1], _mm512_loadu_si512(x + 64 * t + 64));
            }
            __m512i s = _mm512_sub_epi32(_mm512_add_epi32(s0, s1), _mm512_loadu_si512(x + 512));
            __m512 dd = _mm512_mul_ps(wd, _mm512_loadu_ps(xdp + r * ds + g * GROUP));
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), dd, acc[r]);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
        float v = lane_sum(acc[r]);
        c[(size_t) r * ldc] = accumulate ? c[(size_t) r * ldc] + v : v;
    }
}

/*
 * c[co + r·ldc + j] (+)= the product above for r < n, j0 ≤ j < j1; W from quant wo (its scales from wo/32), c from
 * element co. xp, xdp as q8_pack wrote them.
 */
void q8_matmul(const int8_t *w, int64_t wo, const float *wd, const uint8_t *xp, const float *xdp, float *c,
               int64_t co, int ldc, int n, int k, int j0, int j1, int accumulate) {
    int nb = k / 32, groups = (nb + GROUP - 1) / GROUP;
    size_t xs = (size_t) groups * GROUP_BYTES, ds = (size_t) groups * GROUP;
    w += wo;
    wd += wo / 32;
    c += co;
    for (int jc = j0; jc < j1; jc += COLUMNS) {
        int je = jc + COLUMNS < j1 ? jc + COLUMNS : j1;
        for (int r0 = 0; r0 < n; r0 += ROWS) {
            int rows = n - r0 < ROWS ? n - r0 : ROWS;
            const uint8_t *x = xp + r0 * xs;
            const float *xd = xdp + r0 * ds;
            for (int j = jc; j < je; j++) {
                const int8_t *wr = w + (size_t) j * k;
                const float *wdr = wd + (size_t) j * nb;
                float *cr = c + (size_t) r0 * ldc + j;
                switch (rows) {
                    case 12: column(12, wr, wdr, x, xd, nb, cr, ldc, accumulate); break;
                    case 11: column(11, wr, wdr, x, xd, nb, cr, ldc, accumulate); break;
                    case 10: column(10, wr, wdr, x, xd, nb, cr, ldc, accumulate); break;
                    case 9: column(9, wr, wdr, x, xd, nb, cr, ldc, accumulate); break;
                    case 8: column(8, wr, wdr, x, xd, nb, cr, ldc, accumulate); break;
                    case 7: column(7, wr, wdr, x, xd, nb, cr, ldc, accumulate); break;
                    case 6: column(6, wr, wdr, x, xd, nb, cr, ldc, accumulate); break;
                    case 5: column(5, wr, wdr, x, xd, nb, cr, ldc, accumulate); break;
                    case 4: column(4, wr, wdr, x, xd, nb, cr, ldc, accumulate); break;
                    case 3: column(3, wr, wdr, x, xd, nb, cr, ldc, accumulate); break;
                    case 2: column(2, wr, wdr, x, xd, nb, cr, ldc, accumulate); break;
                    default: column(1, wr, wdr, x, xd, nb, cr, ldc, accumulate); break;
                }
            }
        }
    }
}
