// Multi-head attention, flash style: scores are computed tile by tile with an online softmax, so no T×T matrix
// exists in memory. Scores s_ij = q_i·k_j / √hs. The mask (dev.cramjet.engine.Mask): sequence b has len_b valid
// positions (lengths[b], or all of them when lengths is null; right padding), query i sits at position qPos0 + i
// and sees key j when j < len_b and, if causal, j ≤ qPos0 + i. Queries at padded positions attend to nothing:
// their output rows and lse are 0, and the backward gives them, and padded keys and values, a zero gradient.
//
// Two implementations. Training and prompts (attention_forward_tc, attention_backward_kv_tc, _q_tc): FlashAttention-2
// on the tensor cores (mma.sync m16n8k16, bf16 operands, fp32 accumulators; see mma.cuh): a block of four warps
// owns 64 rows (queries, or keys in the dk/dv pass), each warp 16 of them, and the tiles it meets are staged in
// shared memory and read with ldmatrix; the probabilities stay in registers between the two products. The
// backward pass is two deterministic passes (keys then queries) that each recompute P from the saved lse, instead
// of one pass adding dq with atomics. Decoding from a KV cache (attention_decode): one thread per query row on
// the CUDA cores, since a step has too few queries per sequence to fill a 16-row tensor-core tile.
// The head size is a compile-time constant (-DHEAD_SIZE) so per-thread arrays live in registers.
#include "common.cuh"
#include "mma.cuh"

#define ROWS 64  // rows (queries or keys) a block owns, in both implementations

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

// Decoding forward, one thread per query. grid = (⌈Tq/ROWS⌉, B·H), ROWS threads. q row i of batch b: q + b·qBatch + i·qStride (head offset already applied);
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

// The head size is fixed per compiled module (-DHEAD_SIZE=n, n a multiple of 8, at most 128; the tensor-core kernels
// exist when it is a multiple of 16): the backend compiles one module per head size it meets.
#ifndef HEAD_SIZE
#define HEAD_SIZE 64
#endif

extern "C" __global__ void __launch_bounds__(ROWS) attention_decode(
    bf16* out, float* lse, const bf16* q, const bf16* k, const bf16* v, const int* lengths, int causal, int Tq, int Tk,
    long qStride, long qBatch, long kvStride, long kvBatch, int C, int H, int qPos0, int* err) {
    attentionForwardBody<HEAD_SIZE>(out, lse, q, k, v, lengths, causal, Tq, Tk, qStride, qBatch, kvStride, kvBatch,
                                    C, H, qPos0, err);
}


// ---- tensor cores ---------------------------------------------------------------------------------------------
#if HEAD_SIZE % 16 == 0

#define TC_THREADS 128  // four warps, 16 owned rows each

// A tile's shared-memory row stride in bf16: the head size plus 8, so the eight 16-byte rows an ldmatrix reads
// fall in distinct banks, and every row starts 16-byte aligned.
template <int HS>
struct Tile {
    static constexpr int stride = HS + 8;
};

// Copies rows [r0, r0 + ROWS_) of a head (row r at base + r·stride, HS bf16 each) into tile[ROWS_][HS + 8]; rows at
// or past limit are zero. 16-byte copies when the head's rows are 16-byte aligned (the block-uniform test), else
// element by element.
template <int HS, int ROWS_>
__device__ __forceinline__ void stageRows(bf16* tile, const bf16* base, long stride, int r0, int limit) {
    constexpr int S = Tile<HS>::stride, CHUNKS = HS / 8;
    bool vector = ((((unsigned long long) base) | (unsigned long long) (stride * 2)) & 15) == 0;
    for (int e = threadIdx.x; e < ROWS_ * CHUNKS; e += blockDim.x) {
        int r = e / CHUNKS, c = (e % CHUNKS) * 8;
        bf16* dst = tile + r * S + c;
        const bf16* src = base + (long) (r0 + r) * stride + c;
        if (r0 + r >= limit) {
            *reinterpret_cast<Words4*>(dst) = Words4{{0u, 0u, 0u, 0u}};
        } else if (vector) {
            *reinterpret_cast<Words4*>(dst) = *reinterpret_cast<const Words4*>(src);
        } else {
#pragma unroll
            for (int k = 0; k < 8; k++) dst[k] = src[k];
        }
    }
}

// The A fragments of a warp's 16 rows, [row0, row0 + 16) of a tile, for each 16-column step of the head.
template <int HS>
__device__ __forceinline__ void loadRowsA(unsigned (&a)[HS / 16][4], const bf16* tile, int row0) {
    constexpr int S = Tile<HS>::stride;
    int lane = threadIdx.x & 31;
#pragma unroll
    for (int kc = 0; kc < HS / 16; kc++) ldmatrix4(a[kc], tile + (row0 + (lane & 15)) * S + kc * 16 + (lane >> 4) * 8);
}

