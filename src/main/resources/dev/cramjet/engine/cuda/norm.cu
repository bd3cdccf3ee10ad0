// LayerNorm and RMSNorm over the last dimension, forward and backward. One warp per row; statistics in fp32.
#include "common.cuh"

#define ROWS_PER_BLOCK 8  // blockDim.x = 32 · ROWS_PER_BLOCK

// LayerNorm: μ = mean(x), r = 1/√(var(x) + eps), out = (x − μ)·r·w + b. mean and rstd are saved per row.
extern "C" __global__ void layernorm_forward(bf16* out, float* mean, float* rstd, const bf16* in, const bf16* weight,
                                             const bf16* bias, int N, int C, float eps) {
    int lane = threadIdx.x & 31;
    long row = (long) blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5);
    if (row >= N) return;
    const bf16* x = in + row * C;
    float v[8], w[8], b[8];
    float sum = 0.0f;
    for (int c = 8 * lane; c < C; c += 256) {
        load8(x, c, C, v);
#pragma unroll
        for (int k = 0; k < 8; k++) sum += v[k];
    }
    float mu = warpSum(sum) / C;
    float sq = 0.0f;
    for (int c = 8 * lane; c < C; c += 256) {
        load8(x, c, C, v);
#pragma unroll
        for (int k = 0; k < 8; k++) if (c + k < C) sq += (v[k] - mu) * (v[k] - mu);
    }
    float r = rsqrtf(warpSum(sq) / C + eps);
    for (int c = 8 * lane; c < C; c += 256) {
        load8(x, c, C, v);
        load8(weight, c, C, w);
        if (bias) load8(bias, c, C, b);
#pragma unroll
        for (int k = 0; k < 8; k++) v[k] = (v[k] - mu) * r * w[k] + (bias ? b[k] : 0.0f);
        store8(out + row * C, c, C, v);
    }
    if (lane == 0) {
        mean[row] = mu;
        rstd[row] = r;
    }
}

// LayerNorm backward with x̂ = (x − μ)·r, g = dout·w:
//   din += r·(g − mean(g) − x̂·mean(g·x̂)),  dweight += Σ_rows dout·x̂,  dbias += Σ_rows dout.
// The parameter gradients are summed per block in shared memory (weight at [0, C), bias at [C, 2C)) and written to
// partialW[block·C + c] and partialB[block·C + c]; colsum_finish adds them up. A null partial is a frozen
// parameter: its sums are skipped (both null: no shared memory at all).
extern "C" __global__ void layernorm_backward(bf16* din, float* partialW, float* partialB, const bf16* dout,
                                              const bf16* in, const bf16* weight, const float* mean, const float* rstd,
                                              int N, int C) {
    DYNAMIC_SHARED(float, acc);  // [2C] when either partial is wanted
    if (partialW || partialB)
        for (int c = threadIdx.x; c < 2 * C; c += blockDim.x) acc[c] = 0.0f;
    __syncthreads();
    int lane = threadIdx.x & 31;
    float x[8], g[8], w[8], d[8];
    for (long row = (long) blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5); row < N;
         row += (long) gridDim.x * ROWS_PER_BLOCK) {
        const bf16* xr = in + row * C;
        const bf16* gr = dout + row * C;
        float mu = mean[row], r = rstd[row];
        float sumG = 0.0f, sumGX = 0.0f;
        for (int c = 8 * lane; c < C; c += 256) {
            load8(xr, c, C, x);
            load8(gr, c, C, g);
            load8(weight, c, C, w);
#pragma unroll
            for (int k = 0; k < 8; k++) {
                float gw = g[k] * w[k];  // zero past C: load8 pads with 0
                sumG += gw;
                sumGX += gw * (x[k] - mu) * r;
            }
        }
        float meanG = warpSum(sumG) / C, meanGX = warpSum(sumGX) / C;
        for (int c = 8 * lane; c < C; c += 256) {
            load8(xr, c, C, x);
            load8(gr, c, C, g);
            load8(weight, c, C, w);
            load8(din + row * C, c, C, d);
#pragma unroll
            for (int k = 0; k < 8; k++) {
                if (c + k >= C) break;
                float xhat = (x[k] - mu) * r;
                d[k] += r * (g[k] * w[k] - meanG - xhat * meanGX);
                if (partialW) atomicAdd(&acc[c + k], g[k] * xhat);
                if (partialB) atomicAdd(&acc[C + c + k], g[k]);
            }
            store8(din + row * C, c, C, d);
        }
    }
    __syncthreads();
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        if (partialW) partialW[(long) blockIdx.x * C + c] = acc[c];
        if (partialB) partialB[(long) blockIdx.x * C + c] = acc[C + c];
    }
}

