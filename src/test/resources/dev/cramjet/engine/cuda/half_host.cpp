// Host program for HalfTest: the kernels' fp16 conversions (common.cuh, built by g++ against emulation.h) checked
// against expected bits read from stdin, one case per line in hex: "F <fp32 bits> <fp16 bits>" for f2h and
// "H <fp16 bits> <fp32 bits>" for h2f. Prints each mismatch, then "checked N". A NaN must give a NaN; its payload
// bits are not compared (Java's own conversions quieten a NaN or not, depending on whether the JIT's intrinsic runs).
#include "emulation.h"
#include "common.cuh"
#include <cstdio>

extern "C" const EmuKernel emuKernels[] = {{nullptr, nullptr}};  // emulation.h wants a table; nothing launches

int main() {
    char kind;
    unsigned a, b;
    long checked = 0;
    while (scanf(" %c %x %x", &kind, &a, &b) == 3) {
        unsigned got = kind == 'F' ? f2h(__uint_as_float(a)) : __float_as_uint(h2f((unsigned short) a));
        bool nans = kind == 'F' ? (got & 0x7fffu) > 0x7c00u && (b & 0x7fffu) > 0x7c00u
                                : (got & 0x7fffffffu) > 0x7f800000u && (b & 0x7fffffffu) > 0x7f800000u;
        if (got != b && !nans) printf("%c %08x: got %08x, expected %08x\n", kind, a, got, b);
        checked++;
    }
    printf("checked %ld\n", checked);
    return 0;
}
