/*
 * f32.c — Cramjet's few-row fp32 product over packed weights on AVX-512 CPUs: the decoding step's y = x·Wᵀ
 * (engine/cpu/F32Native.java builds it as engine/cpu/NativeKernels.java says and binds it with FFM; the Java kernels
 * of engine/cpu/Gemm.java compute the same bits and serve every other product).
 *
 * The math, for A [m][k] (rows of activations, row stride lda) and W [n][k]: K is cut into blocks of kc0 floats (the
 * last may be shorter; Gemm chooses kc0). For output (r, j) and the block [pc, pc + kc):
 *   s = 0; s = fma(A[r][p], W[j][p], s) for p = pc, pc+1, …, pc+kc−1, one rounding per step;
 *   c[r][j] = s for the first block unless accumulating, else c[r][j] + s.
 * Every kernel of Gemm sums in this order, so a row gets the same bits alone or in a batch, on this kernel or not.
 *
 * Conventions: pointers are to element 0 of Java arrays (heap segments, passed with Linker.Option.critical) and
 * offsets are element counts; c is row-major with row stride ldc. W comes as Gemm.pack lays it out: block pc at
 * w + pc·np (np = n rounded up to 32), its panel q at + q·32·kc, the panel's row p (32 floats) holding
 * W[32q .. 32q+31][pc + p], zero past n. Panels [q0, q1) are computed, so threads split the panels. Nothing here
 * allocates or keeps state.
 *
 * How. A tile of R ≤ 8 rows of A over one panel keeps its 8 × 32 outputs in 16 zmm accumulators: per p, the panel's
 * row is two loads, and each of the R rows broadcasts A[r][p] into two FMAs. The panel (96 KiB at kc = 768) stays
 * in L2 while every tile of rows passes over it.
 *
 * Memory. A decoding step reads every weight from DRAM (gpt2-124m: 0.5 GB of fp32 a step, about 20 ms at this
 * development machine's 25 GB/s), and 16 rows' arithmetic takes about as long again. Walked panel after panel, the
 * first tile of each panel waited for it and the later tiles computed from L2: memory and arithmetic took turns.
 * So the first two tiles prefetch the next panel into L2 while they work, one line of its row p each at their p (a
 * lone tile both lines): the next panel streams in while this one is computed. Below 4 rows (one sequence decoding)
 * there is too little work per line to hide the prefetches, which made such steps slower; the hardware prefetcher
 * keeps up with their one stream.
 */
#include <stddef.h>
#include <stdint.h>
#include <immintrin.h>

#if !defined(__AVX512F__)
#error "f32.c needs AVX-512 F (the Java kernels serve other CPUs)"
#endif

#define PANEL 32    /* columns of a packed panel: two zmm */
#define TILE 8      /* rows of A sharing each load of a panel row */

/*
 * R rows of A (a at row 0, column pc) over one panel (bp at its row 0) into c (row 0, the panel's first column);
 * m0, m1 keep the panel's columns that exist; pf0 / pf1, when not null, are lines to prefetch at every p, 128 bytes
 * apart. R is a constant at every call, so the accumulators stay in registers.
 */
static inline __attribute__((always_inline)) void tile(const int R, const float *a, int lda, const float *bp, int kc,
        float *c, int ldc, __mmask16 m0, __mmask16 m1, int add, const char *pf0, const char *pf1) {
    __m512 acc[2 * TILE];
    for (int r = 0; r < 2 * R; r++) acc[r] = _mm512_setzero_ps();
    for (int p = 0; p < kc; p++) {
        if (pf0) _mm_prefetch(pf0 + (size_t) 128 * p, _MM_HINT_T1);
        if (pf1) _mm_prefetch(pf1 + (size_t) 128 * p, _MM_HINT_T1);
        __m512 b0 = _mm512_loadu_ps(bp + PANEL * p), b1 = _mm512_loadu_ps(bp + PANEL * p + 16);
        for (int r = 0; r < R; r++) {
            __m512 x = _mm512_set1_ps(a[(size_t) r * lda + p]);
            acc[2 * r] = _mm512_fmadd_ps(x, b0, acc[2 * r]);
            acc[2 * r + 1] = _mm512_fmadd_ps(x, b1, acc[2 * r + 1]);
        }
    }
    for (int r = 0; r < R; r++) {
        float *o = c + (size_t) r * ldc;
        __m512 v0 = acc[2 * r], v1 = acc[2 * r + 1];
        if (add) {
            v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, o), v0);
            v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, o + 16), v1);
        }
        _mm512_mask_storeu_ps(o, m0, v0);
        _mm512_mask_storeu_ps(o + 16, m1, v1);
    }
}

/* The low `count` lanes of a mask (all 16 past 16, none below 1). */
static inline __mmask16 lanes(int count) {
    return count >= 16 ? (__mmask16) 0xFFFF : count <= 0 ? 0 : (__mmask16) ((1u << count) - 1);
}

/* Panels [q0, q1) of c (from element co, row stride ldc) (+)= A · Wᵀ, A from element ao with row stride lda. */
void f32_matmul(const float *a, int64_t ao, int lda, const float *w, int n, int k, int kc0, float *c, int64_t co,
                int ldc, int m, int q0, int q1, int accumulate) {
    a += ao;
    c += co;
    size_t np = (size_t) (n + PANEL - 1) / PANEL * PANEL;
    for (int pc = 0; pc < k; pc += kc0) {
        int kc = k - pc < kc0 ? k - pc : kc0, add = accumulate || pc > 0;
        const float *block = w + (size_t) pc * np;
        for (int q = q0; q < q1; q++) {
            const float *bp = block + (size_t) q * PANEL * kc;
            const char *next = q + 1 < q1 && m >= 4 ? (const char *) (bp + (size_t) PANEL * kc) : NULL;
            int cols = n - PANEL * q;
            __mmask16 m0 = lanes(cols), m1 = lanes(cols - 16);
            for (int i = 0; i < m; i += TILE) {
                const char *pf0 = next && i == 0 ? next : NULL;
                const char *pf1 = next && (i == TILE || (i == 0 && m <= TILE)) ? next + 64 : NULL;
                const float *ai = a + (size_t) i * lda + pc;
                float *ci = c + (size_t) i * ldc + (size_t) PANEL * q;
                switch (m - i < TILE ? m - i : TILE) {
                    case 8: tile(8, ai, lda, bp, kc, ci, ldc, m0, m1, add, pf0, pf1); break;
                    case 7: tile(7, ai, lda, bp, kc, ci, ldc, m0, m1, add, pf0, pf1); break;
                    case 6: tile(6, ai, lda, bp, kc, ci, ldc, m0, m1, add, pf0, pf1); break;
                    case 5: tile(5, ai, lda, bp, kc, ci, ldc, m0, m1, add, pf0, pf1); break;
                    case 4: tile(4, ai, lda, bp, kc, ci, ldc, m0, m1, add, pf0, pf1); break;
                    case 3: tile(3, ai, lda, bp, kc, ci, ldc, m0, m1, add, pf0, pf1); break;
                    case 2: tile(2, ai, lda, bp, kc, ci, ldc, m0, m1, add, pf0, pf1); break;
                    default: tile(1, ai, lda, bp, kc, ci, ldc, m0, m1, add, pf0, pf1); break;
                }
            }
        }
    }
}
