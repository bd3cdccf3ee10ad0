// Multi-head attention, flash style: scores are computed tile by tile with an online softmax, so no T×T matrix
// exists in memory. One thread owns one row (a query in the forward and dq passes, a key in the dk/dv pass) and
// keeps that row's accumulators in registers; the rows it meets are staged through shared memory.
// Scores s_ij = q_i·k_j / √hs. The mask (dev.cramjet.engine.Mask): sequence b has len_b valid positions
// (lengths[b], or all of them when lengths is null; right padding), query i sits at position qPos0 + i and sees key
// j when j < len_b and, if causal, j ≤ qPos0 + i. Queries at padded positions attend to nothing: their output rows
// and lse are 0, and the backward gives them, and padded keys and values, a zero gradient.
// HS (head size) is a template parameter so the per-thread arrays live in registers.
#include "common.cuh"

#define ROWS 64  // threads (owned rows) per block

// len_b: lengths[b] when given, else T. A length outside [1, T] raises ERR_LENGTH_RANGE and is clamped into it, so
// no access leaves the tensors.
__device__ __forceinline__ int validLength(const int* lengths, int b, int T, int* err) {
    if (!lengths) return T;
    int len = lengths[b];
    if (len >= 1 && len <= T) return len;
    if (threadIdx.x == 0) atomicOr(err, ERR_LENGTH_RANGE);
    return len < 1 ? 1 : T;
}

