/*
 * A stand-in for libcuda, libnvrtc and libcublasLt, for FakeDriverTest on machines without a GPU: "device" memory
 * is host memory, so allocation, copies and memsets really happen; kernel launches and GEMMs only record their
 * arguments (fake_* functions read them back). Built by the test with gcc as one shared object under the three
 * library names.
 * With fake_emulate(dir) set, it goes further: "NVRTC" names a prebuilt host build of the kernel file
 * (dir/FILE[-HEADSIZE].so, see emulation.h), module loading dlopens it, launches run the kernels on the CPU, and
 * cublasLtMatmul computes its GEMM with the epilogues, so whole ops produce real numbers.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
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
int fake_shared(void) { return lastShared; }
long fake_gemms(void) { return gemms; }
long fake_live_allocations(void) { return liveAllocations; }

static char emulationDir[4096];
void fake_emulate(const char* dir) { strncpy(emulationDir, dir, sizeof emulationDir - 1); }

/* An emulated kernel: the module's emu_launch and the kernel's name. */
typedef int (*EmuLaunch)(const char*, unsigned, unsigned, unsigned, unsigned, unsigned, void**);
typedef struct { EmuLaunch launch; char name[128]; } EmuFunction;

/* ---- stream capture: while capturing, queued operations are recorded into a graph instead of running; a graph
   launch runs them again in order (cuBLASLt products with the descriptor, alpha and beta as they were) ---- */
typedef struct {
    int kind; /* 0 launch, 1 memset, 2 device copy, 3 cuBLASLt product */
    void* f; unsigned geometry[5]; uint64_t args[32];
    void* dst; const void* src; unsigned value; size_t count; int width;
    void* gemm[16]; unsigned char desc[64]; float alpha, beta;
} Op;
typedef struct { int n, cap; Op* ops; } Graph;
/* The graph being captured, shared by the three copies of this object (driver, NVRTC, cuBLASLt) through the
   process environment, since each copy has its own statics. */
static Graph* captured(void) {
    const char* v = getenv("FAKE_CUDA_CAPTURE");
    return v ? (Graph*) (uintptr_t) strtoull(v, 0, 16) : 0;
}
#define capturing captured()
static long graphLaunches;
long fake_graph_launches(void) { return graphLaunches; }
static Op* record(int kind) {
    if (capturing->n == capturing->cap) {
        capturing->cap = capturing->cap ? 2 * capturing->cap : 64;
        capturing->ops = realloc(capturing->ops, capturing->cap * sizeof(Op));
    }
    Op* op = &capturing->ops[capturing->n++];
    memset(op, 0, sizeof(Op));
    op->kind = kind;
    return op;
}
static int memsetAny(void* dst, unsigned v, size_t n, int width) {
    if (capturing) {
        Op* op = record(1);
        op->dst = dst; op->value = v; op->count = n; op->width = width;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (width == 1) ((unsigned char*) dst)[i] = (unsigned char) v;
        else if (width == 2) ((unsigned short*) dst)[i] = (unsigned short) v;
        else ((unsigned*) dst)[i] = v;
    }
    return 0;
}

