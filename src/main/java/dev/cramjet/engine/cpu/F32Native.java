package dev.cramjet.engine.cpu;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The few-row fp32 product's native kernel, f32.c (its header states the math, which {@link Gemm}'s kernels compute
 * too), built by {@link NativeKernels} and bound with FFM. It reads a weight's packed panels ({@link Gemm.Packed})
 * where they lie, and prefetches, which Java cannot: so memory and arithmetic overlap in a decoding step. Arrays go
 * as heap segments to critical downcalls (no copies; the calls are short and never call back).
 *
 * <p>{@link #KERNEL} is null where the kernel cannot run — no AVX-512, no /proc/cpuinfo, no compiler, a failed
 * build, or {@code -Dcramjet.f32=java} / {@code CRAMJET_F32=java} — and {@link #STATUS} says which and why; Gemm's
 * Java kernels then compute the same bits.
 */
final class F32Native {
    /** Columns of f32.c's panels, which must be Gemm's. */
    static final int PANEL = 32;
    /**
     * Products of at most this many rows run here: decoding steps of up to 64 sequences (their steps measured 10–25%
     * faster than on Gemm's 6×32 kernel, docs/PERFORMANCE.md). A prompt's products, where the arithmetic is the
     * limit, stay on Gemm.
     */
    static final int ROWS = 64;

    static final F32Native KERNEL;
    /** Which few-row fp32 kernel runs, in words: "native (AVX-512)" or "Java (why not native)". */
    static final String STATUS;

    static {
        String[] why = new String[1];
        F32Native k = load(System.getenv(), System.getProperty("user.home"), why);
        KERNEL = k;
        STATUS = k != null ? "native (AVX-512)" : "Java (" + why[0] + ")";
    }

    private final MethodHandle matmul;

    private F32Native(SymbolLookup lib) {
        matmul = Linker.nativeLinker().downcallHandle(lib.find("f32_matmul").orElseThrow(),
                FunctionDescriptor.ofVoid(ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS,
                        JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT),
                Linker.Option.critical(true));
    }

    /**
     * f32_matmul: panels [q0, q1) of C[m,n] (from element cOff, row stride n) (+)= A[m,k] (from aOff) · Wᵀ, W
     * packed with K blocks of kc0.
     */
    void matmul(float[] a, int aOff, Gemm.Packed w, int kc0, float[] c, int cOff, int m, int q0, int q1,
                boolean accumulate) {
        try {
            matmul.invokeExact(MemorySegment.ofArray(a), (long) aOff, w.k, MemorySegment.ofArray(w.panels), w.n, w.k,
                    kc0, MemorySegment.ofArray(c), (long) cOff, w.n, m, q0, q1, accumulate ? 1 : 0);
        } catch (Throwable t) {
            if (t instanceof RuntimeException r) throw r;
            if (t instanceof Error e) throw e;
            throw new IllegalStateException(t);
        }
    }

    /** The kernel, or null with the reason in why[0]. */
    static F32Native load(Map<String, String> env, String home, String[] why) {
        SymbolLookup lib = NativeKernels.load("f32.c", List.of("avx512f"), "cramjet.f32", "CRAMJET_F32", env, home, why);
        return lib == null ? null : new F32Native(lib);
    }
}
