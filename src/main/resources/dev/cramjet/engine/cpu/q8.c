/*
 * q8.c — Cramjet's int8 × int8 matrix product on AVX-512 VNNI CPUs (engine/cpu/Q8Native.java compiles it with the
 * machine's C compiler at first use, -O3 -march=native -ffp-contract=off, and binds it with FFM; engine/cpu/Q8.java
 * holds the Java twin that computes the same bits where this cannot be built).
 *
 * The math, for x [n][k] (rows of activations) and W [oc][k] (Q8_0 weights), k a multiple of 32, nb = k/32 blocks:
 *   x is quantized per block by Java (Q8.quantizeRows): xd = max|x|/127, xq = rint(x·(127/max|x|)) (ties to even).
 *   For output (r, j) and block b: s_b = Σ_{e<32} wq[j][32b+e]·xq[r][32b+e], exact in int32, and
 *   a = fma(float(s_b), fl(wd[j][b]·xd[r][b]), a) for b = 0, 1, …, nb−1 from a = 0; then c[r][j] = a, or
 *   c[r][j] + a when accumulating. Each output's arithmetic does not depend on n or on how columns are split
 *   between threads, so a row gets the same bits alone or in a batch.
 *
 * Conventions: pointers are to element 0 of Java arrays (heap segments, passed with Linker.Option.critical) and
 * offsets are element counts; c is row-major with row stride ldc; columns [j0, j1) are computed (j0 a multiple of
 * 16), so threads split the columns. Nothing here allocates or keeps state.
 *
 * How. vpdpbusd multiplies 4 unsigned bytes by 4 signed bytes in each of 16 int32 lanes and adds the four products
 * into the lane. W is repacked once (q8_pack_weights, kept by the Java storage): panels of 16 columns, and per
 * block 8 zmm whose lane L holds bytes 4s..4s+3 of column L's block, stored as w + 128 (unsigned); the block's 16
 * scales follow as one zmm. So lane L of one accumulator belongs to one output column for the whole product: for
 * a block, 8 vpdpbusd against x's dwords broadcast from memory give 16 columns' exact s + 128·Σx, and the
 * correction 128·Σx of that block and row (q8_sums) is subtracted as one broadcast. Per row and block that is 8
 * vpdpbusd, a subtract, a convert, a multiply and an FMA for 512 multiply-adds; the 8 loads of W are shared by the
 * ROWS rows of a tile. No transposes, no horizontal sums: the accumulators are the outputs.
 *
 * Memory. A decoding step's weights come from DRAM, and the first row tile over a chunk waited for them while the
 * later ones ran from L2 — the two never overlapped (12 layers' 16-row products took 9.4–12.8 ms from memory
 * against about 5 ms from cache). So while the first row tile of 4 or more rows works on a panel, it prefetches
 * the same panel of the next chunk into L2, 8 lines per block. One- to three-row tiles (batch-1 decoding) have too
 * little work per block to hide the prefetches, and the hardware prefetcher keeps up with their one stream.
 */
#include <stdint.h>
#include <string.h>
#include <immintrin.h>

#if !(defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__))
#error "q8.c needs AVX-512 F, BW and VNNI (the Java kernel serves other CPUs)"
#endif

#define LANES 16    /* columns of a panel: one per int32 lane */
#define ROWS 8      /* rows of x sharing each load of W */
#define PANELS 8    /* panels per chunk: 8 · 16 columns of W stay in L2 while every row tile passes over them */

/* The 4 bytes at p as one int32 (x's quants are a byte array, not aligned). */
static inline int32_t dword(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Bytes and floats of the packed copy of W [oc][k]. */
int64_t q8_packed_bytes(int oc, int k) { return (int64_t) ((oc + LANES - 1) / LANES) * LANES * k; }

int64_t q8_packed_scales(int oc, int k) { return (int64_t) ((oc + LANES - 1) / LANES) * LANES * (k / 32); }

/*
 * W [oc][k] (quants from wq + wo, scales from wd + wo/32) into wp, wdp: panel p, block b at wp + (p·nb + b)·512,
 * byte 64s + 4L + i = wq[16p + L][32b + 4s + i] + 128; wdp[(p·nb + b)·16 + L] = wd[16p + L][b]. Columns past oc are
 * zero quants (128 stored) with zero scales.
 */
void q8_pack_weights(const int8_t *wq, int64_t wo, const float *wd, int oc, int k, uint8_t *wp, float *wdp) {
    int nb = k / 32, panels = (oc + LANES - 1) / LANES;
    wq += wo;
    wd += wo / 32;
    for (int p = 0; p < panels; p++) {
        for (int b = 0; b < nb; b++) {
            uint8_t *dst = wp + ((size_t) p * nb + b) * 512;
            float *ds = wdp + ((size_t) p * nb + b) * LANES;
            for (int l = 0; l < LANES; l++) {
                int j = p * LANES + l;
                const int8_t *src = wq + (size_t) j * k + 32 * b;
                for (int s = 0; s < 8; s++)
                    for (int i = 0; i < 4; i++) dst[64 * s + 4 * l + i] = (uint8_t) ((j < oc ? src[4 * s + i] : 0) + 128);
                ds[l] = j < oc ? wd[(size_t) j * nb + b] : 0;
            }
        }
    }
}

/* xs[r·nb + b] = 128·Σ_e xq[r][32b + e]: the correction for W's +128. */
void q8_sums(const int8_t *xq, int n, int k, int32_t *xs) {
    int nb = k / 32;
    for (int r = 0; r < n; r++)
        for (int b = 0; b < nb; b++) {
            int sum = 0;
            for (int e = 0; e < 32; e++) sum += xq[(size_t) r * k + 32 * b + e];
            xs[(size_t) r * nb + b] = 128 * sum;
        }
}

/*
 * One panel (wp, wdp at its first block) for R rows of x from xq, xd, xs: R is a constant at every call, so the
 * accumulators stay in registers. c points at (row 0, the panel's first column); mask keeps the panel's columns
 * that exist. ahead, when not null, is a panel to prefetch into L2 block by block alongside.
 */
static inline __attribute__((always_inline)) void panel(const int R, const uint8_t *wp, const float *wdp,
        const int8_t *xq, const float *xd, const int32_t *xs, int k, float *c, int ldc, __mmask16 mask, int accumulate,
        const uint8_t *ahead) {
    const int nb = k / 32;
    __m512 acc[ROWS];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *wb = wp + (size_t) b * 512;
        if (ahead) {
#pragma GCC unroll 8
            for (int s = 0; s < 8; s++) _mm_prefetch((const char *) (ahead + (size_t) b * 512 + 64 * s), _MM_HINT_T1);
        }
        __m512i w[8];
#pragma GCC unroll 8
        for (int s = 0; s < 8; s++) w[s] = _mm512_loadu_si512(wb + 64 * s);
        __m512 wd = _mm512_loadu_ps(wdp + (size_t) b * LANES);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const int8_t *x = xq + (size_t) r * k + 32 * b;
            __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[0], _mm512_set1_epi32(dword(x)));
            __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[1], _mm512_set1_epi32(dword(x + 4)));
