package dev.cramjet.engine.cuda;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.AdamW;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Glu;
import dev.cramjet.engine.Mask;
import dev.cramjet.engine.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The CUDA backend: bf16 weights and activations, fp32 accumulation, every op queued on one stream.
 * GEMMs go to cuBLASLt with fused bias/GELU/residual epilogues; everything else is a kernel of this package's CUDA C
 * resources (compiled by NVRTC at first use). Nothing synchronises the host except {@link #download} and
 * {@link #synchronize}, where device-side errors (a token or target out of range) are also reported.
 * Scratch buffers (partial sums, the pre-dropout projection, attention's D) grow during the first step and are
 * reused after, so a steady-state step allocates nothing. Not thread-safe: use it from one thread at a time; the
 * context is made current on whichever thread calls.
 */
public final class CudaBackend implements Backend {
    private static final int STAGING_BYTES = 8 << 20;

    private final Driver cu;
    private final Nvrtc nvrtc;
    private final CublasLt lt;
    private final Kernels k;
    private final Profiler prof;
    private final int device, arch, sms, driverVersion;
    private final String deviceName;
    private final long totalMemory, context, stream, workspace;
    /** Device word where kernels OR in ERR_* bits (see common.cuh); read back at every synchronising call. */
    final long errorFlag;
    private final List<DeviceStorage> storages = new ArrayList<>();
    private final Scratch partials, projection, attnD;
    private final MemorySegment[] staging = new MemorySegment[2];
    private final long[] stagingEvent = new long[2];
    private final boolean[] stagingBusy = new boolean[2];
    private final MemorySegment hostFlag;
    // Kernels, named up front and compiled at first launch. Arrays are indexed by dtype (see type()).
    private final Kernels.Kernel convertF32Bf16, convertBf16F32, embeddingForward, colsumPartial, layerNormForward,
            layerNormBackward, rmsNormForward, rmsNormBackward, geluForward, geluBackward, residualDropout, swigluForward,
            swigluBackward, ropeKernel, dropoutKernel, crossEntropyKernel, normFinish;
    private final Kernels.Kernel[] embeddingBackward, colsumFinish, addKernels, scaleKernels, sumSquares;
    private final Kernels.Kernel[][] adamw;
    private final AttentionKernels[] attention = new AttentionKernels[17];
    private int nextStaging;
    private long allocated, peak;
    private Thread current;
    private boolean closed;

    /** Opens device {@code $CRAMJET_CUDA_DEVICE} (default 0). Throws a CramjetException saying what is missing. */
    public CudaBackend() {
        this(LibraryFinder.system(), Integer.parseInt(System.getenv().getOrDefault("CRAMJET_CUDA_DEVICE", "0")), cacheDir());
    }

    /** Opens device {@code ordinal} with the libraries {@code finder} locates, caching kernels in {@code cacheDir}. */
    public CudaBackend(LibraryFinder finder, int ordinal, Path cacheDir) {
        cu = Driver.load(finder);
        int count = cu.deviceCount();
        if (count == 0) throw new CramjetException("CUDA: the driver (" + cu.lib.where + ") sees no GPU; check nvidia-smi");
        if (ordinal < 0 || ordinal >= count) {
            throw new CramjetException("CUDA: device " + ordinal + " requested (CRAMJET_CUDA_DEVICE) but only " + count + " present");
        }
        device = cu.device(ordinal);
        deviceName = cu.deviceName(device);
        totalMemory = cu.totalMemory(device);
        arch = 10 * cu.attribute(device, Driver.ATTR_CC_MAJOR) + cu.attribute(device, Driver.ATTR_CC_MINOR);
        sms = cu.attribute(device, Driver.ATTR_SM_COUNT);
        driverVersion = cu.driverVersion();
        if (arch < 80) {
            throw new CramjetException("CUDA: " + deviceName + " is sm_" + arch + "; the CUDA backend needs sm_80 or newer (bf16 tensor cores)");
        }
        context = cu.retainPrimaryContext(device);
        cu.setCurrent(context);
        current = Thread.currentThread();
        try {
            stream = cu.createStream();
            nvrtc = Nvrtc.load(finder, driverVersion / 1000);
            lt = CublasLt.load(finder, driverVersion / 1000);
            k = new Kernels(cu, nvrtc, arch, cacheDir);
            convertF32Bf16 = k.kernel("elementwise", "convert_f32_bf16");
            convertBf16F32 = k.kernel("elementwise", "convert_bf16_f32");
            embeddingForward = k.kernel("embedding", "embedding_forward");
            colsumPartial = k.kernel("elementwise", "colsum_partial");
            layerNormForward = k.kernel("norm", "layernorm_forward");
            layerNormBackward = k.kernel("norm", "layernorm_backward");
            rmsNormForward = k.kernel("norm", "rmsnorm_forward");
            rmsNormBackward = k.kernel("norm", "rmsnorm_backward");
            geluForward = k.kernel("elementwise", "gelu_forward");
            geluBackward = k.kernel("elementwise", "gelu_backward");
            residualDropout = k.kernel("elementwise", "residual_dropout");
            swigluForward = k.kernel("elementwise", "swiglu_forward");
            swigluBackward = k.kernel("elementwise", "swiglu_backward");
            ropeKernel = k.kernel("rope", "rope");
            dropoutKernel = k.kernel("elementwise", "dropout");
            crossEntropyKernel = k.kernel("loss", "cross_entropy");
            normFinish = k.kernel("optim", "norm_finish");
            embeddingBackward = perType("embedding", "embedding_backward_");
            colsumFinish = perType("elementwise", "colsum_finish_");
            addKernels = perType("elementwise", "add_");
            scaleKernels = perType("elementwise", "scale_");
            sumSquares = perType("optim", "sum_squares_");
            adamw = new Kernels.Kernel[][] {perType("optim", "adamw_f32_"), perType("optim", "adamw_bf16_")};
            prof = new Profiler(cu, stream);
            workspace = track(cu.malloc(CublasLt.WORKSPACE_BYTES), CublasLt.WORKSPACE_BYTES);
            errorFlag = track(cu.malloc(256), 256);
            cu.memset8(errorFlag, (byte) 0, 256, stream);
            for (int i = 0; i < 2; i++) {
                staging[i] = cu.hostAlloc(STAGING_BYTES);
                stagingEvent[i] = cu.createEvent();
            }
            hostFlag = cu.hostAlloc(64);
            partials = new Scratch("partial sums");
            projection = new Scratch("pre-dropout projection");
            attnD = new Scratch("attention D");
        } catch (RuntimeException e) {
            cu.releasePrimaryContext(device);
            throw e;
        }
    }

    /** {name + "f32", name + "bf16"}: a kernel's two dtype variants, in type() order. */
    private Kernels.Kernel[] perType(String file, String name) {
        return new Kernels.Kernel[] {k.kernel(file, name + "f32"), k.kernel(file, name + "bf16")};
    }

    /** Where compiled kernels are cached: $CRAMJET_CACHE, else $XDG_CACHE_HOME/cramjet, else ~/.cache/cramjet. */
    static Path cacheDir() {
        String c = System.getenv("CRAMJET_CACHE");
        if (c != null && !c.isBlank()) return Path.of(c, "cuda");
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank()) return Path.of(xdg, "cramjet", "cuda");
        return Path.of(System.getProperty("user.home"), ".cache", "cramjet", "cuda");
    }

    // ---- identity --------------------------------------------------------------------------------------------

    @Override
    public String name() { return "cuda"; }

    @Override
    public String describe() {
        return String.format("%s, %d SMs, %.1f GiB, sm_%d, driver CUDA %d.%d, NVRTC %s, cuBLASLt %d", deviceName, sms,
                totalMemory / (double) (1L << 30), arch, driverVersion / 1000, driverVersion % 1000 / 10, nvrtc.version(), lt.version());
    }

    @Override
    public DType computeType() { return DType.BF16; }

    public String deviceName() { return deviceName; }

    public int multiprocessors() { return sms; }

    /** Compute capability as one number: 90 for sm_90. */
    public int architecture() { return arch; }

    public long totalMemory() { return totalMemory; }

    /** Where the driver, NVRTC and cuBLASLt were loaded from, for `cramjet doctor`. */
    public Map<String, String> libraries() {
        return Map.of("driver", cu.lib.where, "nvrtc", nvrtc.lib.where, "cublasLt", lt.lib.where);
    }

    /** Compiles (or loads from the cache) every kernel module; returns the files. */
    public List<String> compileKernels() {
        enter();
        return k.compileAll();
    }

    // ---- memory ----------------------------------------------------------------------------------------------

    private void enter() {
        if (closed) throw new IllegalStateException("CUDA backend used after close()");
        Thread t = Thread.currentThread();
        if (t != current) {
            cu.setCurrent(context);
            current = t;
        }
    }

    private long track(long pointer, long bytes) {
        allocated += bytes;
        peak = Math.max(peak, allocated);
        return pointer;
    }

    @Override
    public Tensor alloc(DType dtype, int... shape) {
        enter();
        long n = 1;
        for (int d : shape) n *= d;
        long bytes = dtype.bytes(Math.max(dtype.block, n));
        long p = track(cu.malloc(bytes), bytes);
        cu.memset8(p, (byte) 0, bytes, stream);
        DeviceStorage s = new DeviceStorage(this, dtype, n, p);
        storages.add(s);
        return new Tensor(s, 0, shape);
    }

    private long ptr(Tensor t) {
        if (!(t.storage instanceof DeviceStorage s) || s.owner != this) {
            throw new IllegalArgumentException("tensor " + t + " does not belong to this CUDA backend");
        }
        if (s.pointer == 0) throw new IllegalStateException("tensor " + t + " used after close()");
        return s.pointer + t.dtype().bytes(t.offset);
    }

    private static long ptrOrNull(CudaBackend b, Tensor t) { return t == null ? 0 : b.ptr(t); }

    /**
     * The device address of a tensor of this backend, and {@link #stream()}: for a library that queues its own
     * kernels on the training stream in order with ours (NCCL's collectives, see dist/NcclCommunicator).
     */
    public long address(Tensor t) { return ptr(t); }

    /** The CUstream every op is queued on, with this backend's context made current on the calling thread. */
    public long stream() {
        enter();
        return stream;
    }

    /** Next pinned staging buffer, waiting for the copy that last used it (normally long finished). */
    private MemorySegment stage() {
        int i = nextStaging;
        nextStaging ^= 1;
        if (stagingBusy[i]) {
            cu.eventSynchronize(stagingEvent[i]);
            stagingBusy[i] = false;
        }
        return staging[i];
    }

    private void staged(MemorySegment buffer) {
        int i = buffer == staging[0] ? 0 : 1;
        cu.record(stagingEvent[i], stream);
        stagingBusy[i] = true;
    }

    @Override
    public void upload(Tensor dst, float[] src) {
        enter();
        requireLength("upload", dst, src.length);
        long base = ptr(dst);
        try (var _ = prof.time("memory")) {
            switch (dst.dtype()) {
                case F32 -> {
                    int chunk = STAGING_BYTES / 4;
                    for (int off = 0; off < src.length; off += chunk) {
                        int n = Math.min(chunk, src.length - off);
                        MemorySegment s = stage();
                        MemorySegment.copy(src, off, s, ValueLayout.JAVA_FLOAT, 0, n);
                        cu.copyHtoD(base + 4L * off, s.address(), 4L * n, stream);
                        staged(s);
                    }
                }
                case BF16 -> {
                    int chunk = STAGING_BYTES / 2;
                    for (int off = 0; off < src.length; off += chunk) {
                        int n = Math.min(chunk, src.length - off);
                        MemorySegment s = stage();
                        for (int i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_SHORT, i, Bf16.round(src[off + i]));
                        cu.copyHtoD(base + 2L * off, s.address(), 2L * n, stream);
                        staged(s);
                    }
                }
                case I32 -> throw new IllegalArgumentException("upload: float[] into I32 tensor " + dst + " (use the int[] overload)");
            }
        }
    }

    @Override
    public void upload(Tensor dst, int[] src) {
        enter();
        requireLength("upload", dst, src.length);
        if (dst.dtype() != DType.I32) {
            throw new IllegalArgumentException("upload: int[] into " + dst + " (expects I32)");
        }
        long base = ptr(dst);
        try (var _ = prof.time("memory")) {
            int chunk = STAGING_BYTES / 4;
            for (int off = 0; off < src.length; off += chunk) {
                int n = Math.min(chunk, src.length - off);
                MemorySegment s = stage();
                MemorySegment.copy(src, off, s, ValueLayout.JAVA_INT, 0, n);
                cu.copyHtoD(base + 4L * off, s.address(), 4L * n, stream);
                staged(s);
            }
        }
    }

    @Override
    public void download(Tensor src, float[] dst) {
        enter();
        requireLength("download", src, dst.length);
        if (src.dtype() == DType.I32) {
            throw new IllegalArgumentException("download: I32 tensor " + src
                    + " into float[] (use the int[] overload)");
        }
        int bytes = (int) src.dtype().bytes(1);
        int chunk = STAGING_BYTES / bytes;
        long base = ptr(src);
        for (int off = 0; off < dst.length; off += chunk) {
            int n = Math.min(chunk, dst.length - off);
            MemorySegment s = stage();
            cu.copyDtoH(s.address(), base + (long) bytes * off, (long) bytes * n, stream);
            syncAndCheck();
            if (src.dtype() == DType.F32) {
                MemorySegment.copy(s, ValueLayout.JAVA_FLOAT, 0, dst, off, n);
            } else {
                for (int i = 0; i < n; i++) dst[off + i] = Bf16.toFloat(s.getAtIndex(ValueLayout.JAVA_SHORT, i));
            }
        }
        if (dst.length == 0) syncAndCheck();
    }

    @Override
    public void download(Tensor src, int[] dst) {
        enter();
        requireLength("download", src, dst.length);
        if (src.dtype() != DType.I32) {
            throw new IllegalArgumentException("download: " + src + " into int[] (expects I32)");
        }
        int chunk = STAGING_BYTES / 4;
        long base = ptr(src);
        for (int off = 0; off < dst.length; off += chunk) {
            int n = Math.min(chunk, dst.length - off);
            MemorySegment s = stage();
            cu.copyDtoH(s.address(), base + 4L * off, 4L * n, stream);
            syncAndCheck();
            MemorySegment.copy(s, ValueLayout.JAVA_INT, 0, dst, off, n);
        }
        if (dst.length == 0) syncAndCheck();
    }

    /**
     * Waits for the stream, then reports what kernels flagged since the last check (the flag is copied back in
     * the same stream, so it is current). The flag is cleared so one bad batch is reported once.
     */
    private void syncAndCheck() {
        cu.copyDtoH(hostFlag.address(), errorFlag, 4, stream);
        cu.synchronize(stream);
        int flags = hostFlag.get(ValueLayout.JAVA_INT, 0);
        if (flags == 0) return;
        cu.memset8(errorFlag, (byte) 0, 4, stream);
        List<String> what = new ArrayList<>();
        if ((flags & 1) != 0) what.add("embedding: a token id is outside [0, vocabulary)");
        if ((flags & 2) != 0) what.add("crossEntropy: a target is ≥ the vocabulary size");
        throw new CramjetException("CUDA kernels reported bad input: " + String.join("; ", what));
    }

    @Override
    public void zero(Tensor t) {
        enter();
        try (var _ = prof.time("memory")) {
            cu.memset8(ptr(t), (byte) 0, t.bytes(), stream);
        }
    }

    @Override
    public void fill(Tensor t, float value) {
        enter();
        try (var _ = prof.time("memory")) {
            switch (t.dtype()) {
                case F32 -> cu.memset32(ptr(t), Float.floatToRawIntBits(value), t.size(), stream);
                case BF16 -> cu.memset16(ptr(t), Bf16.round(value), t.size(), stream);
                case I32 -> cu.memset32(ptr(t), (int) value, t.size(), stream);
            }
        }
    }

    @Override
    public void copy(Tensor dst, Tensor src) {
        enter();
        if (dst.size() != src.size()) {
            throw new IllegalArgumentException("copy: " + src + " into " + dst + " (sizes differ)");
        }
        try (var _ = prof.time("memory")) {
            if (dst.dtype() == src.dtype()) {
                cu.copyDtoD(ptr(dst), ptr(src), dst.bytes(), stream);
            } else if (src.dtype() == DType.F32 && dst.dtype() == DType.BF16) {
                k.begin(convertF32Bf16).ptr(ptr(dst)).ptr(ptr(src)).i64(dst.size()).go(stream, grid8(dst.size()), 256);
            } else if (src.dtype() == DType.BF16 && dst.dtype() == DType.F32) {
                k.begin(convertBf16F32).ptr(ptr(dst)).ptr(ptr(src)).i64(dst.size()).go(stream, grid8(dst.size()), 256);
            } else {
                throw new IllegalArgumentException("copy: cannot convert " + src + " to " + dst);
            }
        }
    }

    @Override
    public void synchronize() {
        enter();
        syncAndCheck();
    }

    @Override
    public long allocatedBytes() { return allocated; }

    /** The most device memory this backend has held at once (tensors, workspace and scratch). */
    public long peakAllocatedBytes() { return peak; }

    /** {free, total} device memory as the driver reports it (other processes included). */
    public long[] deviceMemoryInfo() {
        enter();
        return cu.memoryInfo();
    }

    @Override
    public void close() {
        if (closed) return;
        enter();
        try {
            cu.synchronize(stream);
        } finally {
            closed = true;
            for (DeviceStorage s : storages) {
                if (s.pointer != 0) cu.free(s.pointer);
                s.pointer = 0;
            }
            storages.clear();
            partials.free();
            projection.free();
            attnD.free();
            cu.free(workspace);
            cu.free(errorFlag);
            for (int i = 0; i < 2; i++) {
                cu.hostFree(staging[i]);
                cu.destroyEvent(stagingEvent[i]);
            }
            cu.hostFree(hostFlag);
            prof.release();
            k.close();
            lt.close();
            cu.destroyStream(stream);
            cu.releasePrimaryContext(device);
            allocated = 0;
        }
    }

    /** A device buffer that grows to the largest size asked of it (during the first step) and is then reused. */
    private final class Scratch {
        private final String what;
        private long pointer, capacity;

        Scratch(String what) { this.what = what; }

        long get(long bytes) {
            if (bytes <= capacity) return pointer;
            cu.synchronize(stream);  // the old buffer may still be in use by queued kernels
            free();
            long size = Math.max(bytes, 2 * capacity);
            pointer = track(cu.malloc(size), size);
            capacity = size;
            return pointer;
        }

        void free() {
            if (pointer != 0) {
                cu.free(pointer);
                allocated -= capacity;
            }
            pointer = 0;
            capacity = 0;
        }

        @Override
        public String toString() { return what + " (" + capacity + " bytes)"; }
    }

    // ---- launch geometry -------------------------------------------------------------------------------------

    /** Blocks of 256 threads for a grid-stride loop of 8 elements per thread over n elements. */
    private int grid8(long n) { return (int) Math.max(1, Math.min((n + 2047) / 2048, 32L * sms)); }

    /** Blocks of 256 threads for a grid-stride loop of one element per thread. */
    private int grid1(long n) { return (int) Math.max(1, Math.min((n + 255) / 256, 32L * sms)); }

    /** Threads for one block per row of C elements processed 8 at a time: a multiple of 32 in [32, 256]. */
    private static int rowThreads(int c) { return Math.max(32, Math.min(256, ((c + 7) / 8 + 31) / 32 * 32)); }

    // ---- embedding -------------------------------------------------------------------------------------------

    @Override
    public void embedding(Tensor out, Tensor tokens, Tensor wte, Tensor wpe, int posOffset) {
        enter();
        String op = "embedding";
        int n = (int) tokens.size(), t = tokens.dim(-1), c = wte.dim(-1), v = wte.dim(0);
        requireType(op, tokens, DType.I32);
        requireType(op, out, DType.BF16);
        requireType(op, wte, DType.BF16);
        if (out.size() != (long) n * c) {
            throw new IllegalArgumentException(op + ": out " + out + " for tokens " + tokens + " and wte " + wte);
        }
        if (wpe != null) {
            requireType(op, wpe, DType.BF16);
            if (!(wpe.dim(-1) == c && posOffset >= 0 && posOffset + t <= wpe.dim(0))) {
                throw new IllegalArgumentException(op + ": positions [" + posOffset + ", " + (posOffset + t)
                        + ") outside wpe " + wpe);
            }
        }
        try (var _ = prof.time("embedding")) {
            k.begin(embeddingForward).ptr(ptr(out)).ptr(ptr(tokens)).ptr(ptr(wte)).ptr(ptrOrNull(this, wpe))
                    .i32(t).i32(c).i32(v).i32(posOffset).ptr(errorFlag).go(stream, n, rowThreads(c));
        }
    }

    @Override
    public void embeddingBackward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens) {
        enter();
        String op = "embeddingBackward";
        int n = (int) tokens.size(), t = tokens.dim(-1), b = n / t, c = dwte.dim(-1), v = dwte.dim(0);
        requireType(op, tokens, DType.I32);
        requireType(op, dout, DType.BF16);
        if (dout.size() != (long) n * c) {
            throw new IllegalArgumentException(op + ": dout " + dout + " for tokens " + tokens + " and dwte " + dwte);
        }
        try (var _ = prof.time("embedding")) {
            k.begin(embeddingBackward[type(op, dwte)]).ptr(ptr(dwte)).ptr(ptr(dout)).ptr(ptr(tokens))
                    .i32(c).i32(v).go(stream, n, Math.max(32, Math.min(256, (c + 31) / 32 * 32)));
            if (dwpe != null) {
                if (!(dwpe.dim(-1) == c && dwpe.dim(0) >= t)) {
                    throw new IllegalArgumentException(op + ": dwpe " + dwpe + " too small for T=" + t);
                }
                columnSums(dwpe, ptr(dout), b, t * c);
            }
        }
    }

    /** out[0, cols) += Σ over rows of x [rows, cols] (bf16), in two deterministic passes. */
    private void columnSums(Tensor out, long x, int rows, int cols) {
        int stripes = (cols + 31) / 32;
        int chunks = (int) Math.max(1, Math.min((rows + 7) / 8, (4L * sms + stripes - 1) / stripes));
        int rowsPerChunk = (rows + chunks - 1) / chunks;
        chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
        long partial = partials.get(4L * chunks * cols);
        k.begin(colsumPartial).ptr(partial).ptr(x).i32(rows).i32(cols).i32(rowsPerChunk)
                .go(stream, stripes, chunks, 32, 8, 0);
        finishColumns(out, partial, chunks, cols, cols);
    }

    /** out[c] += Σ_k partial[k·stride + c] for c < cols. */
    private void finishColumns(Tensor out, long partial, int chunks, int cols, long stride) {
        k.begin(colsumFinish[type("column sums", out)]).ptr(ptr(out)).ptr(partial).i32(chunks)
                .i32(cols).i64(stride).go(stream, grid1(cols), 256);
    }

    // ---- normalisation ---------------------------------------------------------------------------------------

    @Override
    public void layerNorm(Tensor out, Tensor mean, Tensor rstd, Tensor in, Tensor weight, Tensor bias, float eps) {
        enter();
        String op = "layerNorm";
        int n = in.rows(), c = in.dim(-1);
        requireActivations(op, out, in);
        requireType(op, weight, DType.BF16);
        requireStats(op, n, mean, rstd);
        if (bias != null) requireType(op, bias, DType.BF16);
        try (var _ = prof.time("layernorm")) {
            k.begin(layerNormForward).ptr(ptr(out)).ptr(ptr(mean)).ptr(ptr(rstd)).ptr(ptr(in)).ptr(ptr(weight))
                    .ptr(ptrOrNull(this, bias)).i32(n).i32(c).f32(eps).go(stream, (n + 7) / 8, 256);
        }
    }

    @Override
    public void layerNormBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight,
                                  Tensor mean, Tensor rstd) {
        enter();
        String op = "layerNormBackward";
        int n = in.rows(), c = in.dim(-1);
        requireActivations(op, din, dout, in);
        requireStats(op, n, mean, rstd);
        try (var _ = prof.time("layernorm")) {
            int blocks = Math.max(1, Math.min((n + 7) / 8, 2 * sms));
            long partial = partials.get(8L * blocks * c);
            k.begin(layerNormBackward).ptr(ptr(din)).ptr(partial).ptr(ptr(dout)).ptr(ptr(in)).ptr(ptr(weight))
                    .ptr(ptr(mean)).ptr(ptr(rstd)).i32(n).i32(c).go(stream, blocks, 1, 256, 1, 8 * c);
            finishColumns(dweight, partial, blocks, c, 2L * c);
            if (dbias != null) finishColumns(dbias, partial + 4L * c, blocks, c, 2L * c);
        }
    }

    @Override
    public void rmsNorm(Tensor out, Tensor rstd, Tensor in, Tensor weight, float eps) {
        enter();
        String op = "rmsNorm";
        int n = in.rows(), c = in.dim(-1);
        requireActivations(op, out, in);
        requireType(op, weight, DType.BF16);
        requireStats(op, n, rstd);
        try (var _ = prof.time("layernorm")) {
            k.begin(rmsNormForward).ptr(ptr(out)).ptr(ptr(rstd)).ptr(ptr(in)).ptr(ptr(weight)).i32(n).i32(c)
                    .f32(eps).go(stream, (n + 7) / 8, 256);
        }
    }

    @Override
    public void rmsNormBackward(Tensor din, Tensor dweight, Tensor dout, Tensor in, Tensor weight, Tensor rstd) {
        enter();
        String op = "rmsNormBackward";
        int n = in.rows(), c = in.dim(-1);
        requireActivations(op, din, dout, in);
        requireStats(op, n, rstd);
        try (var _ = prof.time("layernorm")) {
            int blocks = Math.max(1, Math.min((n + 7) / 8, 2 * sms));
            long partial = partials.get(4L * blocks * c);
            k.begin(rmsNormBackward).ptr(ptr(din)).ptr(partial).ptr(ptr(dout)).ptr(ptr(in)).ptr(ptr(weight))
                    .ptr(ptr(rstd)).i32(n).i32(c).go(stream, blocks, 1, 256, 1, 4 * c);
            finishColumns(dweight, partial, blocks, c, c);
        }
    }

    // ---- matmul ----------------------------------------------------------------------------------------------

    @Override
    public void matmul(Tensor out, Tensor in, Tensor weight, Tensor bias, Epilogue epilogue) {
        enter();
        String op = "matmul";
        int n = in.rows(), c = in.dim(-1), oc = weight.dim(0);
        requireActivations(op, out, in, weight);
        if (!(weight.dim(-1) == c && out.rows() == n && out.dim(-1) == oc)) {
            throw new IllegalArgumentException(op + ": out " + out + " = in " + in + " · weightᵀ " + weight
                    + " (shapes disagree)");
        }
        if (bias != null) {
            requireType(op, bias, DType.BF16);
            if (bias.size() != oc) {
                throw new IllegalArgumentException(op + ": bias " + bias + " for " + oc + " outputs");
            }
        }
        long b = ptrOrNull(this, bias);
        try (var _ = prof.time("matmul")) {
            switch (epilogue) {
                case Epilogue.None none -> linear(ptr(out), ptr(in), ptr(weight), b, n, c, oc);
                case Epilogue.Gelu(Tensor pre) -> {
                    if (pre != null) {
                        requireType(op, pre, DType.BF16);
                        if (pre.size() != out.size()) {
                            throw new IllegalArgumentException(op + ": gelu pre-activation " + pre + " for out " + out);
                        }
                    }
                    boolean fused = oc % 8 == 0 && pre != null && lt.gemm(stream, workspace, CublasLt.OP_T, CublasLt.OP_N,
                            oc, n, c, ptr(weight), c, ptr(in), c, CublasLt.R_16BF, false, 0, ptr(out), oc, CublasLt.R_16BF,
                            b != 0 ? CublasLt.EPILOGUE_GELU_AUX_BIAS : CublasLt.EPILOGUE_GELU_AUX, b, ptr(pre));
                    if (!fused) {
                        long y = pre != null ? ptr(pre) : ptr(out);
                        linear(y, ptr(in), ptr(weight), b, n, c, oc);
                        k.begin(geluForward).ptr(ptr(out)).ptr(y).i64(out.size()).go(stream, grid8(out.size()), 256);
                    }
                }
                case Epilogue.Residual(Tensor residual, float p, long seed) -> {
                    requireType(op, residual, DType.BF16);
                    if (!residual.sameShape(out)) {
                        throw new IllegalArgumentException(op + ": residual " + residual + " for out " + out);
                    }
                    requireProbability(op, p);
                    if (p == 0) {
                        boolean ok = lt.gemm(stream, workspace, CublasLt.OP_T, CublasLt.OP_N, oc, n, c, ptr(weight), c, ptr(in), c,
                                CublasLt.R_16BF, true, ptr(residual), ptr(out), oc, CublasLt.R_16BF,
                                b != 0 ? CublasLt.EPILOGUE_BIAS : CublasLt.EPILOGUE_DEFAULT, b, 0);
                        if (!ok) throw noAlgorithm(op, n, c, oc);
                    } else {
                        long y = projection.get(2L * n * oc);
                        linear(y, ptr(in), ptr(weight), b, n, c, oc);
                        k.begin(residualDropout).ptr(ptr(out)).ptr(ptr(residual)).ptr(y).i64(out.size())
                                .f32(p).i64(seed).go(stream, grid8(out.size()), 256);
                    }
                }
            }
        }
    }

    /** y[n, oc] = x[n, c]·wᵀ (+ bias), all bf16 row-major: in cuBLAS's column-major terms D(oc×n) = Wᵀ·X. */
    private void linear(long y, long x, long w, long bias, int n, int c, int oc) {
        boolean ok = lt.gemm(stream, workspace, CublasLt.OP_T, CublasLt.OP_N, oc, n, c, w, c, x, c, CublasLt.R_16BF, false, 0,
                y, oc, CublasLt.R_16BF, bias != 0 ? CublasLt.EPILOGUE_BIAS : CublasLt.EPILOGUE_DEFAULT, bias, 0);
        if (!ok) throw noAlgorithm("matmul", n, c, oc);
    }

    private static CramjetException noAlgorithm(String op, int n, int c, int oc) {
        return new CramjetException(op + ": cuBLASLt has no algorithm for [" + n + "×" + c + "]·[" + oc + "×" + c
                + "]ᵀ (check that the tensors are 16-byte aligned views)");
    }

    @Override
    public void matmulBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight) {
        enter();
        String op = "matmulBackward";
        int n = in.rows(), c = in.dim(-1), oc = weight.dim(0);
        requireActivations(op, dout, in, weight);
        if (!(dout.rows() == n && dout.dim(-1) == oc && weight.dim(-1) == c)) {
            throw new IllegalArgumentException(op + ": dout " + dout + ", in " + in + ", weight " + weight
                    + " (shapes disagree)");
        }
        try (var _ = prof.time("matmul")) {
            if (din != null) {
                requireType(op, din, DType.BF16);
                if (!(din.sameShape(in) || din.size() == in.size())) {
                    throw new IllegalArgumentException(op + ": din " + din + " for in " + in);
                }
                // din[n, c] = dout[n, oc]·W[oc, c]: column-major D(c×n) = W(c×oc)·dout(oc×n).
                boolean ok = lt.gemm(stream, workspace, CublasLt.OP_N, CublasLt.OP_N, c, n, oc, ptr(weight), c, ptr(dout), oc,
                        CublasLt.R_16BF, false, 0, ptr(din), c, CublasLt.R_16BF, CublasLt.EPILOGUE_DEFAULT, 0, 0);
                if (!ok) throw noAlgorithm(op, n, oc, c);
            }
            if (dweight != null) {
                if (dweight.size() != (long) oc * c) {
                    throw new IllegalArgumentException(op + ": dweight " + dweight + " for weight " + weight);
                }
                // dW[oc, c] += doutᵀ·in: column-major D(c×oc) += X(c×n)·doutᵀ(n×oc).
                int dType = dweight.dtype() == DType.F32 ? CublasLt.R_32F : CublasLt.R_16BF;
                requireFloat(op, dweight);
                boolean ok = lt.gemm(stream, workspace, CublasLt.OP_N, CublasLt.OP_T, c, oc, n, ptr(in), c, ptr(dout), oc,
                        CublasLt.R_16BF, true, ptr(dweight), ptr(dweight), c, dType, CublasLt.EPILOGUE_DEFAULT, 0, 0);
                if (!ok) throw noAlgorithm(op, c, n, oc);
            }
            if (dbias != null) {
                if (dbias.size() != oc) {
                    throw new IllegalArgumentException(op + ": dbias " + dbias + " for " + oc + " outputs");
                }
                columnSums(dbias, ptr(dout), n, oc);
            }
        }
    }

    // ---- activations -----------------------------------------------------------------------------------------

    @Override
    public void gelu(Tensor out, Tensor in) {
        enter();
        requireActivations("gelu", out, in);
        requireSameSize("gelu", out, in);
        try (var _ = prof.time("elementwise")) {
            k.begin(geluForward).ptr(ptr(out)).ptr(ptr(in)).i64(in.size()).go(stream, grid8(in.size()), 256);
        }
    }

    @Override
    public void geluBackward(Tensor din, Tensor pre, Tensor dout) {
        enter();
        requireActivations("geluBackward", din, pre, dout);
        requireSameSize("geluBackward", din, pre);
        requireSameSize("geluBackward", dout, pre);
        try (var _ = prof.time("elementwise")) {
            k.begin(geluBackward).ptr(ptr(din)).ptr(ptr(pre)).ptr(ptr(dout)).i64(pre.size())
                    .go(stream, grid8(pre.size()), 256);
        }
    }

    @Override
    public void glu(Tensor out, Tensor in, Glu kind) {
        enter();
        requireActivations("glu", out, in);
        requireSwiglu("glu", kind);
        int h = out.dim(-1);
        if (!(in.dim(-1) == 2 * h && in.rows() == out.rows())) {
            throw new IllegalArgumentException("swiglu: in " + in + " must be [N, 2·" + h + "] for out " + out);
        }
        try (var _ = prof.time("elementwise")) {
            k.begin(swigluForward).ptr(ptr(out)).ptr(ptr(in)).i64(out.rows()).i32(h).go(stream, grid1(out.size()), 256);
        }
    }

    @Override
    public void gluBackward(Tensor din, Tensor dout, Tensor in, Glu kind) {
        enter();
        requireActivations("gluBackward", din, dout, in);
        requireSwiglu("gluBackward", kind);
        int h = dout.dim(-1);
        if (!(in.dim(-1) == 2 * h && din.size() == in.size() && in.rows() == dout.rows())) {
            throw new IllegalArgumentException("swigluBackward: din " + din + ", dout " + dout + ", in " + in
                    + " (shapes disagree)");
        }
        try (var _ = prof.time("elementwise")) {
            k.begin(swigluBackward).ptr(ptr(din)).ptr(ptr(dout)).ptr(ptr(in)).i64(dout.rows()).i32(h)
                    .go(stream, grid1(dout.size()), 256);
        }
    }

    @Override
    public void add(Tensor out, Tensor a, Tensor b) {
        enter();
        requireSameSize("add", out, a);
        requireSameSize("add", out, b);
        if (!(out.dtype() == a.dtype() && out.dtype() == b.dtype())) {
            throw new IllegalArgumentException("add: " + out + " = " + a + " + " + b + " (dtypes differ)");
        }
        try (var _ = prof.time("elementwise")) {
            k.begin(addKernels[type("add", out)]).ptr(ptr(out)).ptr(ptr(a)).ptr(ptr(b)).i64(out.size())
                    .go(stream, grid8(out.size()), 256);
        }
    }

    @Override
    public void scale(Tensor t, float s) {
        enter();
        try (var _ = prof.time("elementwise")) {
            k.begin(scaleKernels[type("scale", t)]).ptr(ptr(t)).f32(s).i64(t.size()).go(stream, grid8(t.size()), 256);
        }
    }

    // ---- attention -------------------------------------------------------------------------------------------

    @Override
    public void rope(Tensor qkv, int heads, float theta, int posOffset) {
        enter();
        rotate("rope", qkv, heads, theta, posOffset, 1f);
    }

    @Override
    public void ropeBackward(Tensor dqkv, int heads, float theta) {
        enter();
        rotate("ropeBackward", dqkv, heads, theta, 0, -1f);
    }

    private void rotate(String op, Tensor qkv, int heads, float theta, int posOffset, float direction) {
        requireType(op, qkv, DType.BF16);
        int c = qkv.dim(-1) / 3, t = qkv.dim(-2);
        if (!(qkv.dim(-1) == 3 * c && c % heads == 0 && (c / heads) % 2 == 0)) {
            throw new IllegalArgumentException(op + ": qkv " + qkv + " with " + heads
                    + " heads needs an even head size");
        }
        long rows = qkv.rows();
        try (var _ = prof.time("elementwise")) {
            k.begin(ropeKernel).ptr(ptr(qkv)).i64(rows).i32(t).i32(c).i32(heads).f32(theta).i32(posOffset).f32(direction)
                    .go(stream, grid1(rows * c), 256);
        }
    }

    /** The attention kernels compiled for one head size (the module is built with -DHEAD_SIZE=hs). */
    private record AttentionKernels(Kernels.Kernel forward, Kernels.Kernel dot, Kernels.Kernel keysValues,
                                    Kernels.Kernel queries, Kernels.Kernel cacheWrite) {}

    /** The kernels for head size c/heads, after checking it is one the attention kernels support. */
    private AttentionKernels attentionKernels(String op, int c, int heads) {
        int hs = c / heads;
        if (c % heads != 0 || hs % 8 != 0 || hs > 128) {
            throw new CramjetException(op + ": head size " + c + "/" + heads + " = " + (c / (double) heads)
                    + " is not supported by the CUDA attention kernels (a multiple of 8, at most 128)");
        }
        AttentionKernels a = attention[hs / 8];
        if (a == null) {
            String define = "HEAD_SIZE=" + hs;
            a = new AttentionKernels(k.kernel("attention", "attention_forward", define),
                    k.kernel("attention", "attention_backward_dot", define), k.kernel("attention", "attention_backward_kv", define),
                    k.kernel("attention", "attention_backward_q", define), k.kernel("attention", "kv_cache_write", define));
            attention[hs / 8] = a;
        }
        return a;
    }

    @Override
    public void attention(Tensor out, Tensor lse, Tensor qkv, int heads, Mask mask) {
        enter();
        String op = "attention";
        requireCausal(op, mask);
        requireActivations(op, out, qkv);
        requireType(op, lse, DType.F32);
        int b = qkv.dim(0), t = qkv.dim(1), c = qkv.dim(2) / 3;
        if (!(out.size() == (long) b * t * c && lse.size() == (long) b * heads * t)) {
            throw new IllegalArgumentException(op + ": out " + out + ", lse " + lse + " for qkv " + qkv + " and "
                    + heads + " heads");
        }
        AttentionKernels hs = attentionKernels(op, c, heads);
        long q = ptr(qkv), stride = 3L * c;
        try (var _ = prof.time("attention")) {
            k.begin(hs.forward()).ptr(ptr(out)).ptr(ptr(lse)).ptr(q).ptr(q + 2L * c).ptr(q + 4L * c)
                    .i32(t).i32(t).i64(stride).i64(t * stride).i64(stride).i64(t * stride).i32(c).i32(heads).i32(0)
                    .go(stream, (t + 63) / 64, b * heads, 64, 1, 0);
        }
    }

    @Override
    public void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor lse, int heads, Mask mask) {
        enter();
        String op = "attentionBackward";
        requireCausal(op, mask);
        requireActivations(op, dqkv, dout, qkv, out);
        requireType(op, lse, DType.F32);
        int b = qkv.dim(0), t = qkv.dim(1), c = qkv.dim(2) / 3;
        if (!(dqkv.size() == qkv.size() && dout.size() == (long) b * t * c && out.size() == dout.size())) {
            throw new IllegalArgumentException(op + ": dqkv " + dqkv + ", dout " + dout + ", out " + out
                    + " for qkv " + qkv);
        }
        AttentionKernels hs = attentionKernels(op, c, heads);
        long rows = (long) b * t * heads;
        try (var _ = prof.time("attention")) {
            long d = attnD.get(4L * rows);
            k.begin(hs.dot()).ptr(d).ptr(ptr(dout)).ptr(ptr(out)).i32(b).i32(t).i32(c).i32(heads)
                    .go(stream, (int) ((rows + 7) / 8), 256);
            k.begin(hs.keysValues()).ptr(ptr(dqkv)).ptr(ptr(qkv)).ptr(ptr(dout)).ptr(ptr(lse)).ptr(d)
                    .i32(t).i32(c).i32(heads).go(stream, (t + 63) / 64, b * heads, 64, 1, 0);
            k.begin(hs.queries()).ptr(ptr(dqkv)).ptr(ptr(qkv)).ptr(ptr(dout)).ptr(ptr(lse)).ptr(d)
                    .i32(t).i32(c).i32(heads).go(stream, (t + 63) / 64, b * heads, 64, 1, 0);
        }
    }

    @Override
    public void attentionCached(Tensor out, Tensor qkv, Tensor kCache, Tensor vCache, int pos, int heads) {
        enter();
        String op = "attentionCached";
        requireActivations(op, out, qkv, kCache, vCache);
        int b = qkv.dim(0), tn = qkv.dim(1), c = qkv.dim(2) / 3, tmax = kCache.dim(1);
        if (!(kCache.sameShape(vCache) && kCache.dim(0) == b && kCache.dim(2) == c && pos >= 0 && pos + tn <= tmax)) {
            throw new IllegalArgumentException(op + ": caches " + kCache + " cannot take positions [" + pos + ", "
                    + (pos + tn) + ") of qkv " + qkv);
        }
        if (out.size() != (long) b * tn * c) {
            throw new IllegalArgumentException(op + ": out " + out + " for qkv " + qkv);
        }
        AttentionKernels hs = attentionKernels(op, c, heads);
        long q = ptr(qkv), stride = 3L * c;
        try (var _ = prof.time("attention")) {
            k.begin(hs.cacheWrite()).ptr(ptr(kCache)).ptr(ptr(vCache)).ptr(q).i32(b).i32(tn).i32(tmax).i32(c).i32(pos)
                    .go(stream, grid1((long) b * tn * c), 256);
            k.begin(hs.forward()).ptr(ptr(out)).ptr(0).ptr(q).ptr(ptr(kCache)).ptr(ptr(vCache))
                    .i32(tn).i32(pos + tn).i64(stride).i64(tn * stride).i64(c).i64((long) tmax * c).i32(c).i32(heads).i32(pos)
                    .go(stream, (tn + 63) / 64, b * heads, 64, 1, 0);
        }
    }

    // ---- regularisation --------------------------------------------------------------------------------------

    @Override
    public void dropout(Tensor out, Tensor in, float p, long seed) {
        enter();
        drop("dropout", out, in, p, seed);
    }

    @Override
    public void dropoutBackward(Tensor din, Tensor dout, float p, long seed) {
        enter();
        drop("dropoutBackward", din, dout, p, seed);
    }

    /** The forward and the backward are the same map: keep_i ? x_i/(1−p) : 0 with the mask of (seed, i). */
    private void drop(String op, Tensor out, Tensor in, float p, long seed) {
        requireActivations(op, out, in);
        requireSameSize(op, out, in);
        requireProbability(op, p);
        try (var _ = prof.time("elementwise")) {
            if (p == 0) {
                if (ptr(out) != ptr(in)) cu.copyDtoD(ptr(out), ptr(in), in.bytes(), stream);
            } else {
                k.begin(dropoutKernel).ptr(ptr(out)).ptr(ptr(in)).i64(in.size()).f32(p).i64(seed)
                        .go(stream, grid8(in.size()), 256);
            }
        }
    }

    // ---- loss ------------------------------------------------------------------------------------------------

    @Override
    public void crossEntropy(Tensor losses, Tensor logits, Tensor targets, int vocab, float gradScale) {
        enter();
        String op = "crossEntropy";
        requireType(op, logits, DType.BF16);
        requireType(op, losses, DType.F32);
        requireType(op, targets, DType.I32);
        int n = logits.rows(), vp = logits.dim(-1);
        if (!(vocab > 0 && vocab <= vp)) {
            throw new IllegalArgumentException(op + ": vocab " + vocab + " not in [1, " + vp + "]");
        }
        if (!(losses.size() == n && targets.size() == n)) {
            throw new IllegalArgumentException(op + ": losses " + losses + ", targets " + targets + " for " + n
                    + " rows");
        }
        try (var _ = prof.time("cross-entropy")) {
            k.begin(crossEntropyKernel).ptr(ptr(losses)).ptr(ptr(logits)).ptr(ptr(targets)).i32(vocab).i32(vp)
                    .f32(gradScale).ptr(errorFlag).go(stream, n, 512);
        }
    }

    // ---- optimiser -------------------------------------------------------------------------------------------

    @Override
    public void globalNorm(Tensor out, Tensor x) {
        enter();
        requireType("globalNorm", out, DType.F32);
        if (out.size() != 1) throw new IllegalArgumentException("globalNorm: out " + out + " must hold one value");
        try (var _ = prof.time("optimizer")) {
            int blocks = grid8(x.size());
            long partial = partials.get(4L * blocks);
            k.begin(sumSquares[type("globalNorm", x)]).ptr(partial).ptr(ptr(x)).i64(x.size()).go(stream, blocks, 256);
            k.begin(normFinish).ptr(ptr(out)).ptr(partial).i32(blocks).go(stream, 1, 256);
        }
    }

    @Override
    public void adamW(Tensor params, Tensor grads, Tensor m, Tensor v, Tensor master, Tensor gradNorm, AdamW hp) {
        enter();
        String op = "adamW";
        long n = params.size();
        if (!(grads.size() == n && m.size() == n && v.size() == n)) {
            throw new IllegalArgumentException(op + ": grads " + grads + ", m " + m + ", v " + v + " for params "
                    + params);
        }
        requireType(op, m, DType.F32);
        requireType(op, v, DType.F32);
        if (master != null) {
            requireType(op, master, DType.F32);
            if (master.size() != n) {
                throw new IllegalArgumentException(op + ": master " + master + " for params " + params);
            }
        } else {
            if (params.dtype() != DType.F32) {
                throw new IllegalArgumentException(op + ": BF16 params " + params + " need an F32 master copy");
            }
        }
        if (gradNorm != null) requireType(op, gradNorm, DType.F32);
        float bc1 = (float) (1 - Math.pow(hp.beta1(), hp.step())), bc2 = (float) (1 - Math.pow(hp.beta2(), hp.step()));
        try (var _ = prof.time("optimizer")) {
            k.begin(adamw[type(op, params)][type(op, grads)]).ptr(ptr(params)).ptr(ptr(grads))
                    .ptr(ptr(m)).ptr(ptr(v)).ptr(ptrOrNull(this, master)).ptr(ptrOrNull(this, gradNorm)).i64(n)
                    .f32(hp.lr()).f32(hp.beta1()).f32(hp.beta2()).f32(hp.eps()).f32(hp.weightDecay()).f32(bc1).f32(bc2)
                    .f32(hp.maxGradNorm()).go(stream, grid1(n), 256);
        }
    }

    // ---- bench extras ----------------------------------------------------------------------------------------

    /** Starts (or stops) timing every op by family with CUDA events; see {@link #kernelMillis}. */
    public void profile(boolean on) {
        enter();
        prof.enable(on);
    }

    /**
     * GPU milliseconds per op family ("matmul", "attention", "layernorm", "elementwise", "embedding",
     * "cross-entropy", "optimizer", "memory") since profiling started or the last call, largest first. Synchronises.
     */
    public Map<String, Double> kernelMillis() {
        enter();
        return prof.collect();
    }

    /**
     * The measured bf16 GEMM ceiling: TFLOP/s of a {@code size}³ cuBLASLt GEMM (bf16 in and out, fp32 compute),
     * the best of {@code reps} timed runs after a warm-up. Allocates three size² bf16 matrices for the duration.
     */
    public double gemmCeilingTflops(int size, int reps) {
        enter();
        long bytes = 2L * size * size;
        long a = cu.malloc(bytes), b = cu.malloc(bytes), d = cu.malloc(bytes);
        long start = cu.createEvent(), end = cu.createEvent();
        try {
            cu.memset16(a, Bf16.round(0.01f), (long) size * size, stream);
            cu.memset16(b, Bf16.round(0.01f), (long) size * size, stream);
            double best = Double.MAX_VALUE;
            for (int r = -1; r < reps; r++) {
                cu.record(start, stream);
                boolean ok = lt.gemm(stream, workspace, CublasLt.OP_T, CublasLt.OP_N, size, size, size, a, size, b, size,
                        CublasLt.R_16BF, false, 0, d, size, CublasLt.R_16BF, CublasLt.EPILOGUE_DEFAULT, 0, 0);
                if (!ok) throw noAlgorithm("gemm ceiling", size, size, size);
                cu.record(end, stream);
                cu.eventSynchronize(end);
                if (r >= 0) best = Math.min(best, cu.elapsedMillis(start, end));
            }
            return 2.0 * size * size * (double) size / (best * 1e-3) / 1e12;
        } finally {
            cu.synchronize(stream);
            cu.free(a);
            cu.free(b);
            cu.free(d);
            cu.destroyEvent(start);
            cu.destroyEvent(end);
        }
    }

    /** The device's nominal dense bf16 tensor-core peak in TFLOP/s (NaN when the name is not in our table). */
    public double nominalBf16Tflops() { return nominalBf16Tflops(deviceName); }

    /**
     * Nominal dense (no sparsity) bf16 TFLOP/s by marketing name, from the vendors' data sheets. Order matters:
     * the more specific names first ("H100 PCIe" before "H100").
     */
    public static double nominalBf16Tflops(String deviceName) {
        String n = deviceName.toUpperCase(java.util.Locale.ROOT);
        String[][] table = {
            {"GB200", "2500"}, {"B200", "2250"}, {"B100", "1750"}, {"GH200", "989"}, {"H200", "989"},
            {"H100 PCIE", "756"}, {"H100 NVL", "835"}, {"H100", "989"}, {"H800 PCIE", "756"}, {"H800", "989"},
            {"H20", "148"}, {"A100", "312"}, {"A800", "312"}, {"A30", "165"}, {"A10G", "70"}, {"A10", "125"},
            {"L40S", "362"}, {"L40", "181"}, {"L4", "121"}, {"RTX 6000 ADA", "364"}, {"RTX 5090", "210"},
            {"RTX 4090", "165"}, {"RTX 3090", "71"}, {"A6000", "155"},
        };
        for (String[] row : table) if (n.contains(row[0])) return Double.parseDouble(row[1]);
        return Double.NaN;
    }

    @Override
    public double peakFlops() { return nominalBf16Tflops() * 1e12; }

    @Override
    public void upload(Tensor dst, byte[] blocks) { throw unsupported("Q8_0 weights"); }

    @Override
    public void download(Tensor src, byte[] blocks) { throw unsupported("Q8_0 weights"); }

    @Override
    public void pool(Tensor out, Tensor in, Tensor segments) { throw unsupported("pool"); }

    @Override
    public void poolBackward(Tensor din, Tensor dout, Tensor segments) { throw unsupported("poolBackward"); }

    private static CramjetException unsupported(String what) {
        return new CramjetException("device cuda: " + what + " is not implemented by the CUDA backend yet");
    }

    private static void requireSwiglu(String op, Glu kind) {
        if (kind != Glu.SWIGLU) throw unsupported(op + " " + kind);
    }

    private static void requireCausal(String op, Mask mask) {
        if (!mask.causal() || mask.lengths() != null) throw unsupported(op + " with a bidirectional or padded mask");
    }

    // ---- checks ----------------------------------------------------------------------------------------------

    private static void requireType(String op, Tensor t, DType type) {
        if (t.dtype() != type) {
            throw new IllegalArgumentException(op + ": " + t + " must be " + type + " on the CUDA backend");
        }
    }

    private static void requireActivations(String op, Tensor... ts) {
        for (Tensor t : ts) requireType(op, t, DType.BF16);
    }

    private static void requireFloat(String op, Tensor t) {
        if (t.dtype() == DType.I32) throw new IllegalArgumentException(op + ": " + t + " must be F32 or BF16");
    }

    private static void requireStats(String op, int rows, Tensor... stats) {
        for (Tensor s : stats) {
            requireType(op, s, DType.F32);
            if (s.size() != rows) {
                throw new IllegalArgumentException(op + ": " + s + " must hold one value per row (" + rows + ")");
            }
        }
    }

    private static void requireSameSize(String op, Tensor a, Tensor b) {
        if (a.size() != b.size()) throw new IllegalArgumentException(op + ": " + a + " and " + b + " differ in size");
    }

    private static void requireLength(String op, Tensor t, int length) {
        if (t.size() != length) {
            throw new IllegalArgumentException(op + ": " + t + " has " + t.size() + " elements, the array " + length);
        }
    }

    private static void requireProbability(String op, float p) {
        if (!(p >= 0 && p < 1)) {
            throw new IllegalArgumentException(op + ": dropout probability " + p + " not in [0, 1)");
        }
    }

    /** Index of a float tensor's dtype in the per-dtype kernel arrays: 0 for F32, 1 for BF16. */
    private static int type(String op, Tensor t) {
        return switch (t.dtype()) {
            case F32 -> 0;
            case BF16 -> 1;
            case I32, Q8_0 -> throw new IllegalArgumentException(op + ": " + t + " must be F32 or BF16");
        };
    }
}