/* ---- driver ---- */
int cuInit(unsigned flags) { return 0; }
int cuDriverGetVersion(int* v) { *v = 12040; return 0; }
int cuDeviceGetCount(int* n) { *n = 1; return 0; }
int cuDeviceGet(int* d, int ordinal) { *d = ordinal; return ordinal == 0 ? 0 : 101; }
int cuDeviceGetName(char* name, int len, int dev) { strncpy(name, "NVIDIA H100 80GB HBM3", len); return 0; }
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
int cuMemcpyDtoDAsync_v2(void* dst, const void* src, size_t n, void* s) {
    if (capturing) {
        Op* op = record(2);
        op->dst = dst; op->src = src; op->count = n;
        return 0;
    }
    memmove(dst, src, n);
    return 0;
}
int cuMemsetD8Async(void* dst, unsigned char v, size_t n, void* s) { return memsetAny(dst, v, n, 1); }
int cuMemsetD16Async(void* dst, unsigned short v, size_t n, void* s) { return memsetAny(dst, v, n, 2); }
int cuMemsetD32Async(void* dst, unsigned v, size_t n, void* s) { return memsetAny(dst, v, n, 4); }
int cuMemGetInfo_v2(size_t* free, size_t* total) { *free = 70ull << 30; *total = 80ull << 30; return 0; }
int cuModuleLoadData(void** m, const void* image) {
    if (memcmp(image, "EMU:", 4) == 0) {
        *m = dlopen((const char*) image + 4, RTLD_NOW | RTLD_LOCAL);
        return *m ? 0 : 200;
    }
    *m = (void*) 0x3000;
    return memcmp(image, "FAKE", 4) ? 200 : 0;
}
int cuModuleGetFunction(void** f, void* m, const char* name) {
    if (!emulationDir[0]) { *f = (void*) (0x4000 + strlen(name)); return 0; }
    EmuFunction* e = calloc(1, sizeof(EmuFunction));
    e->launch = (EmuLaunch) dlsym(m, "emu_launch");
    strncpy(e->name, name, sizeof e->name - 1);
    *f = e;
    return e->launch ? 0 : 500;
}
int cuModuleUnload(void* m) { return 0; }
int cuFuncSetAttribute(void* f, int attr, int v) { return 0; }
int cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                   unsigned shared, void* stream, void** params, void** extra) {
    if (capturing) {
        Op* op = record(0);
        op->f = f;
        op->geometry[0] = gx; op->geometry[1] = gy; op->geometry[2] = bx; op->geometry[3] = by; op->geometry[4] = shared;
        for (int i = 0; i < 32; i++) op->args[i] = *(uint64_t*) params[i];
        return 0;
    }
    launches++;
    lastGrid[0] = gx; lastGrid[1] = gy; lastGrid[2] = gz;
    lastBlock[0] = bx; lastBlock[1] = by; lastBlock[2] = bz;
    lastShared = shared;
    for (int i = 0; i < 32; i++) lastArgs[i] = *(uint64_t*) params[i];
    if (!emulationDir[0]) return 0;
    EmuFunction* e = (EmuFunction*) f;
    return e->launch(e->name, gx, gy, bx, by, shared, params);
}
int cuEventCreate(void** e, unsigned flags) { *e = malloc(8); return 0; }
int cuEventRecord(void* e, void* s) { return 0; }
int cuEventSynchronize(void* e) { return 0; }
int cuEventElapsedTime(float* ms, void* a, void* b) { *ms = 1.5f; return 0; }
int cuEventDestroy_v2(void* e) { free(e); return 0; }
int cuGetErrorName(int code, const char** name) {
    *name = code == 2 ? "CUDA_ERROR_OUT_OF_MEMORY" : code == 200 ? "CUDA_ERROR_INVALID_IMAGE"
            : code == 901 ? "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED" : "CUDA_ERROR_UNKNOWN";
    return 0;
}

int cuStreamBeginCapture_v2(void* s, int mode) {
    if (capturing) return 900; /* CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED */
    char v[32];
    snprintf(v, sizeof v, "%llx", (unsigned long long) (uintptr_t) calloc(1, sizeof(Graph)));
    setenv("FAKE_CUDA_CAPTURE", v, 1);
    return 0;
}
static int refuseCapture;
void fake_refuse_capture(int on) { refuseCapture = on; }
int cuStreamEndCapture(void* s, void** graph) {
    if (!capturing) return 901;
    Graph* g = capturing;
    unsetenv("FAKE_CUDA_CAPTURE");
    if (refuseCapture) { /* as the driver does when something in the capture was not capturable */
        free(g->ops);
        free(g);
        *graph = 0;
        return 901; /* CUDA_ERROR_STREAM_CAPTURE_INVALIDATED */
    }
    *graph = g;
    return 0;
}
int cuGraphInstantiateWithFlags(void** exec, void* graph, unsigned long long flags) { *exec = graph; return 0; }
int cuGraphExecDestroy(void* exec) { return 0; }
int cuGraphDestroy(void* graph) { free(((Graph*) graph)->ops); free(graph); return 0; }
int cublasLtMatmul(void* h, void* d, const void* alpha, const void* a, void* ad, const void* b, void* bd,
                   const void* beta, const void* c, void* cd, void* dd, void* ddesc, const void* algo, void* ws,
                   size_t wsSize, void* stream);