// The rows a backward block owns, [r0, r0 + ROWS) of two tensors (x and y, rows at or past limit zero), staged
// into xs and ys, and the A fragments of this warp's 16 of them.
template <int HS>
__device__ __forceinline__ void ownRows(unsigned (&xf)[HS / 16][4], unsigned (&yf)[HS / 16][4], bf16* xs, bf16* ys,
                                        const bf16* x, long xStride, const bf16* y, long yStride, int r0, int limit) {
    stageRows<HS, ROWS>(xs, x, xStride, r0, limit);
    stageRows<HS, ROWS>(ys, y, yStride, r0, limit);
    __syncthreads();
    int warp = threadIdx.x >> 5;
    loadRowsA<HS>(xf, xs, warp * 16);
    loadRowsA<HS>(yf, ys, warp * 16);
}

// acc[N/8][4] += A (16 × HS, fragments a) · Bᵀ where B is rows [0, N) of tile (N × HS): the scores of a warp's rows
// against N staged rows. Each ldmatrix.x4 brings the B fragments of two 8-row groups.
template <int HS, int N>
__device__ __forceinline__ void productRowsT(float (&acc)[N / 8][4], const unsigned (&a)[HS / 16][4], const bf16* tile) {
    constexpr int S = Tile<HS>::stride;
    int lane = threadIdx.x & 31;
#pragma unroll
    for (int nt = 0; nt < N / 8; nt += 2) {
#pragma unroll
        for (int kc = 0; kc < HS / 16; kc++) {
            unsigned b[4];
            ldmatrix4(b, tile + (nt * 8 + (lane & 7) + (lane >> 4) * 8) * S + kc * 16 + ((lane >> 3) & 1) * 8);
            mma16816(acc[nt], a[kc], b[0], b[1]);
            mma16816(acc[nt + 1], a[kc], b[2], b[3]);
        }
    }
}

// acc[HS/8][4] += P (16 × K, fragments p) · tile rows [0, K) (K × HS): the transposed ldmatrix gives B with k = the
// tile's rows.
template <int HS, int K>
__device__ __forceinline__ void productRows(float (&acc)[HS / 8][4], const unsigned (&p)[K / 16][4], const bf16* tile) {
    constexpr int S = Tile<HS>::stride;
    int lane = threadIdx.x & 31;
#pragma unroll
    for (int kk = 0; kk < K / 16; kk++) {
#pragma unroll
        for (int dt = 0; dt < HS / 8; dt += 2) {
            unsigned b[4];
            ldmatrix4Trans(b, tile + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * S + (dt + (lane >> 4)) * 8);
            mma16816(acc[dt], p[kk], b[0], b[1]);
            mma16816(acc[dt + 1], p[kk], b[2], b[3]);
        }
    }
}

// An fp32 accumulator tile (16 × N, as C fragments) as the A fragments of the next product, rounded to bf16.
template <int N>
__device__ __forceinline__ void packA(unsigned (&p)[N / 16][4], const float (&c)[N / 8][4]) {
#pragma unroll
    for (int kk = 0; kk < N / 16; kk++) {
        p[kk][0] = packBf16(c[2 * kk][0], c[2 * kk][1]);
        p[kk][1] = packBf16(c[2 * kk][2], c[2 * kk][3]);
        p[kk][2] = packBf16(c[2 * kk + 1][0], c[2 * kk + 1][1]);
        p[kk][3] = packBf16(c[2 * kk + 1][2], c[2 * kk + 1][3]);
    }
}

template <int N>
__device__ __forceinline__ void clear(float (&c)[N][4]) {
#pragma unroll
    for (int i = 0; i < N; i++) c[i][0] = c[i][1] = c[i][2] = c[i][3] = 0.0f;
}

// Stores a warp's 16 × HS accumulator tile, times scale[0] (rows g) and scale[1] (rows g + 8), into rows
// row0 + g and row0 + g + 8 of dst (row r at dst + r·stride); rows at or past T are skipped.
template <int HS>
__device__ __forceinline__ void storeRows(bf16* dst, long stride, int row0, int T, const float (&acc)[HS / 8][4],
                                          const float (&scale)[2]) {
    int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int half = 0; half < 2; half++) {
        int r = row0 + g + 8 * half;
        if (r >= T) continue;
        unsigned* out = reinterpret_cast<unsigned*>(dst + (long) r * stride);
#pragma unroll
        for (int dt = 0; dt < HS / 8; dt++) {
            out[(dt * 8 + 2 * t) / 2] = packBf16(acc[dt][2 * half] * scale[half], acc[dt][2 * half + 1] * scale[half]);
        }
    }
}

