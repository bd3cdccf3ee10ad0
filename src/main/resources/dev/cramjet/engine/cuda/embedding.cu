// Token + position embedding, forward and backward.
#include "common.cuh"

// out[n,:] = wte[tokens[n],:] + wpe[posOffset + n mod T,:]. One block per row n; threads stride the row 8 channels
// at a time. An out-of-range token raises ERR_TOKEN_RANGE and yields a zero row.
extern "C" __global__ void embedding_forward(bf16* out, const int* tokens, const bf16* wte, const bf16* wpe,
                                             int T, int C, int V, int posOffset, int* err) {
    long n = blockIdx.x;
    int token = tokens[n];
    bool valid = token >= 0 && token < V;
    if (!valid && threadIdx.x == 0) atomicOr(err, ERR_TOKEN_RANGE);
    const bf16* e = wte + (long) (valid ? token : 0) * C;
    const bf16* p = wpe ? wpe + (long) (posOffset + (int) (n % T)) * C : 0;
    float x[8], y[8];
    for (int c = 8 * threadIdx.x; c < C; c += 8 * blockDim.x) {
        load8(e, c, C, x);
        if (p) {
            load8(p, c, C, y);
#pragma unroll
            for (int k = 0; k < 8; k++) x[k] += y[k];
        }
        if (!valid)
#pragma unroll
            for (int k = 0; k < 8; k++) x[k] = 0.0f;
        store8(out + n * C, c, C, x);
    }
}

// dwte[tokens[n],:] += dout[n,:]. Rows sharing a token collide, so the adds are atomic. Invalid tokens were
// reported by the forward pass and are skipped.
template <typename G>
__device__ void embeddingBackwardBody(G* dwte, const bf16* dout, const int* tokens, int C, int V) {
    long n = blockIdx.x;
    int token = tokens[n];
    if (token < 0 || token >= V) return;
    G* row = dwte + (long) token * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) atomicAddTo(row + c, bf2f(dout[n * C + c]));
}
extern "C" __global__ void embedding_backward_bf16(bf16* dwte, const bf16* dout, const int* tokens, int C, int V) {
    embeddingBackwardBody(dwte, dout, tokens, C, V);
}
extern "C" __global__ void embedding_backward_f32(float* dwte, const bf16* dout, const int* tokens, int C, int V) {
    embeddingBackwardBody(dwte, dout, tokens, C, V);
}
