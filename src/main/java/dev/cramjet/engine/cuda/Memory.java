package dev.cramjet.engine.cuda;

import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static dev.cramjet.engine.cuda.Checks.requireLength;
import static dev.cramjet.engine.cuda.Checks.requireType;
import static dev.cramjet.engine.cuda.Checks.type;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Device memory: allocation, transfers through two pinned staging buffers (so the next batch's copy is queued while
 * the current step runs), fills, and dtype conversions. Q8_0 tensors hold ggml's blocks as stored, so raw blocks move
 * with a plain copy; fp32 values are quantized into them, and expanded out of them, on the device by the kernels of
 * quant.cu, one staging chunk at a time, so uploads, downloads, fills and copies all share one rule.
 */
final class Memory {
    /** Bytes of each pinned staging buffer. */
    static final int STAGING_BYTES = 8 << 20;
    /** fp32 values per staging chunk: whole Q8_0 blocks, so each chunk quantizes on its own. */
    private static final int CHUNK_FLOATS = STAGING_BYTES / 4;

    private final Gpu gpu;
    private final Driver cu;
    private final List<DeviceStorage> storages = new ArrayList<>();
    private final MemorySegment[] staging = new MemorySegment[2];
    private final long[] stagingEvent = new long[2];
    private final boolean[] stagingBusy = new boolean[2];
    private int nextStaging;
    /** fp32 values on their way between a staging buffer and Q8_0 blocks. */
    private final Gpu.Scratch floats;
    private final Kernels.Kernel convertF32Bf16, convertBf16F32;
    /** Indexed by the fp32/bf16 side's {@link Checks#type}. */
    private final Kernels.Kernel[] quantize, dequantize;

    Memory(Gpu gpu) {
        this.gpu = gpu;
        cu = gpu.cu;
        for (int i = 0; i < 2; i++) {
            staging[i] = cu.hostAlloc(STAGING_BYTES);
            stagingEvent[i] = cu.createEvent();
        }
        floats = gpu.scratch("Q8_0 staging");
        convertF32Bf16 = gpu.k.kernel("elementwise", "convert_f32_bf16");
        convertBf16F32 = gpu.k.kernel("elementwise", "convert_bf16_f32");
        quantize = gpu.perType("quant", "q8_quantize_");
        dequantize = gpu.perType("quant", "q8_dequantize_");
    }