// Zeroes rows [r0, min(r0 + ROWS, T)) of HS values at dst (row r at dst + r·stride): a block of padded rows.
template <int HS>
__device__ __forceinline__ void zeroRows(bf16* dst, long stride, int r0, int T) {
    for (int e = threadIdx.x; e < ROWS * HS / 2; e += blockDim.x) {
        int r = r0 + e / (HS / 2), c = e % (HS / 2);
        if (r < T) reinterpret_cast<unsigned*>(dst + (long) r * stride)[c] = 0u;
    }
}

// Forward. grid = (⌈T/64⌉, B·H), 128 threads; q, k, v are the thirds of qkv [B, T, 3C] at head h. Warp w owns
// queries q0 + 16w …; the keys come in tiles of BK.
template <int HS>
__device__ void attentionForwardTc(bf16* out, float* lse, const bf16* qkv, const int* lengths, int causal, int T, int C,
                                   int H, int* err) {
    constexpr int BK = HS <= 64 ? 64 : 32, S = Tile<HS>::stride;
    alignas(16) __shared__ bf16 Qs[ROWS * S], Ks[BK * S], Vs[BK * S];
    int b = blockIdx.y / H, h = blockIdx.y % H, q0 = blockIdx.x * ROWS;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    int len = validLength(lengths, b, T, err);
    long C3 = 3L * C;
    const bf16* base = qkv + (long) b * T * C3 + h * HS;
    bf16* ob = out + (long) b * T * C + h * HS;
    float* lb = lse + ((long) b * H + h) * T;
    if (q0 >= len) {  // only padded queries (uniform over the block)
        zeroRows<HS>(ob, C, q0, T);
        for (int r = q0 + threadIdx.x; r < min(q0 + ROWS, T); r += blockDim.x) lb[r] = 0.0f;
        return;
    }
    stageRows<HS, ROWS>(Qs, base, C3, q0, T);
    __syncthreads();
    unsigned qf[HS / 16][4];
    loadRowsA<HS>(qf, Qs, warp * 16);
    const float scale = rsqrtf((float) HS) * LOG2E;  // scores in the log2 domain: exp2 is the fast path
    int row[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};
    float o[HS / 8][4], m[2] = {NEG_INF, NEG_INF}, l[2] = {0.0f, 0.0f};
    clear(o);
    int keys = causal ? min(len, q0 + ROWS) : len;  // keys any of the block's queries sees
    for (int k0 = 0; k0 < keys; k0 += BK) {
        __syncthreads();  // every warp is done with the previous tile
        stageRows<HS, BK>(Ks, base + C, C3, k0, len);
        stageRows<HS, BK>(Vs, base + 2 * C, C3, k0, len);
        __syncthreads();
        float s[BK / 8][4];
        clear(s);
        productRowsT<HS, BK>(s, qf, Ks);
        float mt[2] = {m[0], m[1]};
#pragma unroll
        for (int nt = 0; nt < BK / 8; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int key = k0 + nt * 8 + 2 * t + (e & 1), r = row[e >> 1];
                bool visible = key < len && (!causal || key <= r);
                s[nt][e] = visible ? s[nt][e] * scale : NEG_INF;
                mt[e >> 1] = fmaxf(mt[e >> 1], s[nt][e]);
            }
        }
        float base2[2];
#pragma unroll
        for (int i = 0; i < 2; i++) {  // the row's maximum over the four threads of its quad
            mt[i] = fmaxf(mt[i], __shfl_xor_sync(0xffffffffu, mt[i], 1));
            mt[i] = fmaxf(mt[i], __shfl_xor_sync(0xffffffffu, mt[i], 2));
            base2[i] = mt[i] == NEG_INF ? 0.0f : mt[i];  // a row that has seen nothing yet keeps zeros, not NaN
            float correction = exp2f(m[i] - base2[i]);
            l[i] *= correction;
#pragma unroll
            for (int dt = 0; dt < HS / 8; dt++) {
                o[dt][2 * i] *= correction;
                o[dt][2 * i + 1] *= correction;
            }
            m[i] = mt[i];
        }
#pragma unroll
        for (int nt = 0; nt < BK / 8; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                s[nt][e] = exp2f(s[nt][e] - base2[e >> 1]);
                l[e >> 1] += s[nt][e];
            }
        }
        unsigned p[BK / 16][4];
        packA<BK>(p, s);
        productRows<HS, BK>(o, p, Vs);
    }
    float inv[2];
