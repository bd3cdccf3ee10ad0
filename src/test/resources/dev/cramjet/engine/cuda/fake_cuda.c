/*
 * A stand-in for libcuda, libnvrtc and libcublasLt, for FakeDriverTest on machines without a GPU: "device" memory
 * is host memory, so allocation, copies and memsets really happen; kernel launches and GEMMs only record their
 * arguments (fake_* functions read them back). Built by the test with gcc as one shared object under the three
 * library names.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- what the test reads back ---- */
static long launches;
static uint64_t lastArgs[32];
static int lastGrid[3], lastBlock[3], lastShared;
static long gemms;
static long liveAllocations;

long fake_launches(void) { return launches; }
uint64_t fake_arg(int i) { return lastArgs[i]; }
int fake_grid(int i) { return lastGrid[i]; }
int fake_block(int i) { return lastBlock[i]; }
long fake_gemms(void) { return gemms; }
long fake_live_allocations(void) { return liveAllocations; }

/* ---- driver ---- */
int cuInit(unsigned flags) { return 0; }
int cuDriverGetVersion(int* v) { *v = 12040; return 0; }
int cuDeviceGetCount(int* n) { *n = 1; return 0; }
int cuDeviceGet(int* d, int ordinal) { *d = ordinal; return ordinal == 0 ? 0 : 101; }
int cuDeviceGetName(char* name, int len, int dev) { strncpy(name, "Fake H100 80GB HBM3", len); return 0; }
int cuDeviceTotalMem_v2(size_t* bytes, int dev) { *bytes = 80ull << 30; return 0; }
int cuDeviceGetAttribute(int* v, int attr, int dev) {
    *v = attr == 75 ? 9 : attr == 76 ? 0 : attr == 16 ? 132 : 0;
    return 0;
}
int cuDevicePrimaryCtxRetain(void** ctx, int dev) { *ctx = (void*) 0x1000; return 0; }
int cuDevicePrimaryCtxRelease_v2(int dev) { return 0; }
int cuCtxSetCurrent(void* ctx) { return 0; }
int cuStreamCreate(void** s, unsigned flags) { *s = (void*) 0x2000; return 0; }
int cuStreamDestroy_v2(void* s) { return 0; }
int cuStreamSynchronize(void* s) { return 0; }
int cuMemAlloc_v2(void** p, size_t bytes) {
    if (bytes > (1ull << 36)) return 2; /* CUDA_ERROR_OUT_OF_MEMORY */
    if (posix_memalign(p, 256, bytes ? bytes : 1)) return 2;
    liveAllocations++;
    return 0;
}
int cuMemFree_v2(void* p) { free(p); liveAllocations--; return 0; }
int cuMemHostAlloc(void** p, size_t bytes, unsigned flags) { return posix_memalign(p, 4096, bytes) ? 2 : 0; }
int cuMemFreeHost(void* p) { free(p); return 0; }
int cuMemcpyHtoDAsync_v2(void* dst, const void* src, size_t n, void* s) { memcpy(dst, src, n); return 0; }
int cuMemcpyDtoHAsync_v2(void* dst, const void* src, size_t n, void* s) { memcpy(dst, src, n); return 0; }
int cuMemcpyDtoDAsync_v2(void* dst, const void* src, size_t n, void* s) { memmove(dst, src, n); return 0; }
int cuMemsetD8Async(void* dst, unsigned char v, size_t n, void* s) { memset(dst, v, n); return 0; }
int cuMemsetD16Async(void* dst, unsigned short v, size_t n, void* s) {
    for (size_t i = 0; i < n; i++) ((unsigned short*) dst)[i] = v;
    return 0;
}
int cuMemsetD32Async(void* dst, unsigned v, size_t n, void* s) {
    for (size_t i = 0; i < n; i++) ((unsigned*) dst)[i] = v;
    return 0;
}
int cuMemGetInfo_v2(size_t* free, size_t* total) { *free = 70ull << 30; *total = 80ull << 30; return 0; }
int cuModuleLoadData(void** m, const void* image) { *m = (void*) 0x3000; return memcmp(image, "FAKE", 4) ? 200 : 0; }
int cuModuleGetFunction(void** f, void* m, const char* name) { *f = (void*) (0x4000 + strlen(name)); return 0; }
int cuModuleUnload(void* m) { return 0; }
int cuFuncSetAttribute(void* f, int attr, int v) { return 0; }
int cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                   unsigned shared, void* stream, void** params, void** extra) {
    launches++;
    lastGrid[0] = gx; lastGrid[1] = gy; lastGrid[2] = gz;
    lastBlock[0] = bx; lastBlock[1] = by; lastBlock[2] = bz;
    lastShared = shared;
    for (int i = 0; i < 32; i++) lastArgs[i] = *(uint64_t*) params[i];
    return 0;
}
int cuEventCreate(void** e, unsigned flags) { *e = malloc(8); return 0; }
int cuEventRecord(void* e, void* s) { return 0; }
int cuEventSynchronize(void* e) { return 0; }
int cuEventElapsedTime(float* ms, void* a, void* b) { *ms = 1.5f; return 0; }
int cuEventDestroy_v2(void* e) { free(e); return 0; }
int cuGetErrorName(int code, const char** name) {
    *name = code == 2 ? "CUDA_ERROR_OUT_OF_MEMORY" : code == 200 ? "CUDA_ERROR_INVALID_IMAGE" : "CUDA_ERROR_UNKNOWN";
    return 0;
}