int cuGraphLaunch(void* exec, void* stream) {
    Graph* g = exec;
    graphLaunches++;
    for (int i = 0; i < g->n; i++) {
        Op* op = &g->ops[i];
        if (op->kind == 0) {
            void* params[32];
            for (int k = 0; k < 32; k++) params[k] = &op->args[k];
            int r = cuLaunchKernel(op->f, op->geometry[0], op->geometry[1], 1, op->geometry[2], op->geometry[3], 1,
                                   op->geometry[4], stream, params, 0);
            if (r) return r;
        } else if (op->kind == 1) {
            memsetAny(op->dst, op->value, op->count, op->width);
        } else if (op->kind == 2) {
            memmove(op->dst, op->src, op->count);
        } else {
            void** x = op->gemm;
            cublasLtMatmul(x[0], op->desc, &op->alpha, x[3], x[4], x[5], x[6], &op->beta, x[8], x[9], x[10], x[11], x[12],
                           x[13], (size_t) x[14], x[15]);
        }
    }
    return 0;
}

/* ---- NVRTC: every compilation yields the 4-byte cubin "FAKE" ---- */
int nvrtcVersion(int* major, int* minor) { *major = 12; *minor = 4; return 0; }
static char programName[256], headSize[16];
int nvrtcCreateProgram(void** p, const char* src, const char* name, int n, const char** h, const char** names) {
    *p = (void*) 0x5000;
    strncpy(programName, name, sizeof programName - 1);
    char* dot = strrchr(programName, '.');
    if (dot) *dot = 0;
    headSize[0] = 0;
    return 0;
}
static long compiles;
long fake_compiles(void) { return compiles; }
int nvrtcCompileProgram(void* p, int n, const char** options) {
    compiles++;
    for (int i = 0; i < n; i++) if (strncmp(options[i], "-DHEAD_SIZE=", 12) == 0) snprintf(headSize, sizeof headSize, "-%s", options[i] + 12);
    return 0;
}
static char cubin[8192];
static void makeCubin(void) {
    if (emulationDir[0]) snprintf(cubin, sizeof cubin, "EMU:%s/%s%s.so", emulationDir, programName, headSize);
    else strcpy(cubin, "FAKE");
}
int nvrtcGetProgramLogSize(void* p, size_t* n) { *n = 1; return 0; }
int nvrtcGetProgramLog(void* p, char* log) { log[0] = 0; return 0; }
int nvrtcGetCUBINSize(void* p, size_t* n) { makeCubin(); *n = strlen(cubin) + 1; return 0; }
int nvrtcGetCUBIN(void* p, char* out) { makeCubin(); memcpy(out, cubin, strlen(cubin) + 1); return 0; }
int nvrtcDestroyProgram(void** p) { return 0; }
const char* nvrtcGetErrorString(int code) { return "NVRTC_ERROR_FAKE"; }

/* ---- cuBLASLt: one algorithm for everything; cublasLtMatmul computes D = op(A)·op(B) + beta·C (+ bias, GELU) ---- */
typedef struct { int type; uint64_t rows, cols; int64_t ld; } Layout;
typedef struct { int transa, transb, epilogue; void* bias; void* aux; int64_t auxLd; } Desc;

