// Rotary position embedding on the q and k thirds of qkv [B,T,3C], rotate-half convention: for i < hs/2,
// angle = pos·θ^(−2i/hs), (x_i, x_{i+hs/2}) ← (x_i·cos − x_{i+hs/2}·sin, x_i·sin + x_{i+hs/2}·cos).
// direction = +1 applies the rotation (forward), −1 its transpose (backward, on dqkv).
#include "common.cuh"

extern "C" __global__ void rope(bf16* qkv, long rows, int T, int C, int heads, float theta, int posOffset,
                                float direction) {
    int hs = C / heads, half = hs / 2;
    // One thread per (row, q or k, head, i): rows · 2 · heads · half pairs.
    FOR_EACH(e, rows * 2 * heads * half) {
        int i = (int) (e % half);
        long rest = e / half;
        int h = (int) (rest % heads);
        rest /= heads;
        int which = (int) (rest % 2);  // 0: q, 1: k
        long row = rest / 2;
        float pos = (float) (posOffset + (int) (row % T));
        float angle = pos * powf(theta, -2.0f * i / hs);
        float s, c;
        sincosf(angle, &s, &c);
        s *= direction;
        bf16* x = qkv + row * 3 * C + (long) which * C + (long) h * hs;
        float a = bf2f(x[i]), b = bf2f(x[i + half]);
        x[i] = f2bf(a * c - b * s);
        x[i + half] = f2bf(a * s + b * c);
    }
}
