// Runs the CUDA C kernels on the CPU for EmulatedGpuTest: included before a kernel file and compiled by g++ as
// C++20. A block's threads are user-space contexts (ucontext) on the launching thread, switched cooperatively:
// a thread runs until it reaches a barrier — __syncthreads for the block, a warp shuffle or tensor-core
// instruction for its warp — and the others run until every participant has arrived. Kernels that synchronise
// thousands of times a block (the tensor-core attention) then cost a context switch in user space per thread
// and phase instead of a round of kernel wake-ups. Between barriers the threads run one after another (in
// ascending order in even blocks, descending in odd ones), so a missing barrier corrupts results whichever way the
// dependence runs. __shared__ variables are function statics (blocks run one at a time, so that is exactly
// block-shared memory). The generated trampolines (see EmulatedGpuTest) unpack
// cuLaunchKernel's argument array for each kernel.
#pragma once
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <ucontext.h>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static

struct EmuDim { unsigned x, y, z; };
inline EmuDim threadIdx, blockIdx, blockDim, gridDim;
inline std::vector<unsigned char> emuDynamicShared;
#define DYNAMIC_SHARED(type, name) type* name = reinterpret_cast<type*>(emuDynamicShared.data())

// ---- the block's threads and their barriers ----------------------------------------------------------------------
// A barrier counts the live participants (a thread that returns leaves every barrier it belongs to) and those that
// have arrived; the last arrival opens the next phase, and the waiting threads resume once the phase has moved on.
struct EmuBarrier {
    unsigned live = 0, arrived = 0, phase = 0;
    void arrive() {
        if (++arrived == live) { arrived = 0; phase++; }
    }
    void leave() {
        if (--live > 0 && arrived == live) { arrived = 0; phase++; }
    }
};

struct EmuThread {
    ucontext_t context;
    std::unique_ptr<char[]> stack;
    bool done = false;
    unsigned collective = 0;  // this thread's count of warp instructions (mma, ldmatrix), see below
};
constexpr size_t EMU_STACK = 256 * 1024;
inline std::vector<EmuThread> emuThreads;
inline EmuBarrier emuBlockBarrier, emuWarpBarriers[32];
inline ucontext_t emuScheduler;
inline unsigned emuLinear;  // the running thread's index in its block

// Back to the scheduler until the barrier's phase moves on.
inline void emuWait(EmuBarrier& b) {
    unsigned phase = b.phase;
    b.arrive();
    while (b.phase == phase) swapcontext(&emuThreads[emuLinear].context, &emuScheduler);
}

inline void __syncthreads() { emuWait(emuBlockBarrier); }

inline void emuWarpWait() { emuWait(emuWarpBarriers[emuLinear >> 5]); }

inline float emuWarpSlots[1024];

inline float __shfl_xor_sync(unsigned, float v, int offset) {
    unsigned lane = emuLinear & 31, warp = emuLinear >> 5;
    emuWarpSlots[emuLinear] = v;
    emuWarpWait();
    float other = emuWarpSlots[(warp << 5) | (lane ^ offset)];
    emuWarpWait();
    return other;
}

inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
inline float __int_as_float(int u) { float f; std::memcpy(&f, &u, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline int min(int a, int b) { return a < b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline float atomicAdd(float* p, float v) { return std::atomic_ref<float>(*p).fetch_add(v); }
inline int atomicOr(int* p, int v) { return std::atomic_ref<int>(*p).fetch_or(v); }
inline unsigned atomicCAS(unsigned* p, unsigned expected, unsigned desired) {
    std::atomic_ref<unsigned>(*p).compare_exchange_strong(expected, desired);
    return expected;
}

// ---- tensor-core instructions (mma.cuh), exactly as the PTX ISA lays out their fragments -----------------------
// Each lane deposits its operands, the warp meets at a barrier, and every lane computes what the instruction
// gives it from the whole warp's deposits. The deposits alternate between two slot sets (by each lane's count of
// warp instructions, equal across its warp), so one barrier per instruction suffices: a lane can only overwrite a
// set after the next instruction's barrier, which every lane reaches after it has finished reading.
#define CRAMJET_EMULATION 1
inline unsigned emuFragA[2][1024][4], emuFragB[2][1024][2];
inline const unsigned short* emuRowAddress[2][1024];

inline float emuHalf(unsigned reg, int k) { return __uint_as_float(((k & 1) ? reg >> 16 : reg & 0xffffu) << 16); }

inline void mma16816(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    unsigned lane = emuLinear & 31, first = emuLinear & ~31u, set = emuThreads[emuLinear].collective++ & 1;
    for (int i = 0; i < 4; i++) emuFragA[set][emuLinear][i] = a[i];
    emuFragB[set][emuLinear][0] = b0;
    emuFragB[set][emuLinear][1] = b1;
    emuWarpWait();
    unsigned g = lane >> 2, t = lane & 3;
    for (int e = 0; e < 4; e++) {
        unsigned row = g + 8 * (e >> 1), col = 2 * t + (e & 1);
        double sum = 0;
        for (unsigned k = 0; k < 16; k++) {
            // A(row, k) is in lane (row % 8)·4 + (k % 8)/2, register (row ≥ 8) + 2·(k ≥ 8); B(k, col) in lane
            // col·4 + (k % 8)/2, register (k ≥ 8); the element's half is k % 2.
            float x = emuHalf(emuFragA[set][first + (row % 8) * 4 + (k % 8) / 2][(row >= 8) + 2 * (k >= 8)], k);
            float y = emuHalf(emuFragB[set][first + col * 4 + (k % 8) / 2][k >= 8], k);
            sum += (double) x * y;
        }
        d[e] += (float) sum;
    }
}

// ldmatrix.x4: lane l names row l % 8 of matrix l / 8; lane (g, t) receives row g's elements 2t, 2t+1 of each
// matrix, or, transposed, element g of its rows 2t and 2t+1.
inline void emuLdmatrix(unsigned (&r)[4], const unsigned short* row, bool trans) {
    unsigned lane = emuLinear & 31, first = emuLinear & ~31u, g = lane >> 2, t = lane & 3;
    unsigned set = emuThreads[emuLinear].collective++ & 1;
    emuRowAddress[set][emuLinear] = row;
    emuWarpWait();
    for (unsigned i = 0; i < 4; i++) {
        const unsigned short* const* m = emuRowAddress[set] + first + 8 * i;
        unsigned lo = trans ? m[2 * t][g] : m[g][2 * t], hi = trans ? m[2 * t + 1][g] : m[g][2 * t + 1];
        r[i] = lo | (hi << 16);
    }
}

inline void ldmatrix4(unsigned (&r)[4], const unsigned short* row) { emuLdmatrix(r, row, false); }
inline void ldmatrix4Trans(unsigned (&r)[4], const unsigned short* row) { emuLdmatrix(r, row, true); }

using EmuTrampoline = void (*)(void**);
struct EmuKernel { const char* name; EmuTrampoline run; };
extern "C" const EmuKernel emuKernels[];

inline EmuTrampoline emuRun;
inline void** emuParams;

// A thread's life in one block: the kernel, then it leaves its barriers, and returns to the scheduler (uc_link).
inline void emuThreadMain() {
    emuRun(emuParams);
    emuThreads[emuLinear].done = true;
    emuWarpBarriers[emuLinear >> 5].leave();
    emuBlockBarrier.leave();
}

// Runs kernel `name` over the grid, one block after another; in each, the threads take turns.
extern "C" int emu_launch(const char* name, unsigned gx, unsigned gy, unsigned bx, unsigned by, unsigned shared,
                          void** params) {
    EmuTrampoline run = nullptr;
    for (const EmuKernel* k = emuKernels; k->name; k++) if (std::strcmp(k->name, name) == 0) run = k->run;
    if (!run) return 500;  // CUDA_ERROR_NOT_FOUND
    unsigned threads = bx * by;
    if (threads % 32 != 0 || threads > 1024) return 1;
    blockDim = {bx, by, 1};
    gridDim = {gx, gy, 1};
    emuDynamicShared.assign(shared, 0);
    emuRun = run;
    emuParams = params;
    if (emuThreads.size() < threads) emuThreads.resize(threads);
    for (unsigned y = 0; y < gy; y++) {
        for (unsigned x = 0; x < gx; x++) {
            blockIdx = {x, y, 0};
            emuBlockBarrier = EmuBarrier{threads};
            for (unsigned w = 0; w < threads / 32; w++) emuWarpBarriers[w] = EmuBarrier{32};
            for (unsigned t = 0; t < threads; t++) {
                EmuThread& th = emuThreads[t];
                if (!th.stack) th.stack.reset(new char[EMU_STACK]);
                th.done = false;
                th.collective = 0;
                getcontext(&th.context);
                th.context.uc_stack.ss_sp = th.stack.get();
                th.context.uc_stack.ss_size = EMU_STACK;
                th.context.uc_link = &emuScheduler;
                makecontext(&th.context, emuThreadMain, 0);
            }
            // Between barriers the threads run one after another, ascending in even blocks and descending in odd
            // ones, so a missing barrier shows whichever way round the threads' accesses depend on each other.
            bool down = (x + y) & 1;
            for (unsigned left = threads; left > 0;) {
                left = 0;
                for (unsigned i = 0; i < threads; i++) {
                    unsigned t = down ? threads - 1 - i : i;
                    if (emuThreads[t].done) continue;
                    emuLinear = t;
                    threadIdx = {t % bx, t / bx, 0};
                    swapcontext(&emuScheduler, &emuThreads[t].context);
                    if (!emuThreads[t].done) left++;
                }
            }
        }
    }
    return 0;
}
