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
 * The int8 product's native kernel, q8.c (its header states the math, which {@link Q8} computes too), built by
 * {@link NativeKernels} and bound with FFM. Its arguments are Java arrays, passed as heap segments to critical
 * downcalls (no copies; the calls are short and never call back). The kernel reads W in its own layout, a copy made
 * at a weight's first product and kept by its storage ({@link CpuStorage#q8Packed}).
 *
 * <p>{@link #KERNEL} is null where the kernel cannot run — no AVX-512 VNNI, no /proc/cpuinfo, no compiler, a failed
 * build, or {@code -Dcramjet.q8=java} / {@code CRAMJET_Q8=java} — and {@link #STATUS} says which and why; the Java
 * kernel then computes the same bits.
 */
final class Q8Native {
    /** The CPU features q8.c is written for (Linux's names in /proc/cpuinfo). */
    private static final List<String> FEATURES = List.of("avx512f", "avx512bw", "avx512_vnni");

    static final Q8Native KERNEL;
    /** Which int8 kernel runs, in words: "native (AVX-512 VNNI)" or "Java (why not native)". */
    static final String STATUS;

    static {
        String[] why = new String[1];
        Q8Native k = load(System.getenv(), System.getProperty("user.home"), why);
        KERNEL = k;
        STATUS = k != null ? "native (AVX-512 VNNI)" : "Java (" + why[0] + ")";
    }

    private final MethodHandle packedBytes, packedScales, packWeights, sums, matmul;

    private Q8Native(SymbolLookup lib) {
        Linker linker = Linker.nativeLinker();
        Linker.Option heap = Linker.Option.critical(true);
        packedBytes = linker.downcallHandle(lib.find("q8_packed_bytes").orElseThrow(),
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_INT));
        packedScales = linker.downcallHandle(lib.find("q8_packed_scales").orElseThrow(),
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_INT));
        packWeights = linker.downcallHandle(lib.find("q8_pack_weights").orElseThrow(),
                FunctionDescriptor.ofVoid(ADDRESS, JAVA_LONG, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), heap);
        sums = linker.downcallHandle(lib.find("q8_sums").orElseThrow(),
                FunctionDescriptor.ofVoid(ADDRESS, JAVA_INT, JAVA_INT, ADDRESS), heap);
        matmul = linker.downcallHandle(lib.find("q8_matmul").orElseThrow(),
                FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT,
                        JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), heap);
    }

    /** W [n,k] repacked for q8_matmul: panels of 16 columns, quants + 128 (q8.c's layout). */
    record Packed(byte[] q, float[] d, MemorySegment qs, MemorySegment ds) {
        long bytes() { return q.length + 4L * d.length; }
    }

    /** The packed copy of the Q8_0 matrix [n,k] whose quants start at index wo of w's. */
    Packed pack(CpuStorage w, int wo, int n, int k) {
        try {
            long bytes = (long) packedBytes.invokeExact(n, k), scales = (long) packedScales.invokeExact(n, k);
            if (bytes > Integer.MAX_VALUE - 16) throw new IllegalArgumentException("int8 matrix " + n + "×" + k + " is too large to pack");
            byte[] q = new byte[(int) bytes];
            float[] d = new float[(int) scales];
            MemorySegment qs = MemorySegment.ofArray(q), ds = MemorySegment.ofArray(d);
            packWeights.invokeExact(w.segment(), (long) wo, w.scaleSegment(), n, k, qs, ds);
            return new Packed(q, d, qs, ds);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** q8_sums: the corrections of n quantized rows of k (q) into sums [n·k/32]. */
    void sums(MemorySegment q, int n, int k, MemorySegment sums) {
        try {
            this.sums.invokeExact(q, n, k, sums);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** q8_matmul: columns [j0, j1) of c (from element co, row stride ldc) (+)= quantized x · Wᵀ. */
    void matmul(Packed w, MemorySegment xq, MemorySegment xd, MemorySegment xs, MemorySegment c, long co, int ldc,
                int n, int k, int j0, int j1, boolean accumulate) {
        try {
            matmul.invokeExact(w.qs(), w.ds(), xq, xd, xs, c, co, ldc, n, k, j0, j1, accumulate ? 1 : 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    /** The kernel, or null with the reason in why[0]. */
    static Q8Native load(Map<String, String> env, String home, String[] why) {
        SymbolLookup lib = NativeKernels.load("q8.c", FEATURES, "cramjet.q8", "CRAMJET_Q8", env, home, why);
        return lib == null ? null : new Q8Native(lib);
    }
}
