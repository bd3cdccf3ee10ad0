// Shared by every Cramjet kernel file. No CUDA headers are included: NVRTC on a bare GPU box has no include
// directory, so bf16 and fp16 are handled here as raw 16-bit patterns, converted with the same round-to-nearest-even
// the Java side uses. All arithmetic is fp32.
//
// Conventions of every kernel file: tensors are row-major and contiguous; shapes are named as in
// dev.cramjet.engine.Backend (B batch, T sequence, C channels, N = B·T rows, H heads, hs = C/H, OC output channels);
// activations are bf16, statistics, log-sum-exps, losses and optimizer state fp32, token ids int32. A kernel whose
// gradient type is a template parameter exists as NAME_bf16 and NAME_f32. Bad input that only the device can see
// (a token, target, length or segment out of range) sets an ERR_* bit in the flag the host reads at its next
// synchronising call, and the kernel writes something harmless instead.
#pragma once

typedef unsigned short bf16;
typedef unsigned long long u64;

// 16-byte packets for vector loads and stores (plain C++ so no CUDA vector-type header is needed).
struct alignas(16) Words4 { unsigned w[4]; };
struct alignas(16) Floats4 { float f[4]; };

__device__ __forceinline__ float bf2f(bf16 h) { return __uint_as_float(((unsigned) h) << 16); }

// fp32 -> bf16, round to nearest even; NaN stays NaN (quiet bit forced so rounding cannot turn it into Inf).
__device__ __forceinline__ bf16 f2bf(float f) {
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16) ((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (bf16) (u >> 16);
}

// Element access for tensors whose type is a template parameter: float (F32) or bf16 (BF16).
__device__ __forceinline__ float ld(const float* p, long i) { return p[i]; }
__device__ __forceinline__ float ld(const bf16* p, long i) { return bf2f(p[i]); }
__device__ __forceinline__ void st(float* p, long i, float v) { p[i] = v; }
__device__ __forceinline__ void st(bf16* p, long i, float v) { p[i] = f2bf(v); }

// Eight consecutive bf16 elements [i, i+8) of p: one 16-byte load when aligned and in range, else element by element
// (missing elements read as 0).
__device__ __forceinline__ void load8(const bf16* p, long i, long n, float* out) {
    const bf16* q = p + i;
    if (i + 8 <= n && (((unsigned long long) q) & 15) == 0) {
        Words4 raw = *reinterpret_cast<const Words4*>(q);
#pragma unroll
        for (int k = 0; k < 4; k++) {
            out[2 * k] = __uint_as_float(raw.w[k] << 16);
            out[2 * k + 1] = __uint_as_float(raw.w[k] & 0xffff0000u);
        }
    } else {
#pragma unroll
        for (int k = 0; k < 8; k++) out[k] = i + k < n ? bf2f(q[k]) : 0.0f;
    }
}

// Stores eight values to [i, i+8) of p, clipped to n; one 16-byte store when aligned and in range.
__device__ __forceinline__ void store8(bf16* p, long i, long n, const float* v) {
    bf16* q = p + i;
    if (i + 8 <= n && (((unsigned long long) q) & 15) == 0) {
        Words4 raw;
#pragma unroll
        for (int k = 0; k < 4; k++) raw.w[k] = (unsigned) f2bf(v[2 * k]) | ((unsigned) f2bf(v[2 * k + 1]) << 16);
        *reinterpret_cast<Words4*>(q) = raw;
    } else {
#pragma unroll
        for (int k = 0; k < 8; k++) if (i + k < n) q[k] = f2bf(v[k]);
    }
}

// Eight consecutive fp32 elements: two 16-byte loads when aligned and in range.
__device__ __forceinline__ void load8(const float* p, long i, long n, float* out) {
    const float* q = p + i;
    if (i + 8 <= n && (((unsigned long long) q) & 15) == 0) {
        Floats4 a = *reinterpret_cast<const Floats4*>(q), b = *reinterpret_cast<const Floats4*>(q + 4);
#pragma unroll
        for (int k = 0; k < 4; k++) { out[k] = a.f[k]; out[4 + k] = b.f[k]; }
    } else {
#pragma unroll
        for (int k = 0; k < 8; k++) out[k] = i + k < n ? q[k] : 0.0f;
    }
}

__device__ __forceinline__ void store8(float* p, long i, long n, const float* v) {
    float* q = p + i;
    if (i + 8 <= n && (((unsigned long long) q) & 15) == 0) {
        Floats4 a, b;
#pragma unroll
        for (int k = 0; k < 4; k++) { a.f[k] = v[k]; b.f[k] = v[4 + k]; }
        *reinterpret_cast<Floats4*>(q) = a;
        *reinterpret_cast<Floats4*>(q + 4) = b;
    } else {
#pragma unroll
        for (int k = 0; k < 8; k++) if (i + k < n) q[k] = v[k];
    }
}

// Atomic p[0] += v. fp32 has a hardware atomic; bf16 is updated through a compare-and-swap of the 32-bit word
// that holds it, so it works for any element alignment.
__device__ __forceinline__ void atomicAddTo(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomicAddTo(bf16* p, float v) {
    unsigned* word = (unsigned*) ((unsigned long long) p & ~3ull);
    unsigned shift = ((unsigned long long) p & 2) ? 16 : 0;
    unsigned old = *word, assumed;
    do {
        assumed = old;
        float sum = bf2f((bf16) ((assumed >> shift) & 0xffffu)) + v;
        unsigned updated = (assumed & ~(0xffffu << shift)) | ((unsigned) f2bf(sum) << shift);
        old = atomicCAS(word, assumed, updated);
    } while (old != assumed);
}

__device__ __forceinline__ float warpSum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warpMax(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024). Every thread gets the result.
__device__ __forceinline__ float blockSum(float v) {
    __shared__ float partial[32];
    __shared__ float total;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warpSum(v);
    __syncthreads();  // partial[] may still be read by a previous call
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float s = lane < (blockDim.x >> 5) ? partial[lane] : 0.0f;
        s = warpSum(s);
        if (lane == 0) total = s;
    }
    __syncthreads();
    return total;
}

// Grid-stride loop over [0, n) in steps of 8 elements per thread.
#define FOR_EACH_8(i, n) \
    for (long i = 8 * ((long) blockIdx.x * blockDim.x + threadIdx.x); i < (n); i += 8 * (long) gridDim.x * blockDim.x)

// Grid-stride loop over [0, n), one element per thread.
#define FOR_EACH(i, n) \
    for (long i = (long) blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long) gridDim.x * blockDim.x)