#pragma unroll
    for (int i = 0; i < 2; i++) {
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
        bool active = row[i] < len;
        inv[i] = active ? 1.0f / l[i] : 0.0f;  // a padded query's row is zero
        if (t == 0 && row[i] < T) lb[row[i]] = active ? (m[i] + log2f(l[i])) / LOG2E : 0.0f;
    }
    storeRows<HS>(ob, C, q0 + warp * 16, T, o, inv);
}

// Backward, keys and values. grid = (⌈T/64⌉, B·H), 128 threads: warp w owns keys j = k0 + 16w …, and over the
// queries i that see them, in tiles of BQ: P_ij = exp(s_ij − lse_i), dv_j += Σ_i P_ij·dO_i,
// dS_ij = P_ij·(dO_i·v_j − D_i), dk_j += Σ_i dS_ij·q_i/√hs. The warp computes the transposed tiles (keys as rows),
// so P and dS are A fragments of the products with dO and Q.
template <int HS>
__device__ void attentionBackwardKvTc(bf16* dqkv, const bf16* qkv, const bf16* dout, const float* lse, const float* D,
                                      const int* lengths, int causal, int T, int C, int H, int* err) {
    constexpr int BQ = HS <= 64 ? 64 : 16, S = Tile<HS>::stride;
    alignas(16) __shared__ bf16 Ks[ROWS * S], Vs[ROWS * S], Qs[BQ * S], Gs[BQ * S];
    __shared__ float Ls[BQ], Ds[BQ];
    int b = blockIdx.y / H, h = blockIdx.y % H, k0 = blockIdx.x * ROWS;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    int len = validLength(lengths, b, T, err);
    long C3 = 3L * C;
    const bf16* base = qkv + (long) b * T * C3 + h * HS;
    const bf16* gb = dout + (long) b * T * C + h * HS;
    const float* lb = lse + ((long) b * H + h) * T;
    const float* db = D + ((long) b * H + h) * T;
    bf16* dkb = dqkv + (long) b * T * C3 + C + h * HS;
    if (k0 >= len) {  // only padded keys: zero gradients
        zeroRows<HS>(dkb, C3, k0, T);
        zeroRows<HS>(dkb + C, C3, k0, T);
        return;
    }
    unsigned kf[HS / 16][4], vf[HS / 16][4];
    ownRows<HS>(kf, vf, Ks, Vs, base + C, C3, base + 2 * C, C3, k0, len);
    const float scale = rsqrtf((float) HS), scale2 = scale * LOG2E;
    int key[2] = {k0 + warp * 16 + g, k0 + warp * 16 + g + 8};
    float dk[HS / 8][4], dv[HS / 8][4];
    clear(dk);
    clear(dv);
    for (int i0 = causal ? k0 : 0; i0 < len; i0 += BQ) {
        __syncthreads();
        stageRows<HS, BQ>(Qs, base, C3, i0, len);
        stageRows<HS, BQ>(Gs, gb, C, i0, len);
        for (int r = threadIdx.x; r < BQ; r += blockDim.x) {
            bool in = i0 + r < len;
            Ls[r] = in ? lb[i0 + r] * LOG2E : 0.0f;
            Ds[r] = in ? db[i0 + r] : 0.0f;
        }
        __syncthreads();
        float p[BQ / 8][4], dp[BQ / 8][4];
        clear(p);
        clear(dp);
        productRowsT<HS, BQ>(p, kf, Qs);   // sᵀ: keys × queries
        productRowsT<HS, BQ>(dp, vf, Gs);  // (dO·vᵀ)ᵀ
#pragma unroll
        for (int nt = 0; nt < BQ / 8; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int c = nt * 8 + 2 * t + (e & 1), q = i0 + c, j = key[e >> 1];
                bool visible = j < len && q < len && (!causal || j <= q);
                float pe = visible ? exp2f(p[nt][e] * scale2 - Ls[c]) : 0.0f;
                p[nt][e] = pe;
                dp[nt][e] = pe * (dp[nt][e] - Ds[c]) * scale;
            }
        }
        unsigned pa[BQ / 16][4], dsa[BQ / 16][4];
        packA<BQ>(pa, p);
        packA<BQ>(dsa, dp);
        productRows<HS, BQ>(dv, pa, Gs);
        productRows<HS, BQ>(dk, dsa, Qs);
    }
    const float one[2] = {1.0f, 1.0f};
    storeRows<HS>(dkb, C3, k0 + warp * 16, T, dk, one);  // padded keys kept their zeros
    storeRows<HS>(dkb + C, C3, k0 + warp * 16, T, dv, one);
}

