// Fused softmax + cross-entropy: one block per row of logits [N, Vp], only the first V columns are real.
#include "common.cuh"

// Merges two (max, Σexp(x − max)) pairs of an online softmax.
__device__ __forceinline__ void softmaxMerge(float& m, float& s, float m2, float s2) {
    float mx = fmaxf(m, m2);
    if (mx == NEG_INF) return;  // both empty
    s = (m == NEG_INF ? 0.0f : s * expf(m - mx)) + (m2 == NEG_INF ? 0.0f : s2 * expf(m2 - mx));
    m = mx;
}

// losses[n] = logsumexp(x[:V]) − x[target] (0 for target < 0, the ignore index). When gradScale ≠ 0 the row is
// overwritten by gradScale·(softmax(x) − onehot(target)), zero in the padding columns and in ignored rows.
// The probabilities are recomputed from the logsumexp, never stored. A target ≥ V raises ERR_TARGET_RANGE.
extern "C" __global__ void cross_entropy(float* losses, bf16* logits, const int* targets, int V, int Vp,
                                         float gradScale, int* err) {
    __shared__ float sm[32], ss[32];
    __shared__ float rowLse, targetLogit;
    long n = blockIdx.x;
    bf16* x = logits + n * Vp;
    int target = targets[n];
    bool ignored = target < 0 || target >= V;
    if (threadIdx.x == 0) {
        if (target >= V) atomicOr(err, ERR_TARGET_RANGE);
        targetLogit = ignored ? 0.0f : bf2f(x[target]);
    }
    float v[8];
    float m = NEG_INF, s = 0.0f;
    for (int c = 8 * threadIdx.x; c < V; c += 8 * blockDim.x) {
        load8(x, c, V, v);
#pragma unroll
        for (int k = 0; k < 8; k++) if (c + k < V) softmaxMerge(m, s, v[k], 1.0f);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        softmaxMerge(m, s, m2, s2);
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) { sm[warp] = m; ss[warp] = s; }
    __syncthreads();
    if (threadIdx.x == 0) {
        float M = NEG_INF, S = 0.0f;
        for (int w = 0; w < (blockDim.x >> 5); w++) softmaxMerge(M, S, sm[w], ss[w]);
        rowLse = M + logf(S);
        losses[n] = ignored ? 0.0f : rowLse - targetLogit;
    }
    __syncthreads();
    if (gradScale == 0.0f) return;
    float lse = rowLse;
    for (int c = 8 * threadIdx.x; c < Vp; c += 8 * blockDim.x) {
        load8(x, c, Vp, v);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            int col = c + k;
            v[k] = ignored || col >= V ? 0.0f : gradScale * (expf(v[k] - lse) - (col == target ? 1.0f : 0.0f));
        }
        store8(x, c, Vp, v);
    }
}
