package dev.cramjet.engine.cuda;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * What every op family of the CUDA backend shares: the driver and the one stream, the kernels, cuBLASLt and its
 * workspace, the profiler, the device-side error flag, device-memory accounting with the grow-once scratch buffers,
 * tensor pointers, launch geometry and the two-pass column sums that reduce parameter gradients.
 * Not thread-safe, like the backend that owns it.
 */
final class Gpu {
    final Driver cu;
    final CublasLt lt;
    final Kernels k;
    final Profiler prof;
    final long stream, workspace;
    /** Device word where kernels OR in ERR_* bits (see common.cuh); read back at every synchronising call. */
    final long errorFlag;
    final int sms;
    private final MemorySegment hostFlag;
    private final List<Scratch> scratches = new ArrayList<>();
    private final Scratch partials;
    private final Kernels.Kernel colsumPartial;
    private final Kernels.Kernel[] colsumFinish;
    private long allocated, peak;

    Gpu(Driver cu, CublasLt lt, Kernels k, long stream, int sms) {
        this.cu = cu;
        this.lt = lt;
        this.k = k;
        this.stream = stream;
        this.sms = sms;
        prof = new Profiler(cu, stream);
        workspace = track(cu.malloc(CublasLt.WORKSPACE_BYTES), CublasLt.WORKSPACE_BYTES);
        errorFlag = track(cu.malloc(256), 256);
        cu.memset8(errorFlag, (byte) 0, 256, stream);
        hostFlag = cu.hostAlloc(64);
        partials = scratch("partial sums");
        colsumPartial = k.kernel("elementwise", "colsum_partial");
        colsumFinish = perType("elementwise", "colsum_finish_");
    }

    /** {name + "f32", name + "bf16"}: a kernel's two dtype variants, in {@link Checks#type} order. */
    Kernels.Kernel[] perType(String file, String name) {
        return new Kernels.Kernel[] {k.kernel(file, name + "f32"), k.kernel(file, name + "bf16")};
    }

    // ---- memory accounting ------------------------------------------------------------------------------------

    long track(long pointer, long bytes) {
        allocated += bytes;
        peak = Math.max(peak, allocated);
        return pointer;
    }

    void release(long pointer, long bytes) {
        cu.free(pointer);
        allocated -= bytes;
    }

    long allocated() { return allocated; }

    long peak() { return peak; }

    /** A named scratch buffer, freed with the backend. */
    Scratch scratch(String what) {
        Scratch s = new Scratch(what);
        scratches.add(s);
        return s;
    }

    /** A device buffer that grows to the largest size asked of it (during the first step) and is then reused. */
    final class Scratch {
        private final String what;
        private long pointer, capacity;

        private Scratch(String what) { this.what = what; }

        long get(long bytes) {
            if (bytes <= capacity) return pointer;
            cu.synchronize(stream);  // the old buffer may still be in use by queued kernels
            free();
            long size = Math.max(bytes, 2 * capacity);
            pointer = track(cu.malloc(size), size);
            capacity = size;
            return pointer;
        }

        private void free() {
            if (pointer != 0) release(pointer, capacity);
            pointer = 0;
            capacity = 0;
        }

        @Override
        public String toString() { return what + " (" + capacity + " bytes)"; }
    }

    // ---- tensors ----------------------------------------------------------------------------------------------

    /** The device address of a tensor view of this backend. */
    long ptr(Tensor t) {
        if (!(t.storage instanceof DeviceStorage s) || s.owner != this) {
            throw new IllegalArgumentException("tensor " + t + " does not belong to this CUDA backend");
        }
        if (s.pointer == 0) throw new IllegalStateException("tensor " + t + " used after close()");
        if (t.dtype().block > 1 && (t.offset % t.dtype().block != 0 || t.size() % t.dtype().block != 0)) {
            throw new IllegalArgumentException(t.dtype() + " view " + t + " at element " + t.offset + " is not whole blocks of "
                    + t.dtype().block);
        }
        return s.pointer + t.dtype().bytes(t.offset);
    }

    long ptrOrNull(Tensor t) { return t == null ? 0 : ptr(t); }

    // ---- synchronisation ----------------------------------------------------------------------------------------

    /**
     * Waits for the stream, then reports what kernels flagged since the last check (the flag is copied back in
     * the same stream, so it is current). The flag is cleared so one bad batch is reported once.
     */
    void syncAndCheck() {
        cu.copyDtoH(hostFlag.address(), errorFlag, 4, stream);
        cu.synchronize(stream);
        int flags = hostFlag.get(ValueLayout.JAVA_INT, 0);
        if (flags == 0) return;
        cu.memset8(errorFlag, (byte) 0, 4, stream);
        List<String> what = new ArrayList<>();
        if ((flags & 1) != 0) what.add("embedding: a token id is outside [0, vocabulary)");
        if ((flags & 2) != 0) what.add("crossEntropy: a target is ≥ the vocabulary size");
        if ((flags & 4) != 0) what.add("attention: a mask length is outside [1, T]");
        if ((flags & 8) != 0) what.add("pool: a segment is empty or outside the rows");
        throw new CramjetException("CUDA kernels reported bad input: " + String.join("; ", what));
    }

    // ---- launch geometry ----------------------------------------------------------------------------------------

    /** Blocks of 256 threads for a grid-stride loop of 8 elements per thread over n elements. */
    int grid8(long n) { return (int) Math.max(1, Math.min((n + 2047) / 2048, 32L * sms)); }

    /** Blocks of 256 threads for a grid-stride loop of one element per thread. */
    int grid1(long n) { return (int) Math.max(1, Math.min((n + 255) / 256, 32L * sms)); }

    /** Threads for one block per row of C elements, {@code each} per thread: a multiple of 32 in [32, 256]. */
    static int rowThreads(int c, int each) { return Math.max(32, Math.min(256, ((c + each - 1) / each + 31) / 32 * 32)); }

    // ---- parameter-gradient reductions ------------------------------------------------------------------------------

    /** The per-block partial sums of a parameter-gradient reduction: one buffer, at least {@code bytes} long. */
    long partials(long bytes) { return partials.get(bytes); }

    /** out[0, cols) += Σ over rows of x [rows, cols] (bf16), in two deterministic passes. */
    void columnSums(Tensor out, long x, int rows, int cols) {
        int stripes = (cols + 31) / 32;
        int chunks = (int) Math.max(1, Math.min((rows + 7) / 8, (4L * sms + stripes - 1) / stripes));
        int rowsPerChunk = (rows + chunks - 1) / chunks;
        chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
        long partial = partials(4L * chunks * cols);
        k.begin(colsumPartial).ptr(partial).ptr(x).i32(rows).i32(cols).i32(rowsPerChunk)
                .go(stream, stripes, chunks, 32, 8, 0);
        finishColumns(out, partial, chunks, cols);
    }

    /** out[c] += Σ_k partial[k·cols + c] for c &lt; cols, in a fixed order. */
    void finishColumns(Tensor out, long partial, int chunks, int cols) {
        k.begin(colsumFinish[Checks.type("column sums", out)]).ptr(ptr(out)).ptr(partial).i32(chunks).i32(cols)
                .go(stream, grid1(cols), 256);
    }

    /** Frees the scratch buffers, workspace and flags; the stream, kernels and context are the backend's. */
    void close() {
        for (Scratch s : scratches) s.free();
        release(workspace, CublasLt.WORKSPACE_BYTES);
        release(errorFlag, 256);
        cu.hostFree(hostFlag);
        prof.release();
    }
}