#pragma GCC unroll 4
            for (int s = 2; s < 8; s += 2) {
                s0 = _mm512_dpbusd_epi32(s0, w[s], _mm512_set1_epi32(dword(x + 4 * s)));
                s1 = _mm512_dpbusd_epi32(s1, w[s + 1], _mm512_set1_epi32(dword(x + 4 * s + 4)));
            }
            __m512i sum = _mm512_sub_epi32(_mm512_add_epi32(s0, s1), _mm512_set1_epi32(xs[(size_t) r * nb + b]));
            __m512 dd = _mm512_mul_ps(wd, _mm512_set1_ps(xd[(size_t) r * nb + b]));
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), dd, acc[r]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        float *cr = c + (size_t) r * ldc;
        __m512 v = acc[r];
        if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, cr), v);
        _mm512_mask_storeu_ps(cr, mask, v);
    }
}

/*
 * c[co + r·ldc + j] (+)= the product above for r < n, j0 ≤ j < j1 (of oc columns), W as q8_pack_weights packed it,
 * x as Java quantized it (xq [n][k], xd [n][nb]) with q8_sums' corrections xs.
 */
void q8_matmul(const uint8_t *wp, const float *wdp, const int8_t *xq, const float *xd, const int32_t *xs,
               float *c, int64_t co, int ldc, int n, int k, int j0, int j1, int accumulate) {
    int nb = k / 32;
    c += co;
    for (int pc = j0 / LANES; pc * LANES < j1; pc += PANELS) {
        for (int r0 = 0; r0 < n; r0 += ROWS) {
            int rows = n - r0 < ROWS ? n - r0 : ROWS;
            const int8_t *x = xq + (size_t) r0 * k;
            const float *d = xd + (size_t) r0 * nb;
            const int32_t *s = xs + (size_t) r0 * nb;
            for (int p = pc; p < pc + PANELS && p * LANES < j1; p++) {
                const uint8_t *w = wp + (size_t) p * nb * 512;
                const float *wd = wdp + (size_t) p * nb * LANES;
                float *cr = c + (size_t) r0 * ldc + p * LANES;
                int left = j1 - p * LANES;
                __mmask16 mask = left >= LANES ? 0xFFFF : (__mmask16) ((1u << left) - 1);
                // the same panel of the next chunk, if this thread's columns reach it: into L2 during the first tile
                const uint8_t *ahead = r0 == 0 && rows >= 4 && (p + PANELS) * LANES < j1 ? w + (size_t) PANELS * nb * 512 : 0;
                switch (rows) {
                    case 8: panel(8, w, wd, x, d, s, k, cr, ldc, mask, accumulate, ahead); break;
                    case 7: panel(7, w, wd, x, d, s, k, cr, ldc, mask, accumulate, ahead); break;
                    case 6: panel(6, w, wd, x, d, s, k, cr, ldc, mask, accumulate, ahead); break;
                    case 5: panel(5, w, wd, x, d, s, k, cr, ldc, mask, accumulate, ahead); break;
                    case 4: panel(4, w, wd, x, d, s, k, cr, ldc, mask, accumulate, ahead); break;
                    case 3: panel(3, w, wd, x, d, s, k, cr, ldc, mask, accumulate, ahead); break;
                    case 2: panel(2, w, wd, x, d, s, k, cr, ldc, mask, accumulate, ahead); break;
                    default: panel(1, w, wd, x, d, s, k, cr, ldc, mask, accumulate, ahead); break;
                }
            }
        }
    }
}
