// Ops that move whole rows: the token + position embedding (bf16 or Q8_0 table) and its backward, and pooling runs
// of rows (gathering single rows is its special case) and its backward.
#include "common.cuh"

// out[n,:] = wte[tokens[n],:] + wpe[posOffset + n mod T,:] (wpe may be null). One block per row n; threads stride
// the row 8 channels at a time. An out-of-range token raises ERR_TOKEN_RANGE and yields a zero row.
// E is the table's element type: bf16, or Q8Block for an int8 table (expanded as it is read).
template <typename E>
__device__ void embeddingBody(bf16* out, const int* tokens, const E* wte, const bf16* wpe, int T, int C, int V,
                              int posOffset, int* err) {
    long n = blockIdx.x;
    int token = tokens[n];
    bool valid = token >= 0 && token < V;
    if (!valid && threadIdx.x == 0) atomicOr(err, ERR_TOKEN_RANGE);
    long e = (long) (valid ? token : 0) * C;
    const bf16* p = wpe ? wpe + (long) (posOffset + (int) (n % T)) * C : 0;
    float x[8], y[8];
    for (int c = 8 * threadIdx.x; c < C; c += 8 * blockDim.x) {
        load8(wte, e + c, (long) V * C, x);
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
extern "C" __global__ void embedding_forward_bf16(bf16* out, const int* tokens, const bf16* wte, const bf16* wpe,
                                                  int T, int C, int V, int posOffset, int* err) {
    embeddingBody(out, tokens, wte, wpe, T, C, V, posOffset, err);
}
extern "C" __global__ void embedding_forward_q8(bf16* out, const int* tokens, const Q8Block* wte, const bf16* wpe,
                                                int T, int C, int V, int posOffset, int* err) {
    embeddingBody(out, tokens, wte, wpe, T, C, V, posOffset, err);
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

// Segment s of segments [S,2] is rows [first, first + count) of an N-row tensor; it must be non-empty and inside.
// Returns its count, or 0 (raising ERR_SEGMENT_RANGE) for a bad one.
__device__ __forceinline__ int segmentRows(const int* segments, long s, int N, int* first, int* err) {
    *first = segments[2 * s];
    int count = segments[2 * s + 1];
    if (count >= 1 && *first >= 0 && (long) *first + count <= N) return count;
    if (threadIdx.x == 0) atomicOr(err, ERR_SEGMENT_RANGE);
    return 0;
}

// out[s,:] = (1/count_s)·Σ_{r < count_s} in[first_s + r, :], summed in row order in fp32 as the CPU does. One block
// per segment, 8 channels per thread; a bad segment yields a zero row.
extern "C" __global__ void pool_forward(bf16* out, const bf16* in, const int* segments, int N, int C, int* err) {
    long s = blockIdx.x;
    int first;
    int count = segmentRows(segments, s, N, &first, err);
    float inv = count > 0 ? 1.0f / count : 0.0f;
    float x[8], acc[8];
    for (int c = 8 * threadIdx.x; c < C; c += 8 * blockDim.x) {
#pragma unroll
        for (int k = 0; k < 8; k++) acc[k] = 0.0f;
        for (int r = 0; r < count; r++) {
            load8(in + (long) (first + r) * C, c, C, x);
#pragma unroll
            for (int k = 0; k < 8; k++) acc[k] += x[k];
        }
#pragma unroll
        for (int k = 0; k < 8; k++) acc[k] *= inv;
        store8(out + s * C, c, C, acc);
    }
}

// din[first_s + r, :] += dout[s,:]/count_s for every segment, onto a din the host has zeroed (rows in no segment stay
// 0). One block per segment. Disjoint segments (the gathers a sparse head makes, each sequence's mean) write every
// row once onto zero, so the result is exact and deterministic; overlapping ones meet in bf16 atomic adds, whose
// order, and so the last bit, can vary between runs.
extern "C" __global__ void pool_backward(bf16* din, const bf16* dout, const int* segments, int N, int C, int* err) {
    long s = blockIdx.x;
    int first;
    int count = segmentRows(segments, s, N, &first, err);
    float inv = count > 0 ? 1.0f / count : 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float g = bf2f(dout[s * C + c]) * inv;
        for (int r = 0; r < count; r++) atomicAddTo(din + (long) (first + r) * C + c, g);
    }
}
