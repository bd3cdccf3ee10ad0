/*
 * A stand-in for libnccl.so.2 for NcclCommunicatorTest on machines without GPUs: its "device" pointers are host
 * memory (the fake CUDA driver's), and the ranks are threads of one process. ncclCommInitRank gathers the threads
 * that pass the same 128-byte unique id into a clique; each collective waits for every rank of its clique, reads
 * all ranks' buffers and writes the results, so sums, scatters and gathers really happen (synchronously: the
 * stream argument is only recorded). Values, types and codes are nccl.h's. Built by the test with gcc.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { SUCCESS = 0, INVALID_ARGUMENT = 4, INVALID_USAGE = 5, REMOTE_ERROR = 6 };
enum { INT32 = 2, FLOAT32 = 7, FLOAT64 = 8, BFLOAT16 = 9 };
enum { SUM = 0, AVG = 4 };
enum { MAX_RANKS = 8 };

typedef struct { char internal[128]; } UniqueId;

typedef struct {
    UniqueId id;
    int size, joined;
    pthread_barrier_t barrier;
    const void* send[MAX_RANKS];
    void* recv[MAX_RANKS];
} Clique;

typedef struct { Clique* clique; int rank; } Comm;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static Clique* cliques[16];
static long ids, calls;
static int failNext, asyncError;
static void* lastStream;
static size_t lastCount;
static int lastType, lastOp;
static const char* lastError = "";

/* ---- what the test reads back or injects ---- */
long fake_nccl_calls(void) { return calls; }
void* fake_nccl_last_stream(void) { return lastStream; }
size_t fake_nccl_last_count(void) { return lastCount; }
int fake_nccl_last_type(void) { return lastType; }
int fake_nccl_last_op(void) { return lastOp; }
void fake_nccl_fail_next(int code) { failNext = code; }
void fake_nccl_set_async_error(int code) { asyncError = code; }

int ncclGetVersion(int* v) { *v = 22105; return SUCCESS; }

const char* ncclGetErrorString(int code) {
    switch (code) {
        case SUCCESS: return "no error";
        case INVALID_ARGUMENT: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
        case INVALID_USAGE: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
        case REMOTE_ERROR: return "remote process exited or there was a network error";
        default: return "unknown result code";
    }
}

const char* ncclGetLastError(void* comm) { return asyncError ? "fake: injected failure" : lastError; }

int ncclGetUniqueId(UniqueId* id) {
    memset(id, 0, sizeof *id);
    pthread_mutex_lock(&lock);
    long n = ++ids;
    pthread_mutex_unlock(&lock);
    memcpy(id->internal, "fake-nccl-id", 12);
    memcpy(id->internal + 16, &n, sizeof n);
    return SUCCESS;
}

int ncclCommInitRank(Comm** out, int size, UniqueId id, int rank) {
    if (size < 1 || size > MAX_RANKS || rank < 0 || rank >= size) return INVALID_ARGUMENT;
    pthread_mutex_lock(&lock);
    Clique* c = NULL;
    int slot = -1;
    for (int i = 0; i < 16; i++) {
        if (cliques[i] && memcmp(&cliques[i]->id, &id, sizeof id) == 0) c = cliques[i];
        else if (!cliques[i] && slot < 0) slot = i;
    }
    if (!c) {
        c = calloc(1, sizeof *c);
        c->id = id;
        c->size = size;
        pthread_barrier_init(&c->barrier, NULL, size);
        cliques[slot] = c;
    }
    int bad = c->size != size;
    if (!bad) c->joined++;
    pthread_mutex_unlock(&lock);
    if (bad) return INVALID_USAGE;
    Comm* comm = malloc(sizeof *comm);
    comm->clique = c;
    comm->rank = rank;
    pthread_barrier_wait(&c->barrier); /* like NCCL, initialisation returns once every rank has joined */
    *out = comm;
    return SUCCESS;
}

int ncclCommDestroy(Comm* comm) {
    free(comm);
    return SUCCESS;
}

int ncclCommGetAsyncError(Comm* comm, int* err) {
    *err = asyncError;
    return SUCCESS;
}