    Tensor alloc(DType dtype, int... shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) throw new IllegalArgumentException("alloc: negative dimension in " + Arrays.toString(shape));
            n *= d;
        }
        if (dtype == DType.Q8_0 && (shape.length == 0 || shape[shape.length - 1] % dtype.block != 0)) {
            throw new IllegalArgumentException("alloc: a Q8_0 tensor's rows must be whole blocks of 32, got " + Arrays.toString(shape));
        }
        long bytes = bytes(dtype, n);
        long p = gpu.track(cu.malloc(bytes), bytes);
        cu.memset8(p, (byte) 0, bytes, gpu.stream);
        DeviceStorage s = new DeviceStorage(gpu, dtype, n, p);
        storages.add(s);
        return new Tensor(s, 0, shape);
    }

    /** Bytes allocated for n elements (an empty tensor still gets one block, so it has an address). */
    private static long bytes(DType dtype, long n) { return dtype.bytes(Math.max(dtype.block, n)); }

    // ---- staging ------------------------------------------------------------------------------------------------

    /** Writes {@code count} elements of the host array, from element {@code from}, into a staging buffer. */
    @FunctionalInterface
    private interface Pack {
        void into(MemorySegment stage, int from, int count);
    }

    /** Reads {@code count} elements from a staging buffer into the host array at element {@code from}. */
    @FunctionalInterface
    private interface Unpack {
        void from(MemorySegment stage, int from, int count);
    }

    /** Host → device: {@code elements} values of {@code width} bytes to dst, a staging buffer at a time. */
    private void send(long dst, int elements, int width, Pack pack) {
        int chunk = STAGING_BYTES / width;
        for (int off = 0; off < elements; off += chunk) {
            int n = Math.min(chunk, elements - off);
            MemorySegment s = stage();
            pack.into(s, off, n);
            cu.copyHtoD(dst + (long) width * off, s.address(), (long) width * n, gpu.stream);
            int i = s == staging[0] ? 0 : 1;
            cu.record(stagingEvent[i], gpu.stream);
            stagingBusy[i] = true;
        }
    }

    /** Device → host, a staging buffer at a time; each chunk waits for the stream (and reports kernel errors). */
    private void receive(long src, int elements, int width, Unpack unpack) {
        int chunk = STAGING_BYTES / width;
        for (int off = 0; off < elements; off += chunk) {
            int n = Math.min(chunk, elements - off);
            MemorySegment s = stage();
            cu.copyDtoH(s.address(), src + (long) width * off, (long) width * n, gpu.stream);
            gpu.syncAndCheck();
            unpack.from(s, off, n);
        }
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

    // ---- transfers ----------------------------------------------------------------------------------------------

    void upload(Tensor dst, float[] src) {
        requireLength("upload", dst, src.length);
        long p = gpu.ptr(dst);
        try (var _ = gpu.prof.time("memory")) {
            switch (dst.dtype()) {
                case F32 -> send(p, src.length, 4, (s, from, n) -> MemorySegment.copy(src, from, s, JAVA_FLOAT, 0, n));
                case BF16 -> send(p, src.length, 2, (s, from, n) -> {
                    for (int i = 0; i < n; i++) s.setAtIndex(JAVA_SHORT, i, Bf16.round(src[from + i]));
                });
                case Q8_0 -> {
                    long tmp = floats.get(STAGING_BYTES);
                    for (int off = 0; off < src.length; off += CHUNK_FLOATS) {
                        int n = Math.min(CHUNK_FLOATS, src.length - off), at = off;
                        send(tmp, n, 4, (s, from, m) -> MemorySegment.copy(src, at + from, s, JAVA_FLOAT, 0, m));
                        quantize(p + DType.Q8_0.bytes(off), tmp, 0, n);
                    }
                }
                case I32 -> throw new IllegalArgumentException("upload: float[] into I32 tensor " + dst + " (use the int[] overload)");
            }
        }
    }

    void upload(Tensor dst, int[] src) {
        requireType("upload", dst, DType.I32);
        requireLength("upload", dst, src.length);
        long p = gpu.ptr(dst);
        try (var _ = gpu.prof.time("memory")) {
            send(p, src.length, 4, (s, from, n) -> MemorySegment.copy(src, from, s, JAVA_INT, 0, n));
        }
    }

    void upload(Tensor dst, byte[] blocks) {
        requireType("upload", dst, DType.Q8_0);
        if (blocks.length != dst.bytes()) {
            throw new IllegalArgumentException("upload: " + blocks.length + " bytes for " + dst + " (" + dst.bytes() + " bytes)");
        }
        long p = gpu.ptr(dst);
        try (var _ = gpu.prof.time("memory")) {
            send(p, blocks.length, 1, (s, from, n) -> MemorySegment.copy(blocks, from, s, JAVA_BYTE, 0, n));
        }
    }

    void download(Tensor src, float[] dst) {
        requireLength("download", src, dst.length);
        long p = gpu.ptr(src);
        switch (src.dtype()) {
            case F32 -> receive(p, dst.length, 4, (s, from, n) -> MemorySegment.copy(s, JAVA_FLOAT, 0, dst, from, n));
            case BF16 -> receive(p, dst.length, 2, (s, from, n) -> {
                for (int i = 0; i < n; i++) dst[from + i] = Bf16.toFloat(s.getAtIndex(JAVA_SHORT, i));
            });
            case Q8_0 -> {
                long tmp = floats.get(STAGING_BYTES);
                for (int off = 0; off < dst.length; off += CHUNK_FLOATS) {
                    int n = Math.min(CHUNK_FLOATS, dst.length - off), at = off;
                    dequantize(tmp, 0, p + DType.Q8_0.bytes(off), n);
                    receive(tmp, n, 4, (s, from, m) -> MemorySegment.copy(s, JAVA_FLOAT, 0, dst, at + from, m));
                }
            }
            case I32 -> throw new IllegalArgumentException("download: I32 tensor " + src + " into float[] (use the int[] overload)");
        }
        if (dst.length == 0) gpu.syncAndCheck();
    }

    void download(Tensor src, int[] dst) {
        requireType("download", src, DType.I32);
        requireLength("download", src, dst.length);
        receive(gpu.ptr(src), dst.length, 4, (s, from, n) -> MemorySegment.copy(s, JAVA_INT, 0, dst, from, n));
        if (dst.length == 0) gpu.syncAndCheck();
    }

    void download(Tensor src, byte[] blocks) {
        requireType("download", src, DType.Q8_0);
        if (blocks.length != src.bytes()) {
            throw new IllegalArgumentException("download: " + blocks.length + " bytes for " + src + " (" + src.bytes() + " bytes)");
        }
        receive(gpu.ptr(src), blocks.length, 1, (s, from, n) -> MemorySegment.copy(s, JAVA_BYTE, 0, blocks, from, n));
        if (blocks.length == 0) gpu.syncAndCheck();
    }

    // ---- fills and conversions ------------------------------------------------------------------------------------

    void zero(Tensor t) {
        try (var _ = gpu.prof.time("memory")) {
            cu.memset8(gpu.ptr(t), (byte) 0, t.bytes(), gpu.stream);  // all-zero bits are 0 in every dtype (Q8_0: d = 0)
        }
    }

    void fill(Tensor t, float value) {
        long p = gpu.ptr(t), n = t.size();
        try (var _ = gpu.prof.time("memory")) {
            switch (t.dtype()) {
                case F32 -> cu.memset32(p, Float.floatToRawIntBits(value), n, gpu.stream);
                case BF16 -> cu.memset16(p, Bf16.round(value), n, gpu.stream);
                case I32 -> {
                    if (value != (int) value) throw new IllegalArgumentException("fill: " + value + " into I32 tensor " + t);
                    cu.memset32(p, (int) value, n, gpu.stream);
                }
                case Q8_0 -> {
                    long tmp = floats.get(STAGING_BYTES);
                    for (long off = 0; off < n; off += CHUNK_FLOATS) {
                        long m = Math.min(CHUNK_FLOATS, n - off);
                        cu.memset32(tmp, Float.floatToRawIntBits(value), m, gpu.stream);
                        quantize(p + DType.Q8_0.bytes(off), tmp, 0, m);
                    }
                }
            }
        }
    }

    /** dst = src: a plain copy within a dtype, else F32 ↔ BF16, quantizing into Q8_0 or expanding out of it. */
    void copy(Tensor dst, Tensor src) {
        if (dst.size() != src.size()) throw new IllegalArgumentException("copy: " + src + " into " + dst + " (sizes differ)");
        DType from = src.dtype(), to = dst.dtype();
        long d = gpu.ptr(dst), s = gpu.ptr(src), n = dst.size();
        try (var _ = gpu.prof.time("memory")) {
            if (from == to) {
                cu.copyDtoD(d, s, dst.bytes(), gpu.stream);
            } else if (to == DType.Q8_0 && from != DType.I32) {
                quantize(d, s, type("copy", src), n);
            } else if (from == DType.Q8_0 && to != DType.I32) {
                dequantize(d, type("copy", dst), s, n);
            } else if (from == DType.F32 && to == DType.BF16) {
                gpu.k.begin(convertF32Bf16).ptr(d).ptr(s).i64(n).go(gpu.stream, gpu.grid8(n), 256);
            } else if (from == DType.BF16 && to == DType.F32) {
                gpu.k.begin(convertBf16F32).ptr(d).ptr(s).i64(n).go(gpu.stream, gpu.grid8(n), 256);
            } else {
                throw new IllegalArgumentException("copy: cannot convert " + src + " to " + dst);
            }
        }
    }

    /** Q8_0 blocks at dst from n values (whole blocks) at src, of the dtype with {@link Checks#type} index srcType. */
    private void quantize(long dst, long src, int srcType, long n) {
        long blocks = n / DType.Q8_0.block;
        gpu.k.begin(quantize[srcType]).ptr(dst).ptr(src).i64(blocks).go(gpu.stream, gpu.grid1(blocks), 256);
    }

    /** n values (whole blocks) at dst, of the dtype with index dstType, from Q8_0 blocks at src (also matmul's). */
    void dequantize(long dst, int dstType, long src, long n) {
        gpu.k.begin(dequantize[dstType]).ptr(dst).ptr(src).i64(n).go(gpu.stream, gpu.grid8(n), 256);
    }

    /** Frees every tensor and the staging buffers. */
    void close() {
        for (DeviceStorage s : storages) {
            if (s.pointer != 0) gpu.release(s.pointer, bytes(s.dtype(), s.size()));
            s.pointer = 0;
        }
        storages.clear();
        for (int i = 0; i < 2; i++) {
            cu.hostFree(staging[i]);
            cu.destroyEvent(stagingEvent[i]);
        }
    }
}
