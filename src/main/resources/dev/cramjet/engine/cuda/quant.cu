// Q8_0 weights (see Q8Block in common.cuh): quantizing, expanding, and the int8 matrix-vector product.
#include "common.cuh"

// ggml's quantization rule, the CPU backend's bit for bit: per block of 32 values x,
//   d = max|x| / 127, stored as fp16 (round to nearest even),  q = round(x · (1/d)) half away from zero,
// with 1/d taken from the unrounded fp32 d (d = 0: q = 0). A NaN makes the block's d NaN and its quants 0, as in
// Java. One thread per block; no fused multiply-add can form here (a lone product, then rounding), so the
// device's results equal the Java ones. q8_quantize_f32 and q8_quantize_bf16 read F32 or BF16 values.
template <typename T>
__device__ void quantizeBody(Q8Block* dst, const T* src, long blocks) {
    FOR_EACH(b, blocks) {
        float x[32];
#pragma unroll
        for (int k = 0; k < 32; k += 8) load8(src, 32 * b + k, 32 * blocks, x + k);
        float amax = 0.0f;
#pragma unroll
        for (int k = 0; k < 32; k++) {
            float a = fabsf(x[k]);
            amax = amax != amax || a <= amax ? amax : a;  // Math.max: a NaN wins and stays
        }
        float d = amax / 127.0f, inv = d != 0.0f ? 1.0f / d : 0.0f;
        Q8Block out;
        out.d = f2h(d);
#pragma unroll
        for (int k = 0; k < 32; k += 2) {
            float v0 = x[k] * inv, v1 = x[k + 1] * inv;
            int q0 = v0 == v0 ? (int) roundf(v0) : 0, q1 = v1 == v1 ? (int) roundf(v1) : 0;
            out.q[k / 2] = (unsigned short) ((q0 & 0xff) | ((q1 & 0xff) << 8));
        }
        dst[b] = out;
    }
}
extern "C" __global__ void q8_quantize_f32(Q8Block* dst, const float* src, long blocks) { quantizeBody(dst, src, blocks); }
extern "C" __global__ void q8_quantize_bf16(Q8Block* dst, const bf16* src, long blocks) { quantizeBody(dst, src, blocks); }

// dst = d·q for n values (whole blocks): downloads, copies out of Q8_0, and the bf16 weight of a many-row matmul.
template <typename T>
__device__ void dequantizeBody(T* dst, const Q8Block* src, long n) {
    float v[8];
    FOR_EACH_8(i, n) {
        load8(src, i, n, v);
        store8(dst, i, n, v);
    }
}
extern "C" __global__ void q8_dequantize_f32(float* dst, const Q8Block* src, long n) { dequantizeBody(dst, src, n); }
extern "C" __global__ void q8_dequantize_bf16(bf16* dst, const Q8Block* src, long n) { dequantizeBody(dst, src, n); }

#define GEMV_ROWS 8  // most rows of x one q8_gemv takes (the host switches to dequantize + cuBLASLt above)

// y[r, o] = Σ_c x[r, c]·W[o, c] + bias[o] for r < N ≤ GEMV_ROWS, W [OC, C] in Q8_0 (bias may be null): decoding, where
// the product is memory-bound and reading int8 quants moves about half the bytes of a bf16 weight. One warp per
// output row o, eight per block. A warp takes four consecutive blocks of the row per step (136 contiguous bytes),
// eight lanes per block, four quants per lane; each lane folds its four products for every row of x, scales them by
// the block's d once, and the warp sums its lanes at the end. x (at most 8 rows) stays in L1.
extern "C" __global__ void q8_gemv(bf16* y, const bf16* x, const Q8Block* w, const bf16* bias, int N, int C, int OC) {
    int lane = threadIdx.x & 31;
    long o = (long) blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
    if (o >= OC) return;  // o is the same for the whole warp
    int blocks = C / 32, j = (lane & 7) * 4;
    const Q8Block* row = w + o * blocks;
    float acc[GEMV_ROWS];
#pragma unroll
    for (int r = 0; r < GEMV_ROWS; r++) acc[r] = 0.0f;
    for (int b = lane / 8; b < blocks; b += 4) {
        const Q8Block& blk = row[b];
        float d = h2f(blk.d);
        unsigned short lo = blk.q[j / 2], hi = blk.q[j / 2 + 1];
        float q0 = q8Quant(lo, 0), q1 = q8Quant(lo, 1), q2 = q8Quant(hi, 0), q3 = q8Quant(hi, 1);
#pragma unroll
        for (int r = 0; r < GEMV_ROWS; r++) {
            if (r >= N) break;
            const bf16* xr = x + (long) r * C + 32 * b + j;
            acc[r] += d * (q0 * bf2f(xr[0]) + q1 * bf2f(xr[1]) + q2 * bf2f(xr[2]) + q3 * bf2f(xr[3]));
        }
    }
    float add = bias ? bf2f(bias[o]) : 0.0f;
#pragma unroll
    for (int r = 0; r < GEMV_ROWS; r++) {
        if (r >= N) break;
        float s = warpSum(acc[r]);
        if (lane == 0) y[(long) r * OC + o] = f2bf(s + add);
    }
}
