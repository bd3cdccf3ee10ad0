package dev.cramjet.engine.cuda;

import dev.cramjet.CramjetException;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static dev.cramjet.engine.cuda.NativeLib.INT;
import static dev.cramjet.engine.cuda.NativeLib.PTR;
import static dev.cramjet.engine.cuda.NativeLib.SIZE;
import static dev.cramjet.engine.cuda.NativeLib.rethrow;

/**
 * cuBLASLt GEMMs in cuBLAS's column-major terms: D = alpha·op(A)·op(B) + beta·C, with an optional epilogue (bias,
 * GELU with the pre-activation saved to an auxiliary buffer). bf16 operands, fp32 compute and scale. A plan
 * (descriptors plus the heuristic's algorithm) is built once per shape and reused, so a training step only sets
 * the buffer pointers and launches.
 */
final class CublasLt {
    static final int R_32F = 0, R_16BF = 14;
    static final int COMPUTE_32F = 68;
    static final int OP_N = 0, OP_T = 1;
    static final int EPILOGUE_DEFAULT = 1, EPILOGUE_BIAS = 4, EPILOGUE_GELU = 32, EPILOGUE_GELU_BIAS = 36,
            EPILOGUE_GELU_AUX = 160, EPILOGUE_GELU_AUX_BIAS = 164;
    private static final int DESC_TRANSA = 3, DESC_TRANSB = 4, DESC_EPILOGUE = 7, DESC_BIAS_POINTER = 8,
            DESC_AUX_POINTER = 11, DESC_AUX_LD = 12;
    private static final int PREF_MAX_WORKSPACE = 1, PREF_ALIGN_A = 5, PREF_ALIGN_B = 6, PREF_ALIGN_C = 7, PREF_ALIGN_D = 8;
    /** sizeof(cublasLtMatmulHeuristicResult_t): algo (64) + workspaceSize (8) + state (4) + wavesCount (4) + reserved (16). */
    private static final int HEURISTIC_BYTES = 96;
    /** cuBLASLt's recommended workspace on Hopper. */
    static final long WORKSPACE_BYTES = 32L << 20;

    final NativeLib lib;
    private final MethodHandle create, destroy, getVersion, descCreate, descSet, descDestroy, layoutCreate,
            layoutDestroy, prefCreate, prefSet, prefDestroy, heuristic, matmul, statusName;
    private final long handle;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment one, zero, attr;
    private final Map<Key, Plan> plans = new HashMap<>();

    private CublasLt(NativeLib lib) {
        this.lib = lib;
        create = lib.status("cublasLtCreate", PTR);
        destroy = lib.status("cublasLtDestroy", PTR);
        getVersion = lib.fn(FunctionDescriptor.of(SIZE), "cublasLtGetVersion");
        descCreate = lib.status("cublasLtMatmulDescCreate", PTR, INT, INT);
        descSet = lib.status("cublasLtMatmulDescSetAttribute", PTR, INT, PTR, SIZE);
        descDestroy = lib.status("cublasLtMatmulDescDestroy", PTR);
        layoutCreate = lib.status("cublasLtMatrixLayoutCreate", PTR, INT, SIZE, SIZE, SIZE);
        layoutDestroy = lib.status("cublasLtMatrixLayoutDestroy", PTR);
        prefCreate = lib.status("cublasLtMatmulPreferenceCreate", PTR);
        prefSet = lib.status("cublasLtMatmulPreferenceSetAttribute", PTR, INT, PTR, SIZE);
        prefDestroy = lib.status("cublasLtMatmulPreferenceDestroy", PTR);
        heuristic = lib.status("cublasLtMatmulAlgoGetHeuristic", PTR, PTR, PTR, PTR, PTR, PTR, PTR, INT, PTR, PTR);
        matmul = lib.status("cublasLtMatmul", PTR, PTR, PTR, PTR, PTR, PTR, PTR, PTR, PTR, PTR, PTR, PTR, PTR, PTR, SIZE, PTR);
        statusName = lib.fn(FunctionDescriptor.of(PTR, INT), "cublasLtGetStatusName");
        one = arena.allocateFrom(ValueLayout.JAVA_FLOAT, 1f);
        zero = arena.allocateFrom(ValueLayout.JAVA_FLOAT, 0f);
        attr = arena.allocate(8, 8);
        MemorySegment out = arena.allocate(PTR);
        check(callP(create, out.address()), "cublasLtCreate");
        handle = out.get(PTR, 0);
    }