static float get(const void* p, int type, int64_t i) {
    if (type == 0) return ((const float*) p)[i];
    uint32_t u = (uint32_t) ((const uint16_t*) p)[i] << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static void put(void* p, int type, int64_t i, float v) {
    if (type == 0) { ((float*) p)[i] = v; return; }
    uint32_t u;
    memcpy(&u, &v, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) { ((uint16_t*) p)[i] = (uint16_t) ((u >> 16) | 0x40); return; }
    u += 0x7fffu + ((u >> 16) & 1u);
    ((uint16_t*) p)[i] = (uint16_t) (u >> 16);
}

int cublasLtCreate(void** h) { *h = (void*) 0x6000; return 0; }
int cublasLtDestroy(void* h) { return 0; }
size_t cublasLtGetVersion(void) { return 120400; }
int cublasLtMatmulDescCreate(void** d, int compute, int scale) { *d = calloc(1, sizeof(Desc)); return 0; }
int cublasLtMatmulDescSetAttribute(void* d, int attr, const void* buf, size_t n) {
    Desc* desc = d;
    switch (attr) {
        case 3: desc->transa = *(const int*) buf; break;
        case 4: desc->transb = *(const int*) buf; break;
        case 7: desc->epilogue = *(const int*) buf; break;
        case 8: memcpy(&desc->bias, buf, 8); break;
        case 11: memcpy(&desc->aux, buf, 8); break;
        case 12: memcpy(&desc->auxLd, buf, 8); break;
    }
    return 0;
}
int cublasLtMatmulDescDestroy(void* d) { free(d); return 0; }
int cublasLtMatrixLayoutCreate(void** l, int type, uint64_t rows, uint64_t cols, int64_t ld) {
    Layout* x = malloc(sizeof(Layout));
    x->type = type; x->rows = rows; x->cols = cols; x->ld = ld;
    *l = x;
    return 0;
}
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
    if (capturing) {
        Op* op = record(3);
        void* x[16] = {h, d, (void*) alpha, (void*) a, ad, (void*) b, bd, (void*) beta, (void*) c, cd, dd, ddesc,
                       (void*) algo, ws, (void*) wsSize, stream};
        memcpy(op->gemm, x, sizeof x);
        memcpy(op->desc, d, sizeof(Desc));
        op->alpha = *(const float*) alpha;
        op->beta = *(const float*) beta;
        return 0;
    }
    gemms++;
    const Desc* desc = d;
    const Layout *A = ad, *B = bd, *C = cd, *D = ddesc;
    int64_t m = D->rows, n = D->cols, k = desc->transa ? A->rows : A->cols;
    float al = *(const float*) alpha, be = *(const float*) beta;
    int bias = desc->epilogue == 4 || desc->epilogue == 36 || desc->epilogue == 164;
    int gelu = desc->epilogue == 32 || desc->epilogue == 36 || desc->epilogue == 160 || desc->epilogue == 164;
    int aux = desc->epilogue == 160 || desc->epilogue == 164;
    for (int64_t j = 0; j < n; j++) {
        for (int64_t i = 0; i < m; i++) {
            double acc = 0;
            for (int64_t q = 0; q < k; q++) {
                float x = desc->transa ? get(a, A->type, q + i * A->ld) : get(a, A->type, i + q * A->ld);
                float y = desc->transb ? get(b, B->type, j + q * B->ld) : get(b, B->type, q + j * B->ld);
                acc += (double) x * y;
            }
            float v = al * (float) acc;
            if (be != 0) v += be * get(c, C->type, i + j * C->ld);
            if (bias) v += get(desc->bias, D->type, i);
            if (aux) put(desc->aux, D->type, i + j * desc->auxLd, v);
            if (gelu) v = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
            put(dd, D->type, i + j * D->ld, v);
        }
    }
    return 0;
}
const char* cublasLtGetStatusName(int status) { return "CUBLAS_STATUS_FAKE"; }