static size_t bytesOf(int type) { return type == FLOAT64 ? 8 : type == BFLOAT16 ? 2 : 4; }

static double get(const void* p, int type, size_t i) {
    switch (type) {
        case FLOAT32: return ((const float*) p)[i];
        case FLOAT64: return ((const double*) p)[i];
        case INT32: return ((const int32_t*) p)[i];
        default: {
            uint32_t bits = (uint32_t) ((const uint16_t*) p)[i] << 16;
            float f;
            memcpy(&f, &bits, 4);
            return f;
        }
    }
}

static void put(void* p, int type, size_t i, double v) {
    switch (type) {
        case FLOAT32: ((float*) p)[i] = (float) v; break;
        case FLOAT64: ((double*) p)[i] = v; break;
        case INT32: ((int32_t*) p)[i] = (int32_t) v; break;
        default: { /* round to nearest even, as the device does */
            float f = (float) v;
            uint32_t bits;
            memcpy(&bits, &f, 4);
            ((uint16_t*) p)[i] = (uint16_t) ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
        }
    }
}

/* Records the call; returns an injected failure, if any. */
static int begin(size_t count, int type, int op, void* stream) {
    pthread_mutex_lock(&lock);
    calls++;
    lastCount = count;
    lastType = type;
    lastOp = op;
    lastStream = stream;
    int f = failNext;
    failNext = 0;
    lastError = f ? "fake: injected failure" : "";
    pthread_mutex_unlock(&lock);
    if (type != INT32 && type != FLOAT32 && type != FLOAT64 && type != BFLOAT16) return INVALID_ARGUMENT;
    return f;
}

/*
 * One collective: every rank posts its buffers; after a barrier each computes its result into a temporary (reading
 * every rank's input), after a second barrier (no one reads inputs any more) copies it into its output.
 * kind: 0 all-reduce, 1 reduce-scatter, 2 all-gather, 3 broadcast.
 */
static int collective(Comm* comm, int kind, const void* send, void* recv, size_t count, int type, int op, int root) {
    Clique* c = comm->clique;
    int r = comm->rank, w = c->size;
    c->send[r] = send;
    c->recv[r] = recv;
    pthread_barrier_wait(&c->barrier);
    size_t n = kind == 2 ? count * w : count;
    double* out = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        double v = 0;
        if (kind == 0 || kind == 1) {
            size_t at = kind == 0 ? i : r * count + i;
            for (int q = 0; q < w; q++) v += get(c->send[q], type, at);
            if (op == AVG) v /= w;
        } else if (kind == 2) {
            v = get(c->send[i / count], type, i % count);
        } else {
            v = get(c->send[root], type, i);
        }
        out[i] = v;
    }
    pthread_barrier_wait(&c->barrier);
    for (size_t i = 0; i < n; i++) put(recv, type, i, out[i]);
    free(out);
    pthread_barrier_wait(&c->barrier); /* outputs written before anyone reuses the buffers */
    return SUCCESS;
}

int ncclAllReduce(const void* send, void* recv, size_t count, int type, int op, Comm* comm, void* stream) {
    int f = begin(count, type, op, stream);
    return f ? f : collective(comm, 0, send, recv, count, type, op, 0);
}

int ncclReduceScatter(const void* send, void* recv, size_t count, int type, int op, Comm* comm, void* stream) {
    int f = begin(count, type, op, stream);
    return f ? f : collective(comm, 1, send, recv, count, type, op, 0);
}

int ncclAllGather(const void* send, void* recv, size_t count, int type, Comm* comm, void* stream) {
    int f = begin(count, type, -1, stream);
    return f ? f : collective(comm, 2, send, recv, count, type, SUM, 0);
}

int ncclBroadcast(const void* send, void* recv, size_t count, int type, int root, Comm* comm, void* stream) {
    int f = begin(count, type, -1, stream);
    if (f) return f;
    if (root < 0 || root >= comm->clique->size) return INVALID_ARGUMENT;
    return collective(comm, 3, send, recv, count, type, SUM, root);
}