// Backward, queries. grid = (⌈T/64⌉, B·H), 128 threads: warp w owns queries i = q0 + 16w …, and over the keys they
// see, in tiles of BK: dq_i += Σ_j dS_ij·k_j/√hs with dS as above.
template <int HS>
__device__ void attentionBackwardQTc(bf16* dqkv, const bf16* qkv, const bf16* dout, const float* lse, const float* D,
                                     const int* lengths, int causal, int T, int C, int H, int* err) {
    constexpr int BK = HS <= 64 ? 64 : 16, S = Tile<HS>::stride;
    alignas(16) __shared__ bf16 Qs[ROWS * S], Gs[ROWS * S], Ks[BK * S], Vs[BK * S];
    int b = blockIdx.y / H, h = blockIdx.y % H, q0 = blockIdx.x * ROWS;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    int len = validLength(lengths, b, T, err);
    long C3 = 3L * C;
    const bf16* base = qkv + (long) b * T * C3 + h * HS;
    bf16* dqb = dqkv + (long) b * T * C3 + h * HS;
    if (q0 >= len) {  // only padded queries: zero gradients
        zeroRows<HS>(dqb, C3, q0, T);
        return;
    }
    unsigned qf[HS / 16][4], gf[HS / 16][4];
    ownRows<HS>(qf, gf, Qs, Gs, base, C3, dout + (long) b * T * C + h * HS, C, q0, len);
    const float scale = rsqrtf((float) HS), scale2 = scale * LOG2E;
    int row[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};
    float L[2], Di[2];
#pragma unroll
    for (int i = 0; i < 2; i++) {
        bool active = row[i] < len;
        L[i] = active ? lse[((long) b * H + h) * T + row[i]] * LOG2E : 0.0f;
        Di[i] = active ? D[((long) b * H + h) * T + row[i]] : 0.0f;
    }
    float dq[HS / 8][4];
    clear(dq);
    int keys = causal ? min(len, q0 + ROWS) : len;
    for (int k0 = 0; k0 < keys; k0 += BK) {
        __syncthreads();
        stageRows<HS, BK>(Ks, base + C, C3, k0, len);
        stageRows<HS, BK>(Vs, base + 2 * C, C3, k0, len);
        __syncthreads();
        float p[BK / 8][4], dp[BK / 8][4];
        clear(p);
        clear(dp);
        productRowsT<HS, BK>(p, qf, Ks);
        productRowsT<HS, BK>(dp, gf, Vs);
#pragma unroll
        for (int nt = 0; nt < BK / 8; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int j = k0 + nt * 8 + 2 * t + (e & 1), r = row[e >> 1];
                bool visible = r < len && j < len && (!causal || j <= r);
                float pe = visible ? exp2f(p[nt][e] * scale2 - L[e >> 1]) : 0.0f;
                dp[nt][e] = pe * (dp[nt][e] - Di[e >> 1]) * scale;
            }
        }
        unsigned dsa[BK / 16][4];
        packA<BK>(dsa, dp);
        productRows<HS, BK>(dq, dsa, Ks);
    }
    const float one[2] = {1.0f, 1.0f};
    storeRows<HS>(dqb, C3, q0 + warp * 16, T, dq, one);  // padded queries kept their zeros
}

extern "C" __global__ void __launch_bounds__(TC_THREADS) attention_forward_tc(
    bf16* out, float* lse, const bf16* qkv, const int* lengths, int causal, int T, int C, int H, int* err) {
    attentionForwardTc<HEAD_SIZE>(out, lse, qkv, lengths, causal, T, C, H, err);
}

extern "C" __global__ void __launch_bounds__(TC_THREADS) attention_backward_kv_tc(
    bf16* dqkv, const bf16* qkv, const bf16* dout, const float* lse, const float* D, const int* lengths, int causal,
    int T, int C, int H, int* err) {
    attentionBackwardKvTc<HEAD_SIZE>(dqkv, qkv, dout, lse, D, lengths, causal, T, C, H, err);
}

extern "C" __global__ void __launch_bounds__(TC_THREADS) attention_backward_q_tc(
    bf16* dqkv, const bf16* qkv, const bf16* dout, const float* lse, const float* D, const int* lengths, int causal,
    int T, int C, int H, int* err) {
    attentionBackwardQTc<HEAD_SIZE>(dqkv, qkv, dout, lse, D, lengths, causal, T, C, H, err);
}
#endif
