// Elementwise ops: dtype conversion, add, scale, GELU, the gated linear units, dropout and the residual-plus-dropout
// epilogue, and the column sums that reduce parameter gradients. Most kernels are grid-stride loops over 8 elements
// per thread (16-byte loads for bf16).
#include "common.cuh"

extern "C" __global__ void convert_f32_bf16(bf16* out, const float* in, long n) {
    float v[8];
    FOR_EACH_8(i, n) { load8(in, i, n, v); store8(out, i, n, v); }
}

extern "C" __global__ void convert_bf16_f32(float* out, const bf16* in, long n) {
    float v[8];
    FOR_EACH_8(i, n) { load8(in, i, n, v); store8(out, i, n, v); }
}

template <typename T>
__device__ void addBody(T* out, const T* a, const T* b, long n) {
    float x[8], y[8];
    FOR_EACH_8(i, n) {
        load8(a, i, n, x);
        load8(b, i, n, y);
#pragma unroll
        for (int k = 0; k < 8; k++) x[k] += y[k];
        store8(out, i, n, x);
    }
}
extern "C" __global__ void add_bf16(bf16* out, const bf16* a, const bf16* b, long n) { addBody(out, a, b, n); }
extern "C" __global__ void add_f32(float* out, const float* a, const float* b, long n) { addBody(out, a, b, n); }

template <typename T>
__device__ void scaleBody(T* t, float s, long n) {
    float x[8];
    FOR_EACH_8(i, n) {
        load8(t, i, n, x);
#pragma unroll
        for (int k = 0; k < 8; k++) x[k] *= s;
        store8(t, i, n, x);
    }
}
extern "C" __global__ void scale_bf16(bf16* t, float s, long n) { scaleBody(t, s, n); }
extern "C" __global__ void scale_f32(float* t, float s, long n) { scaleBody(t, s, n); }

// GELU, tanh approximation: gelu(x) = 0.5·x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³).
#define GELU_K 0.7978845608028654f
#define GELU_C 0.044715f

__device__ __forceinline__ float gelu(float x) {
    float u = GELU_K * (x + GELU_C * x * x * x);
    return 0.5f * x * (1.0f + tanhf(u));
}

// gelu'(x) = 0.5·(1 + tanh u) + 0.5·x·(1 − tanh² u)·√(2/π)·(1 + 3·0.044715·x²)
__device__ __forceinline__ float geluGrad(float x) {
    float u = GELU_K * (x + GELU_C * x * x * x);
    float t = tanhf(u);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_K * (1.0f + 3.0f * GELU_C * x * x);
}

extern "C" __global__ void gelu_forward(bf16* out, const bf16* in, long n) {
    float x[8];
    FOR_EACH_8(i, n) {
        load8(in, i, n, x);
#pragma unroll
        for (int k = 0; k < 8; k++) x[k] = gelu(x[k]);
        store8(out, i, n, x);
    }
}

extern "C" __global__ void gelu_backward(bf16* din, const bf16* pre, const bf16* dout, long n) {
    float x[8], g[8];
    FOR_EACH_8(i, n) {
        load8(pre, i, n, x);
        load8(dout, i, n, g);
#pragma unroll
        for (int k = 0; k < 8; k++) g[k] *= geluGrad(x[k]);
        store8(din, i, n, g);
    }
}

// The gate activation of a gated linear unit and its derivative, by kind (dev.cramjet.engine.Glu, numbered by the
// host): GLU_SWIGLU act = silu(g) = g·σ(g), act' = σ(g)·(1 + g·(1 − σ(g))); GLU_GEGLU act = gelu(g), act' = gelu'(g).
#define GLU_SWIGLU 0
#define GLU_GEGLU 1

__device__ __forceinline__ float gluGate(int kind, float g, float* grad) {
    if (kind == GLU_GEGLU) {
        *grad = geluGrad(g);
        return gelu(g);
    }
    float sig = 1.0f / (1.0f + expf(-g));
    *grad = sig * (1.0f + g * (1.0f - sig));
    return g * sig;
}