// Zeroes the HS values at dst (a padded row's output or gradient).
template <int HS>
__device__ __forceinline__ void zeroRow(bf16* dst) {
    float z[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
    for (int d = 0; d < HS; d += 8) store8(dst, d, HS, z);
}

// Stages rows [j0, j0 + TILE) of a head's k (or q, dO…) into tile[TILE][HS] as fp32; rows ≥ limit are zero.
template <int HS, int TILE>
__device__ __forceinline__ void stageTile(float (*tile)[HS], const bf16* base, long stride, int j0, int limit) {
    for (int e = threadIdx.x; e < TILE * HS / 8; e += blockDim.x) {
        int r = e / (HS / 8), c = (e % (HS / 8)) * 8;
        float v[8];
        if (j0 + r < limit) load8(base + (long) (j0 + r) * stride, c, HS, v);
        else
#pragma unroll
            for (int k = 0; k < 8; k++) v[k] = 0.0f;
#pragma unroll
        for (int k = 0; k < 8; k++) tile[r][c + k] = v[k];
    }
}

// Copies the row this thread owns into a padded bf16 shared row (odd word stride: no bank conflicts).
template <int HS>
__device__ __forceinline__ void stageOwnRow(bf16 (*rows)[HS + 2], const bf16* src, bool active) {
    for (int d = 0; d < HS; d++) rows[threadIdx.x][d] = active ? src[d] : (bf16) 0;
}

// Stores a register row of HS values to global memory, 8 at a time.
template <int HS>
__device__ __forceinline__ void store8Row(bf16* dst, const float* row) {
#pragma unroll
    for (int d = 0; d < HS; d += 8) store8(dst, d, HS, row + d);
}

template <int HS>
__device__ __forceinline__ float dotOwn(const bf16* own, const float* other) {
    const unsigned* w = reinterpret_cast<const unsigned*>(own);
    float s = 0.0f;
#pragma unroll
    for (int d = 0; d < HS; d += 2) {
        unsigned p = w[d / 2];
        s += __uint_as_float(p << 16) * other[d] + __uint_as_float(p & 0xffff0000u) * other[d + 1];
    }
    return s;
}

// Forward. grid = (⌈Tq/ROWS⌉, B·H). q row i of batch b: q + b·qBatch + i·qStride (head offset already applied);
// k, v rows likewise with kvBatch, kvStride. out [B,Tq,C] at head offset; lse [B,H,Tq] natural-log logsumexp of
// the scaled scores (skipped when null). lengths count keys (Tk of them); with qPos0 > 0 (decoding from a KV
// cache) lengths is null.
template <int HS>
__device__ void attentionForwardBody(bf16* out, float* lse, const bf16* q, const bf16* k, const bf16* v,
                                     const int* lengths, int causal, int Tq, int Tk, long qStride, long qBatch,
                                     long kvStride, long kvBatch, int C, int H, int qPos0, int* err) {
    constexpr int TILE = HS <= 64 ? 32 : 16;
    alignas(16) __shared__ float Ks[TILE][HS], Vs[TILE][HS];
    int b = blockIdx.y / H, h = blockIdx.y % H;
    int i = blockIdx.x * ROWS + threadIdx.x;
    int len = validLength(lengths, b, Tk, err);
    bool active = i < Tq && qPos0 + i < len;
    bf16* oi = out + ((long) b * Tq + i) * C + h * HS;
    float* li = lse ? lse + ((long) b * H + h) * Tq + i : 0;
    if (qPos0 + (int) blockIdx.x * ROWS >= len) {  // the whole block is padding (uniform: no barrier is skipped)
        if (i < Tq) {
            zeroRow<HS>(oi);
            if (li) *li = 0.0f;
        }
        return;
    }
    const float scale = rsqrtf((float) HS) * LOG2E;  // scores kept in the log2 domain: exp2 is the fast path
    float qr[HS], o[HS];
    const bf16* qi = q + b * qBatch + (long) (active ? i : 0) * qStride + h * HS;
#pragma unroll
    for (int d = 0; d < HS; d += 8) {
        float t[8];
        load8(qi, d, HS, t);
#pragma unroll
        for (int e = 0; e < 8; e++) { qr[d + e] = t[e] * scale; o[d + e] = 0.0f; }
    }
    const bf16* kb = k + b * kvBatch + h * HS;
    const bf16* vb = v + b * kvBatch + h * HS;
    float m = NEG_INF, l = 0.0f;
    int blockKeys = causal ? min(len, qPos0 + (int) blockIdx.x * ROWS + ROWS) : len;  // keys any of its queries sees
    int keys = causal ? min(len, qPos0 + i + 1) : len;                               // keys this query sees
    for (int j0 = 0; j0 < blockKeys; j0 += TILE) {
        __syncthreads();
        stageTile<HS, TILE>(Ks, kb, kvStride, j0, len);
        stageTile<HS, TILE>(Vs, vb, kvStride, j0, len);
        __syncthreads();
        int visible = active ? min(TILE, keys - j0) : 0;
        if (visible <= 0) continue;
        float s[TILE];
        float mt = m;
#pragma unroll
        for (int jj = 0; jj < TILE; jj++) {
            float dot = 0.0f;
#pragma unroll
            for (int d = 0; d < HS; d++) dot += qr[d] * Ks[jj][d];
            s[jj] = jj < visible ? dot : NEG_INF;
            mt = fmaxf(mt, s[jj]);
        }
        float correction = exp2f(m - mt);  // m = −∞ on the first tile: 0
        l *= correction;
#pragma unroll
        for (int d = 0; d < HS; d++) o[d] *= correction;
#pragma unroll
        for (int jj = 0; jj < TILE; jj++) {
            float p = exp2f(s[jj] - mt);
            l += p;
#pragma unroll
            for (int d = 0; d < HS; d++) o[d] += p * Vs[jj][d];
        }
        m = mt;
    }
    if (i >= Tq) return;
    if (!active) {  // a padded query
        zeroRow<HS>(oi);
        if (li) *li = 0.0f;
        return;
    }
    float inv = 1.0f / l;
#pragma unroll
    for (int d = 0; d < HS; d += 8) {
        float t[8];
#pragma unroll
        for (int e = 0; e < 8; e++) t[e] = o[d + e] * inv;
        store8(oi, d, HS, t);
    }
    if (li) *li = (m + log2f(l)) / LOG2E;
}

// Backward, step 1: D_i = Σ_d dO_i·O_i per (b, h, t), one warp per row. D[B,H,T].
extern "C" __global__ void attention_backward_dot(float* D, const bf16* dout, const bf16* out, int B, int T, int C,
                                                  int H) {
    int hs = C / H;
    long row = (long) blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;  // row = (b·T + t)·H + h
    if (row >= (long) B * T * H) return;
    int lane = threadIdx.x & 31;
    int h = (int) (row % H);
    long bt = row / H;
    const bf16* g = dout + bt * C + h * hs;
    const bf16* o = out + bt * C + h * hs;
    float s = 0.0f;
    for (int d = lane; d < hs; d += 32) s += bf2f(g[d]) * bf2f(o[d]);
    s = warpSum(s);
    long b = bt / T, t = bt % T;
    if (lane == 0) D[(b * H + h) * T + t] = s;
}

// Backward, step 2: each thread owns key j and accumulates, over the queries i that see it (i < len, and i ≥ j if
// causal), p = exp(s_ij − lse_i), dv_j += p·dO_i, ds = p·(dO_i·v_j − D_i), dk_j += ds·q_i/√hs.
template <int HS>
__device__ void attentionBackwardKVBody(bf16* dqkv, const bf16* qkv, const bf16* dout, const float* lse,
                                        const float* D, const int* lengths, int causal, int T, int C, int H, int* err) {
    constexpr int TILE = HS <= 64 ? 16 : 8;
    alignas(16) __shared__ bf16 Kown[ROWS][HS + 2], Vown[ROWS][HS + 2];
    alignas(16) __shared__ float Qs[TILE][HS], Gs[TILE][HS];
    __shared__ float Ls[TILE], Ds[TILE];
    int b = blockIdx.y / H, h = blockIdx.y % H;
    int j = blockIdx.x * ROWS + threadIdx.x;
    int len = validLength(lengths, b, T, err);
    bool active = j < len;
    long C3 = 3L * C;
    bf16* out = dqkv + (long) b * T * C3 + (long) j * C3 + h * HS;
    if ((int) blockIdx.x * ROWS >= len) {  // only padded keys in this block
        if (j < T) {
            zeroRow<HS>(out + C);
            zeroRow<HS>(out + 2 * C);
        }
        return;
    }
    const bf16* base = qkv + (long) b * T * C3 + h * HS;
    stageOwnRow<HS>(Kown, base + (long) j * C3 + C, active);
    stageOwnRow<HS>(Vown, base + (long) j * C3 + 2 * C, active);
    const float scale = rsqrtf((float) HS);
    float dk[HS], dv[HS];
#pragma unroll
    for (int d = 0; d < HS; d++) { dk[d] = 0.0f; dv[d] = 0.0f; }
    const bf16* gb = dout + (long) b * T * C + h * HS;
    const float* lb = lse + ((long) b * H + h) * T;
    const float* db = D + ((long) b * H + h) * T;
    for (int i0 = causal ? blockIdx.x * ROWS : 0; i0 < len; i0 += TILE) {
        __syncthreads();
        stageTile<HS, TILE>(Qs, base, C3, i0, len);
        stageTile<HS, TILE>(Gs, gb, C, i0, len);
        if (threadIdx.x < TILE) {
            Ls[threadIdx.x] = i0 + threadIdx.x < len ? lb[i0 + threadIdx.x] : 0.0f;
            Ds[threadIdx.x] = i0 + threadIdx.x < len ? db[i0 + threadIdx.x] : 0.0f;
        }
        __syncthreads();
        if (!active) continue;
#pragma unroll
        for (int ii = 0; ii < TILE; ii++) {
            int i = i0 + ii;
            if ((causal && i < j) || i >= len) continue;
            float p = expf(dotOwn<HS>(Kown[threadIdx.x], Qs[ii]) * scale - Ls[ii]);
            float dp = dotOwn<HS>(Vown[threadIdx.x], Gs[ii]);
            float ds = p * (dp - Ds[ii]) * scale;
#pragma unroll
            for (int d = 0; d < HS; d++) {
                dv[d] += p * Gs[ii][d];
                dk[d] += ds * Qs[ii][d];
            }
        }
    }
    if (j >= T) return;
    store8Row<HS>(out + C, dk);  // a padded key (not active) kept its zeros
    store8Row<HS>(out + 2 * C, dv);
}

// Backward, step 3: each thread owns query i: over the keys it sees, ds as above, dq_i += ds·k_j/√hs.
template <int HS>
__device__ void attentionBackwardQBody(bf16* dqkv, const bf16* qkv, const bf16* dout, const float* lse,
                                       const float* D, const int* lengths, int causal, int T, int C, int H, int* err) {
    constexpr int TILE = HS <= 64 ? 16 : 8;
    alignas(16) __shared__ bf16 Qown[ROWS][HS + 2], Gown[ROWS][HS + 2];
    alignas(16) __shared__ float Ks[TILE][HS], Vs[TILE][HS];
    int b = blockIdx.y / H, h = blockIdx.y % H;
    int i = blockIdx.x * ROWS + threadIdx.x;
    int len = validLength(lengths, b, T, err);
    bool active = i < len;
    long C3 = 3L * C;
    bf16* out = dqkv + (long) b * T * C3 + (long) i * C3 + h * HS;
    if ((int) blockIdx.x * ROWS >= len) {  // only padded queries in this block
        if (i < T) zeroRow<HS>(out);
        return;
    }
    const bf16* base = qkv + (long) b * T * C3 + h * HS;
    stageOwnRow<HS>(Qown, base + (long) i * C3, active);
    stageOwnRow<HS>(Gown, dout + ((long) b * T + i) * C + h * HS, active);
    float L = active ? lse[((long) b * H + h) * T + i] : 0.0f;
    float Di = active ? D[((long) b * H + h) * T + i] : 0.0f;
    const float scale = rsqrtf((float) HS);
    float dq[HS];
#pragma unroll
    for (int d = 0; d < HS; d++) dq[d] = 0.0f;
    int blockKeys = causal ? min(len, (int) blockIdx.x * ROWS + ROWS) : len;
    int keys = causal ? min(len, i + 1) : len;
    for (int j0 = 0; j0 < blockKeys; j0 += TILE) {
        __syncthreads();
        stageTile<HS, TILE>(Ks, base + C, C3, j0, len);
        stageTile<HS, TILE>(Vs, base + 2 * C, C3, j0, len);
        __syncthreads();
        if (!active) continue;
#pragma unroll
        for (int jj = 0; jj < TILE; jj++) {
            if (j0 + jj >= keys) continue;
            float p = expf(dotOwn<HS>(Qown[threadIdx.x], Ks[jj]) * scale - L);
            float dp = dotOwn<HS>(Gown[threadIdx.x], Vs[jj]);
            float ds = p * (dp - Di) * scale;
#pragma unroll
            for (int d = 0; d < HS; d++) dq[d] += ds * Ks[jj][d];
        }
    }
    if (i >= T) return;
    store8Row<HS>(out, dq);  // a padded query (not active) kept its zeros
}

// Writes the k and v thirds of qkv [B,Tn,3C] into kCache, vCache [B,Tmax,C] at positions [pos, pos + Tn).
extern "C" __global__ void kv_cache_write(bf16* kCache, bf16* vCache, const bf16* qkv, int B, int Tn, int Tmax, int C,
                                          int pos) {
    FOR_EACH(e, (long) B * Tn * C) {
        long c = e % C, bt = e / C;
        long b = bt / Tn, t = bt % Tn;
        long dst = (b * Tmax + pos + t) * C + c;
        kCache[dst] = qkv[bt * 3 * C + C + c];
        vCache[dst] = qkv[bt * 3 * C + 2 * C + c];
    }
}

// The head size is fixed per compiled module (-DHEAD_SIZE=n, n a multiple of 8, at most 128): the backend compiles
// one module per head size it meets, so the per-thread arrays are sized at compile time.
#ifndef HEAD_SIZE
#define HEAD_SIZE 64
#endif

extern "C" __global__ void __launch_bounds__(ROWS) attention_forward(
    bf16* out, float* lse, const bf16* q, const bf16* k, const bf16* v, const int* lengths, int causal, int Tq, int Tk,
    long qStride, long qBatch, long kvStride, long kvBatch, int C, int H, int qPos0, int* err) {
    attentionForwardBody<HEAD_SIZE>(out, lse, q, k, v, lengths, causal, Tq, Tk, qStride, qBatch, kvStride, kvBatch,
                                    C, H, qPos0, err);
}

extern "C" __global__ void __launch_bounds__(ROWS) attention_backward_kv(
    bf16* dqkv, const bf16* qkv, const bf16* dout, const float* lse, const float* D, const int* lengths, int causal,
    int T, int C, int H, int* err) {
    attentionBackwardKVBody<HEAD_SIZE>(dqkv, qkv, dout, lse, D, lengths, causal, T, C, H, err);
}

extern "C" __global__ void __launch_bounds__(ROWS) attention_backward_q(
    bf16* dqkv, const bf16* qkv, const bf16* dout, const float* lse, const float* D, const int* lengths, int causal,
    int T, int C, int H, int* err) {
    attentionBackwardQBody<HEAD_SIZE>(dqkv, qkv, dout, lse, D, lengths, causal, T, C, H, err);
}
