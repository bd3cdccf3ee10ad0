// Host program for RngTest: prints the kernels' dropout RNG for (seed, index) pairs read from stdin, one
// "seed index p" per line, as "uniform-bits factor-bits" in hex, so Java can compare bit for bit.
#include <cstdio>
#include <cstring>
#include "common.cuh"

int main() {
    unsigned long long seed, index;
    float p;
    while (scanf("%llu %llu %f", &seed, &index, &p) == 3) {
        float u = rngUniform(seed, index), f = dropoutFactor(seed, index, p, 1.0f / (1.0f - p));
        unsigned ub, fb;
        memcpy(&ub, &u, 4);
        memcpy(&fb, &f, 4);
        printf("%08x %08x\n", ub, fb);
    }
    return 0;
}