/* ---- NVRTC: every compilation yields the 4-byte cubin "FAKE" ---- */
int nvrtcVersion(int* major, int* minor) { *major = 12; *minor = 4; return 0; }
int nvrtcCreateProgram(void** p, const char* src, const char* name, int n, const char** h, const char** names) {
    *p = (void*) 0x5000;
    return 0;
}
static long compiles;
long fake_compiles(void) { return compiles; }
int nvrtcCompileProgram(void* p, int n, const char** options) { compiles++; return 0; }
int nvrtcGetProgramLogSize(void* p, size_t* n) { *n = 1; return 0; }
int nvrtcGetProgramLog(void* p, char* log) { log[0] = 0; return 0; }
int nvrtcGetCUBINSize(void* p, size_t* n) { *n = 4; return 0; }
int nvrtcGetCUBIN(void* p, char* out) { memcpy(out, "FAKE", 4); return 0; }
int nvrtcDestroyProgram(void** p) { return 0; }
const char* nvrtcGetErrorString(int code) { return "NVRTC_ERROR_FAKE"; }

/* ---- cuBLASLt: one algorithm for everything; matmuls are counted ---- */
int cublasLtCreate(void** h) { *h = (void*) 0x6000; return 0; }
int cublasLtDestroy(void* h) { return 0; }
size_t cublasLtGetVersion(void) { return 120400; }
int cublasLtMatmulDescCreate(void** d, int compute, int scale) { *d = malloc(8); return 0; }
int cublasLtMatmulDescSetAttribute(void* d, int attr, const void* buf, size_t n) { return 0; }
int cublasLtMatmulDescDestroy(void* d) { free(d); return 0; }
int cublasLtMatrixLayoutCreate(void** l, int type, uint64_t rows, uint64_t cols, int64_t ld) { *l = malloc(8); return 0; }
int cublasLtMatrixLayoutDestroy(void* l) { free(l); return 0; }
int cublasLtMatmulPreferenceCreate(void** p) { *p = malloc(8); return 0; }
int cublasLtMatmulPreferenceSetAttribute(void* p, int attr, const void* buf, size_t n) { return 0; }
int cublasLtMatmulPreferenceDestroy(void* p) { free(p); return 0; }
int cublasLtMatmulAlgoGetHeuristic(void* h, void* d, void* a, void* b, void* c, void* dd, void* pref, int requested,
                                   char* results, int* count) {
    memset(results, 0, 96);
    *count = 1;
    return 0;
}
int cublasLtMatmul(void* h, void* d, const void* alpha, const void* a, void* ad, const void* b, void* bd,
                   const void* beta, const void* c, void* cd, void* dd, void* ddesc, const void* algo, void* ws,
                   size_t wsSize, void* stream) {
    gemms++;
    return 0;
}
const char* cublasLtGetStatusName(int status) { return "CUBLAS_STATUS_FAKE"; }
