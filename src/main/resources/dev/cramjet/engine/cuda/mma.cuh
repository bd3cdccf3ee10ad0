// Warp-level tensor-core primitives (sm_80 and newer): bf16 mma.sync.m16n8k16 with fp32 accumulators, ldmatrix
// from shared memory, and the bf16 pair packing that turns an accumulator tile into the next product's operand.
// Fragment layouts, as the PTX ISA specifies them ("Matrix Fragments for mma.m16n8k16 with floating point type"),
// with g = lane / 4 and t = lane % 4; a register holds two bf16, the lower-indexed element in its low half:
//   A, 16×16 row-major: a[0] = (row g, cols 2t, 2t+1), a[1] = (row g+8, same cols), a[2] = (row g, cols 2t+8, 2t+9),
//                       a[3] = (row g+8, cols 2t+8, 2t+9);
//   B, 16×8 (k × n):    b[0] = (k 2t, 2t+1; n g), b[1] = (k 2t+8, 2t+9; n g);
//   C/D, 16×8 fp32:     c[0], c[1] = (row g, cols 2t, 2t+1), c[2], c[3] = (row g+8, cols 2t, 2t+1).
// ldmatrix.x4 loads four 8×8 bf16 matrices: lane l gives the address of row l % 8 of matrix l / 8, and receives
// in r[i] the elements (row g, cols 2t, 2t+1) of matrix i — or, with .trans, (rows 2t, 2t+1; col g). .x2 reads
// the addresses of lanes 0–15 only. So a C tile's two neighbours, packed, are an A fragment (flash attention
// keeps P in registers this way), and a row-major tile is an A operand, a B operand (rows = n) or, transposed, a
// B operand with rows = k.
// The CPU emulation used by the tests (emulation.h) defines CRAMJET_EMULATION and supplies the same functions.
#pragma once

#ifndef CRAMJET_EMULATION
// A generic pointer into shared memory as the 32-bit shared-window address ldmatrix takes.
__device__ __forceinline__ unsigned sharedAddress(const void* p) {
    unsigned a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
}

// d += a·b for one 16×16 by 16×8 bf16 product, fp32 accumulation.
__device__ __forceinline__ void mma16816(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void ldmatrix4(unsigned (&r)[4], const bf16* row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(sharedAddress(row)));
}

__device__ __forceinline__ void ldmatrix4Trans(unsigned (&r)[4], const bf16* row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(sharedAddress(row)));
}

// Two fp32 values as a bf16 pair (lo in the low half), each rounded to nearest even: f2bf's rounding in one
// instruction.
__device__ __forceinline__ unsigned packBf16(float lo, float hi) {
    unsigned r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
#else
__device__ __forceinline__ unsigned packBf16(float lo, float hi) { return (unsigned) f2bf(lo) | ((unsigned) f2bf(hi) << 16); }
#endif