// The block's dynamic shared memory as an array (a macro so the CPU emulation used by the tests can supply it).
#ifndef DYNAMIC_SHARED
#define DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

#define NEG_INF __int_as_float(0xff800000)
#define LOG2E 1.4426950408889634f

// Device-side error flags, read by the host at its next synchronising call (download, synchronize).
#define ERR_TOKEN_RANGE 1
#define ERR_TARGET_RANGE 2
#define ERR_LENGTH_RANGE 4
#define ERR_SEGMENT_RANGE 8

// fp16 bits -> fp32 (exact, subnormals included).
__device__ __forceinline__ float h2f(unsigned short h) {
    unsigned sign = ((unsigned) h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f) return __uint_as_float(sign | 0x7f800000u | (m << 13));                // Inf, NaN
    if (e == 0) return __uint_as_float(sign | __float_as_uint((float) m * 5.9604644775390625e-8f));  // m·2^-24
    return __uint_as_float(sign | ((e + 112) << 23) | (m << 13));
}

// fp32 -> fp16 bits, round to nearest even (overflow to Inf, subnormals rounded too): Java's Float.floatToFloat16,
// so Q8_0 scales agree with the CPU backend bit for bit. NaN stays a (quiet) NaN.
__device__ __forceinline__ unsigned short f2h(float f) {
    unsigned x = __float_as_uint(f), sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (unsigned short) (sign | 0x7e00u);
    if (ax >= 0x477ff000u) return (unsigned short) (sign | 0x7c00u);  // >= 65520 (65504 + half an ulp): Inf
    if (ax >= 0x38800000u) {                                          // normal fp16: rebias, round at bit 13
        unsigned r = ax - 0x38000000u;
        r += 0xfffu + ((r >> 13) & 1u);
        return (unsigned short) (sign | (r >> 13));
    }
    int shift = 126 - (int) (ax >> 23);                               // subnormal fp16: value / 2^-24 = m >> shift
    if (shift > 24) return (unsigned short) sign;                     // below 2^-25: rounds to zero
    unsigned m = (ax & 0x7fffffu) | 0x800000u, k = m >> shift, rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rest > half || (rest == half && (k & 1u))) k++;
    return (unsigned short) (sign | k);
}

// Q8_0 weights, ggml's block_q8_0: 32 consecutive values of a row as one fp16 scale d and 32 int8 quants,
// value = d·q, 34 bytes with no padding (so blocks are only 2-byte aligned: read them as 16-bit words).
// q[j] holds quants 2j (low byte) and 2j + 1 (high byte), little-endian as ggml stores them.
struct Q8Block {
    unsigned short d;
    unsigned short q[16];
};

__device__ __forceinline__ float q8Quant(unsigned short pair, int high) {
    return (float) (signed char) (high ? pair >> 8 : pair & 0xffu);
}

// Eight values [i, i+8) of a Q8_0 tensor (i a multiple of 8, n whole blocks) as fp32.
__device__ __forceinline__ void load8(const Q8Block* p, long i, long n, float* out) {
    const Q8Block& b = p[i / 32];
    float d = h2f(b.d);
    int j = (int) (i % 32) / 2;
#pragma unroll
    for (int k = 0; k < 8; k++) out[k] = d * q8Quant(b.q[j + k / 2], k & 1);
}

// Dropout's counter-based RNG, bit for bit the Java dev.cramjet.engine.Rng: SplitMix64's finaliser over
// seed + index * golden ratio; the top 24 bits give a uniform in [0, 1); element i is kept when uniform >= p.
// Host-callable too, so a test can compare them with the Java Rng bit for bit without a GPU.
__host__ __device__ __forceinline__ u64 rngMix(u64 z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

__host__ __device__ __forceinline__ float rngUniform(u64 seed, u64 index) {
    return (float) (rngMix(seed + index * 0x9E3779B97F4A7C15ull) >> 40) * (1.0f / 16777216.0f);
}

// The dropout multiplier of element i: 0 when dropped, 1/(1-p) when kept.
__host__ __device__ __forceinline__ float dropoutFactor(u64 seed, u64 index, float p, float inverseKeep) {
    return rngUniform(seed, index) >= p ? inverseKeep : 0.0f;
}