// Over rows of in = [gate | up] (2H wide): out = act(gate)·up.
extern "C" __global__ void glu_forward(bf16* out, const bf16* in, long rows, int H, int kind) {
    FOR_EACH(e, rows * H) {
        long r = e / H, c = e - r * H;
        float grad, g = bf2f(in[r * 2 * H + c]), u = bf2f(in[r * 2 * H + H + c]);
        out[e] = f2bf(gluGate(kind, g, &grad) * u);
    }
}

// d gate = dout·up·act'(gate),  d up = dout·act(gate).
extern "C" __global__ void glu_backward(bf16* din, const bf16* dout, const bf16* in, long rows, int H, int kind) {
    FOR_EACH(e, rows * H) {
        long r = e / H, c = e - r * H;
        long gi = r * 2 * H + c, ui = gi + H;
        float grad, g = bf2f(in[gi]), u = bf2f(in[ui]), d = bf2f(dout[e]);
        float act = gluGate(kind, g, &grad);
        din[gi] = f2bf(d * u * grad);
        din[ui] = f2bf(d * act);
    }
}

// Inverted dropout, out_i = keep_i ? in_i / (1-p) : 0. The backward pass is the same map applied to dout.
extern "C" __global__ void dropout(bf16* out, const bf16* in, long n, float p, u64 seed) {
    float x[8];
    float inverseKeep = 1.0f / (1.0f - p);
    FOR_EACH_8(i, n) {
        load8(in, i, n, x);
#pragma unroll
        for (int k = 0; k < 8; k++) x[k] *= dropoutFactor(seed, (u64) (i + k), p, inverseKeep);
        store8(out, i, n, x);
    }
}

// out = residual + dropout(y): the residual connection after a projection (out may be residual).
extern "C" __global__ void residual_dropout(bf16* out, const bf16* residual, const bf16* y, long n, float p, u64 seed) {
    float r[8], x[8];
    float inverseKeep = 1.0f / (1.0f - p);
    FOR_EACH_8(i, n) {
        load8(residual, i, n, r);
        load8(y, i, n, x);
#pragma unroll
        for (int k = 0; k < 8; k++) r[k] += x[k] * dropoutFactor(seed, (u64) (i + k), p, inverseKeep);
        store8(out, i, n, r);
    }
}

// Column sums of a [rows, cols] bf16 matrix, first stage: block (x: stripe of 32 columns, y: chunk of rows) writes
// partial[chunk·cols + column]. Threads are 32×8: x picks the column, y strides the chunk's rows.
extern "C" __global__ void colsum_partial(float* partial, const bf16* x, int rows, int cols, int rowsPerChunk) {
    __shared__ float acc[8][33];
    int col = blockIdx.x * 32 + threadIdx.x;
    int r0 = blockIdx.y * rowsPerChunk, r1 = min(rows, r0 + rowsPerChunk);
    float s = 0.0f;
    if (col < cols)
        for (int r = r0 + threadIdx.y; r < r1; r += 8) s += bf2f(x[(long) r * cols + col]);
    acc[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && col < cols) {
        for (int k = 1; k < 8; k++) s += acc[k][threadIdx.x];
        partial[(long) blockIdx.y * cols + col] = s;
    }
}

// Second stage: out[c] += Σ_k partial[k·cols + c] over the chunks, in a fixed order (deterministic).
template <typename G>
__device__ void colsumFinishBody(G* out, const float* partial, int chunks, int cols) {
    FOR_EACH(c, (long) cols) {
        float s = 0.0f;
        for (int k = 0; k < chunks; k++) s += partial[(long) k * cols + c];
        st(out, c, ld(out, c) + s);
    }
}
extern "C" __global__ void colsum_finish_bf16(bf16* out, const float* partial, int chunks, int cols) {
    colsumFinishBody(out, partial, chunks, cols);
}
extern "C" __global__ void colsum_finish_f32(float* out, const float* partial, int chunks, int cols) {
    colsumFinishBody(out, partial, chunks, cols);
}
