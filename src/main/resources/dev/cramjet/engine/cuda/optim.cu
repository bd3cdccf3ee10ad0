// Global gradient norm and the fused AdamW step.
#include "common.cuh"

// First stage of √(Σ x²): partial[block] = Σ over the block's grid-stride share.
template <typename G>
__device__ void sumSquaresBody(float* partial, const G* x, long n) {
    float v[8];
    float s = 0.0f;
    FOR_EACH_8(i, n) {
        load8(x, i, n, v);
#pragma unroll
        for (int k = 0; k < 8; k++) s += v[k] * v[k];
    }
    s = blockSum(s);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}
extern "C" __global__ void sum_squares_bf16(float* partial, const bf16* x, long n) { sumSquaresBody(partial, x, n); }
extern "C" __global__ void sum_squares_f32(float* partial, const float* x, long n) { sumSquaresBody(partial, x, n); }

// Second stage, one block: out[0] = √(Σ partial). Fixed order, so the norm is deterministic.
extern "C" __global__ void norm_finish(float* out, const float* partial, int blocks) {
    float s = 0.0f;
    for (int b = threadIdx.x; b < blocks; b += blockDim.x) s += partial[b];
    s = blockSum(s);
    if (threadIdx.x == 0) out[0] = sqrtf(s);
}

// AdamW (decoupled weight decay), see dev.cramjet.engine.AdamW:
//   g = grad·clip, clip = min(1, maxNorm/(‖grad‖ + 1e-6)) when gradNorm is given
//   m = β1·m + (1−β1)·g,  v = β2·v + (1−β2)·g²
//   w = w − lr·((m/bc1) / (√(v/bc2) + ε) + λ·w),  bc1 = 1 − β1^t, bc2 = 1 − β2^t
// w is the fp32 master copy when there is one (then params receive its rounding), else params themselves.
template <typename P, typename G>
__device__ void adamwBody(P* params, const G* grads, float* m, float* v, float* master, const float* gradNorm, long n,
                          float lr, float beta1, float beta2, float eps, float weightDecay, float bc1, float bc2,
                          float maxNorm) {
    float clip = gradNorm ? fminf(1.0f, maxNorm / (gradNorm[0] + 1e-6f)) : 1.0f;
    FOR_EACH(i, n) {
        float g = ld(grads, i) * clip;
        float mi = beta1 * m[i] + (1.0f - beta1) * g;
        float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float w = master ? master[i] : ld(params, i);
        w -= lr * ((mi / bc1) / (sqrtf(vi / bc2) + eps) + weightDecay * w);
        if (master) master[i] = w;
        st(params, i, w);
    }
}

#define ADAMW(NAME, P, G)                                                                                          \
    extern "C" __global__ void NAME(P* params, const G* grads, float* m, float* v, float* master,                  \
                                    const float* gradNorm, long n, float lr, float beta1, float beta2, float eps,  \
                                    float weightDecay, float bc1, float bc2, float maxNorm) {                     \
        adamwBody(params, grads, m, v, master, gradNorm, n, lr, beta1, beta2, eps, weightDecay, bc1, bc2, maxNorm); \
    }
ADAMW(adamw_bf16_bf16, bf16, bf16)
ADAMW(adamw_bf16_f32, bf16, float)
ADAMW(adamw_f32_f32, float, float)
ADAMW(adamw_f32_bf16, float, bf16)
