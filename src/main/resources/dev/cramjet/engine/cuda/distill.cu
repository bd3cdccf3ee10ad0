// The losses of distillation, one block per row: the soft-target KL divergence at a temperature over logits
// [N, Vp] (only the first V columns are real), and the cosine distance of hidden-state rows [N, C].
#include "common.cuh"

// A running (max, Σ exp(x − max), Σ exp(x − max)·w) triple: an online softmax that also carries a weighted sum.
struct Soft { float m, s, x; };

__device__ __forceinline__ void softMerge(Soft& a, Soft b) {
    float mx = fmaxf(a.m, b.m);
    if (mx == NEG_INF) return;  // both empty
    float fa = a.m == NEG_INF ? 0.0f : expf(a.m - mx), fb = b.m == NEG_INF ? 0.0f : expf(b.m - mx);
    a.s = a.s * fa + b.s * fb;
    a.x = a.x * fa + b.x * fb;
    a.m = mx;
}

__device__ __forceinline__ Soft softShuffle(Soft v, int o) {
    Soft r;
    r.m = __shfl_xor_sync(0xffffffffu, v.m, o);
    r.s = __shfl_xor_sync(0xffffffffu, v.s, o);
    r.x = __shfl_xor_sync(0xffffffffu, v.x, o);
    return r;
}

// Reduces one triple per thread to thread 0's (block size a multiple of 32, at most 1024).
__device__ Soft blockSoft(Soft v, Soft* shared) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) softMerge(v, softShuffle(v, o));
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    Soft total = {NEG_INF, 0.0f, 0.0f};
    if (threadIdx.x == 0) for (int w = 0; w < (blockDim.x >> 5); w++) softMerge(total, shared[w]);
    return total;
}

// losses[n] = τ²·KL(p ‖ q), p = softmax(teacher/τ), q = softmax(student/τ). With
// log p − log q = (t − s)/τ − (mt + ln St) + (ms + ln Ss) and Σ p = 1, one pass gathers the student's
// (ms, Ss), the teacher's (mt, St) and Σ exp(t/τ − mt)·(t − s). When gradScale ≠ 0 the student row becomes
// gradScale·τ·(q − p), zero in the padding columns.
extern "C" __global__ void kl_divergence(float* losses, bf16* student, const bf16* teacher, int V, int Vp, float tau,
                                         float gradScale) {
    __shared__ Soft sharedS[32], sharedT[32];
    __shared__ float stats[4];
    long n = blockIdx.x;
    bf16* s = student + n * Vp;
    const bf16* t = teacher + n * Vp;
    float inv = 1.0f / tau;
    Soft qs = {NEG_INF, 0.0f, 0.0f}, pt = {NEG_INF, 0.0f, 0.0f};
    float vs[8], vt[8];
    for (int c = 8 * threadIdx.x; c < V; c += 8 * blockDim.x) {
        load8(s, c, V, vs);
        load8(t, c, V, vt);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            if (c + k >= V) continue;
            softMerge(qs, Soft{vs[k] * inv, 1.0f, 0.0f});
            softMerge(pt, Soft{vt[k] * inv, 1.0f, vt[k] - vs[k]});
        }
    }
    Soft S = blockSoft(qs, sharedS), T = blockSoft(pt, sharedT);
    if (threadIdx.x == 0) {
        float kl = T.x * inv / T.s + (S.m + logf(S.s)) - (T.m + logf(T.s));
        losses[n] = tau * tau * kl;
        stats[0] = S.m;
        stats[1] = S.s;
        stats[2] = T.m;
        stats[3] = T.s;
    }
    __syncthreads();
    if (gradScale == 0.0f) return;
    float ms = stats[0], fq = gradScale * tau / stats[1], mt = stats[2], fp = gradScale * tau / stats[3];
    for (int c = 8 * threadIdx.x; c < Vp; c += 8 * blockDim.x) {
        load8(s, c, Vp, vs);
        load8(t, c, Vp, vt);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            vs[k] = c + k >= V ? 0.0f : fq * expf(vs[k] * inv - ms) - fp * expf(vt[k] * inv - mt);
        }
        store8(s, c, Vp, vs);
    }
}

// Sums three values over the block into thread 0 (block size a multiple of 32).
__device__ void blockSum3(float& a, float& b, float& c, float* shared) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        a += __shfl_xor_sync(0xffffffffu, a, o);
        b += __shfl_xor_sync(0xffffffffu, b, o);
        c += __shfl_xor_sync(0xffffffffu, c, o);
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) {
        shared[3 * warp] = a;
        shared[3 * warp + 1] = b;
        shared[3 * warp + 2] = c;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        a = b = c = 0.0f;
        for (int w = 0; w < (blockDim.x >> 5); w++) {
            a += shared[3 * w];
            b += shared[3 * w + 1];
            c += shared[3 * w + 2];
        }
    }
}

// losses[n] = 1 − a·b / (max(‖a‖, ε)·max(‖b‖, ε)); da (may be null) = gradScale·(cos·a/‖a‖² − b/(‖a‖‖b‖)),
// the first term dropped where ‖a‖ < ε. Hidden states are bf16; accumulation is fp32.
extern "C" __global__ void cosine_loss(float* losses, bf16* da, const bf16* a, const bf16* b, int C, float gradScale) {
    __shared__ float shared[96];
    __shared__ float coef[2];
    long n = blockIdx.x;
    const bf16* x = a + n * C;
    const bf16* y = b + n * C;
    float ab = 0.0f, aa = 0.0f, bb = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float u = ld(x, c), v = ld(y, c);
        ab += u * v;
        aa += u * u;
        bb += v * v;
    }
    blockSum3(ab, aa, bb, shared);
    if (threadIdx.x == 0) {
        const float eps = 1e-8f;
        float na = sqrtf(aa), ca = fmaxf(na, eps), cb = fmaxf(sqrtf(bb), eps);
        float cosine = ab / (ca * cb);
        losses[n] = 1.0f - cosine;
        coef[0] = na < eps ? 0.0f : gradScale * cosine / (na * na);
        coef[1] = -gradScale / (ca * cb);
    }
    __syncthreads();
    if (da == nullptr) return;
    float fa = coef[0], fb = coef[1];
    bf16* g = da + n * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) st(g, c, fa * ld(x, c) + fb * ld(y, c));
}