    static CublasLt load(LibraryFinder finder, int driverMajor) {
        List<String> names = List.of("libcublasLt.so." + driverMajor, "libcublasLt.so");
        return new CublasLt(NativeLib.load(finder, LibraryFinder.Library.CUBLASLT, driverMajor, names, false));
    }

    long version() {
        try {
            return (long) getVersion.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The shape and types a plan is built for; pointer alignments matter because the algorithm depends on them. */
    record Key(int transA, int transB, long m, long n, long k, long lda, long ldb, long ldd, int abType,
                       int dType, int epilogue, int alignA, int alignB, int alignC, int alignD) {}

    /** Descriptors and the chosen algorithm; {@code algo} is null when cuBLASLt has no kernel for the key. */
    record Plan(Key key, long desc, long layoutA, long layoutB, long layoutD, MemorySegment algo) {}

    /** Where products go while a graph region records them (see {@link Graphs}); null until the backend sets it. */
    Graphs graphs;

    /**
     * D[m,n] (column-major, leading dimension ldd) = op(A)·op(B) + beta·C, then the epilogue. C, when beta ≠ 0,
     * has D's layout (it may be D itself). bias has m elements (null: none); aux receives the pre-GELU values
     * with D's layout for the GELU_AUX epilogues. Returns false, doing nothing, when cuBLASLt has no algorithm
     * for this combination, so the caller can fall back to separate kernels.
     */
    boolean gemm(long stream, long workspace, int transA, int transB, long m, long n, long k, long a, long lda, long b,
                 long ldb, int abType, boolean accumulate, long c, long d, long ldd, int dType, int epilogue, long bias,
                 long aux) {
        Key key = new Key(transA, transB, m, n, k, lda, ldb, ldd, abType, dType, epilogue,
                alignment(a), alignment(b), alignment(accumulate ? c : d), alignment(d));
        Plan plan = plans.get(key);
        if (plan == null) {
            plan = plan(key);
            plans.put(key, plan);
        }
        if (plan.algo == null) return false;
        Graphs.Gemm g = new Graphs.Gemm(this, plan, stream, workspace, a, b, accumulate, c, d, bias, aux);
        if (graphs != null && graphs.deferring()) graphs.defer(g);
        else enqueue(g);
        return true;
    }

    /** Queues a product whose plan is chosen: the epilogue's pointers go into the plan's descriptor, then the GEMM. */
    void enqueue(Graphs.Gemm g) {
        Plan plan = g.plan();
        if (g.bias() != 0) setDesc(plan.desc, DESC_BIAS_POINTER, g.bias());
        if (g.aux() != 0) setDesc(plan.desc, DESC_AUX_POINTER, g.aux());
        MemorySegment beta = g.accumulate() ? one : zero;
        long cPtr = g.accumulate() ? g.c() : g.d();
        int r;
        try {
            r = (int) matmul.invokeExact(handle, plan.desc, one.address(), g.a(), plan.layoutA, g.b(), plan.layoutB, beta.address(),
                    cPtr, plan.layoutD, g.d(), plan.layoutD, plan.algo.address(), g.workspace(), WORKSPACE_BYTES, g.stream());
        } catch (Throwable t) {
            throw rethrow(t);
        }
        Key k = plan.key;
        check(r, "cublasLtMatmul(m=" + k.m + ", n=" + k.n + ", k=" + k.k + ", epilogue " + k.epilogue + ")");
    }

    private Plan plan(Key key) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(PTR);
            check((int) descCreate.invokeExact(out.address(), COMPUTE_32F, R_32F), "cublasLtMatmulDescCreate");
            long desc = out.get(PTR, 0);
            setDescInt(desc, DESC_TRANSA, key.transA);
            setDescInt(desc, DESC_TRANSB, key.transB);
            setDescInt(desc, DESC_EPILOGUE, key.epilogue);
            if (key.epilogue == EPILOGUE_GELU_AUX || key.epilogue == EPILOGUE_GELU_AUX_BIAS) setDesc(desc, DESC_AUX_LD, key.ldd);
            // Stored shapes: op(A) is m×k, so A is k×m when transposed; op(B) is k×n.
            long la = layout(key.abType, key.transA == OP_T ? key.k : key.m, key.transA == OP_T ? key.m : key.k, key.lda);
            long lb = layout(key.abType, key.transB == OP_T ? key.n : key.k, key.transB == OP_T ? key.k : key.n, key.ldb);
            long ld = layout(key.dType, key.m, key.n, key.ldd);
            check(callP(prefCreate, out.address()), "cublasLtMatmulPreferenceCreate");
            long pref = out.get(PTR, 0);
            try {
                MemorySegment v = a.allocate(8);
                v.set(ValueLayout.JAVA_LONG, 0, WORKSPACE_BYTES);
                check((int) prefSet.invokeExact(pref, PREF_MAX_WORKSPACE, v.address(), 8L), "cublasLtMatmulPreferenceSetAttribute");
                int[][] aligns = {{PREF_ALIGN_A, key.alignA}, {PREF_ALIGN_B, key.alignB}, {PREF_ALIGN_C, key.alignC}, {PREF_ALIGN_D, key.alignD}};
                for (int[] al : aligns) {
                    v.set(ValueLayout.JAVA_INT, 0, al[1]);
                    check((int) prefSet.invokeExact(pref, al[0], v.address(), 4L), "cublasLtMatmulPreferenceSetAttribute");
                }
                MemorySegment result = arena.allocate(HEURISTIC_BYTES, 8);
                MemorySegment count = a.allocate(INT);
                int r = (int) heuristic.invokeExact(handle, desc, la, lb, ld, ld, pref, 1, result.address(), count.address());
                boolean found = r == 0 && count.get(INT, 0) > 0 && result.get(INT, 72) == 0;
                // result's first 64 bytes are the cublasLtMatmulAlgo_t that cublasLtMatmul takes by pointer
                return new Plan(key, desc, la, lb, ld, found ? result : null);
            } finally {
                check(callP(prefDestroy, pref), "cublasLtMatmulPreferenceDestroy");
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private long layout(int type, long rows, long cols, long ld) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(PTR);
            check((int) layoutCreate.invokeExact(out.address(), type, rows, cols, ld), "cublasLtMatrixLayoutCreate");
            return out.get(PTR, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private void setDesc(long desc, int attribute, long value) {
        attr.set(ValueLayout.JAVA_LONG, 0, value);
        try {
            check((int) descSet.invokeExact(desc, attribute, attr.address(), 8L), "cublasLtMatmulDescSetAttribute(" + attribute + ")");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private void setDescInt(long desc, int attribute, int value) {
        attr.set(ValueLayout.JAVA_INT, 0, value);
        try {
            check((int) descSet.invokeExact(desc, attribute, attr.address(), 4L), "cublasLtMatmulDescSetAttribute(" + attribute + ")");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The largest power of two, up to 256, dividing the address (cuBLASLt picks kernels by alignment). */
    static int alignment(long address) {
        if (address == 0) return 256;
        return (int) Math.min(256, Long.lowestOneBit(address));
    }

    void close() {
        for (Plan p : plans.values()) {
            callP(descDestroy, p.desc);
            callP(layoutDestroy, p.layoutA);
            callP(layoutDestroy, p.layoutB);
            callP(layoutDestroy, p.layoutD);
        }
        plans.clear();
        callP(destroy, handle);
        arena.close();
    }

    private String name(int status) {
        try {
            String s = NativeLib.cString((long) statusName.invokeExact(status));
            return s != null ? s : ErrorNames.cublas(status);
        } catch (Throwable t) {
            return ErrorNames.cublas(status);
        }
    }

    private void check(int status, String call) {
        if (status != 0) throw new CramjetException(call + " failed: " + ErrorNames.withHint(name(status)));
    }

    private static int callP(MethodHandle h, long arg) {
        try {
            return (int) h.invokeExact(arg);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