// RMSNorm: r = 1/√(mean(x²) + eps), out = x·r·w. rstd is saved per row.
extern "C" __global__ void rmsnorm_forward(bf16* out, float* rstd, const bf16* in, const bf16* weight, int N, int C,
                                           float eps) {
    int lane = threadIdx.x & 31;
    long row = (long) blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5);
    if (row >= N) return;
    const bf16* x = in + row * C;
    float v[8], w[8];
    float sq = 0.0f;
    for (int c = 8 * lane; c < C; c += 256) {
        load8(x, c, C, v);
#pragma unroll
        for (int k = 0; k < 8; k++) sq += v[k] * v[k];
    }
    float r = rsqrtf(warpSum(sq) / C + eps);
    for (int c = 8 * lane; c < C; c += 256) {
        load8(x, c, C, v);
        load8(weight, c, C, w);
#pragma unroll
        for (int k = 0; k < 8; k++) v[k] = v[k] * r * w[k];
        store8(out + row * C, c, C, v);
    }
    if (lane == 0) rstd[row] = r;
}

// RMSNorm backward with x̂ = x·r, g = dout·w: din += r·(g − x̂·mean(g·x̂)), dweight += Σ_rows dout·x̂.
// Per-block sums go to partial[block·C + c]; a null partial (frozen weight) skips them.
extern "C" __global__ void rmsnorm_backward(bf16* din, float* partial, const bf16* dout, const bf16* in,
                                            const bf16* weight, const float* rstd, int N, int C) {
    DYNAMIC_SHARED(float, acc);  // [C] when partial is wanted
    if (partial)
        for (int c = threadIdx.x; c < C; c += blockDim.x) acc[c] = 0.0f;
    __syncthreads();
    int lane = threadIdx.x & 31;
    float x[8], g[8], w[8], d[8];
    for (long row = (long) blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5); row < N;
         row += (long) gridDim.x * ROWS_PER_BLOCK) {
        const bf16* xr = in + row * C;
        const bf16* gr = dout + row * C;
        float r = rstd[row];
        float sumGX = 0.0f;
        for (int c = 8 * lane; c < C; c += 256) {
            load8(xr, c, C, x);
            load8(gr, c, C, g);
            load8(weight, c, C, w);
#pragma unroll
            for (int k = 0; k < 8; k++) sumGX += g[k] * w[k] * x[k] * r;
        }
        float meanGX = warpSum(sumGX) / C;
        for (int c = 8 * lane; c < C; c += 256) {
            load8(xr, c, C, x);
            load8(gr, c, C, g);
            load8(weight, c, C, w);
            load8(din + row * C, c, C, d);
#pragma unroll
            for (int k = 0; k < 8; k++) {
                if (c + k >= C) break;
                float xhat = x[k] * r;
                d[k] += r * (g[k] * w[k] - xhat * meanGX);
                if (partial) atomicAdd(&acc[c + k], g[k] * xhat);
            }
            store8(din + row * C, c, C, d);
        }
    }
    __syncthreads();
    if (partial)
        for (int c = threadIdx.x; c < C; c += blockDim.x) partial[(long) blockIdx.x * C + c] = acc[c];
}
