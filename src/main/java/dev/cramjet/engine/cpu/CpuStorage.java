package dev.cramjet.engine.cpu;

import dev.cramjet.engine.DType;
import dev.cramjet.engine.Storage;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Java arrays owned by {@link CpuBackend}: F32 → float[], BF16 → short[] holding bf16 bit patterns, I32 → int[],
 * Q8_0 → byte[] quants plus a float[] of block scales ({@link Q8}). Tensor views are element offsets into them.
 *
 * <p>An F32 storage also keeps packed copies of the weight matrices in it that products read again and again
 * unchanged ({@link #packed}): a model generating text reads every weight once per step and never writes it. Every
 * op that writes a storage calls {@link #written} first, which drops them all, so a copy never outlives the values
 * it was packed from (training writes its parameters every step, and so never keeps one past a step). Key caches
 * likewise keep their keys transposed, and value caches their values in contiguous rows per head, for one-query
 * attention ({@link #panels}), which attentionCached, the op that writes a cache, keeps current and every other write
 * drops.
 */
final class CpuStorage implements Storage {
    private final DType dtype;
    private final int size;
    float[] f32;
    short[] bf16;
    int[] i32;
    byte[] q8;
    float[] q8Scale;
    /** The F32 or Q8_0 array, and Q8_0's scales, as heap segments for native kernels: made once, at first use. */
    private MemorySegment segment, scaleSegment;
    /**
     * The matrices products read since the last write, packed or not yet ({@link #packed}): a model's few dozen
     * weights, searched in a list, so a lookup allocates nothing.
     */
    private final List<Pack> packs = new ArrayList<>();
    /** The key and value caches in this storage whose panels attentionCached keeps ({@link #panels}). */
    private final List<FlashAttention.Panels> panels = new ArrayList<>();

    /** The [n,k] matrix at offset, and its packed copy once it has one (fp32's, or the int8 kernel's). */
    private static final class Pack {
        final int offset, n, k;
        /** Products that read it since the storage was last written. */
        int reads;
        Gemm.Packed packed;
        Q8Native.Packed q8;
        Q8.Panels q8Java;

        Pack(int offset, int n, int k) {
            this.offset = offset;
            this.n = n;
            this.k = k;
        }
    }

    CpuStorage(DType dtype, int size) {
        this.dtype = dtype;
        this.size = size;
        switch (dtype) {
            case F32 -> f32 = new float[size];
            case BF16 -> bf16 = new short[size];
            case I32 -> i32 = new int[size];
            case Q8_0 -> {
                q8 = new byte[size];
                q8Scale = new float[size / Q8.BLOCK];
            }
        }
    }

    @Override
    public DType dtype() { return dtype; }

    @Override
    public long size() { return size; }

    /**
     * The packed copy of the F32 matrix [n,k] at {@code offset} for an nt product that reads it as B, or null: the
     * first product since the storage was last written only notes the matrix, the second packs it (so a matrix
     * read once per write, as in training, is never copied), later ones reuse the copy.
     */
    Gemm.Packed packed(int offset, int n, int k) {
        Pack p = entry(offset, n, k);
        if (p.reads++ == 0) return null;
        if (p.packed == null) p.packed = Gemm.pack(f32, offset, n, k);
        return p.packed;
    }

    /**
     * The packed copy of the F32 matrix [n,k] at {@code offset} if one is kept, else null, for a product too large to
     * make one (a prompt step): neither counts a read nor makes an entry, so a training forward leaves no trace.
     */
    Gemm.Packed kept(int offset, int n, int k) {
        Pack p = find(offset, n, k);
        return p == null ? null : p.packed;
    }

    /** The entry of the [n,k] matrix at offset, made on the first lookup since the last write. */
    private Pack entry(int offset, int n, int k) {
        Pack p = find(offset, n, k);
        if (p == null) packs.add(p = new Pack(offset, n, k));
        return p;
    }

    /** The entry of the [n,k] matrix at offset, or null. */
    private Pack find(int offset, int n, int k) {
        for (Pack p : packs) if (p.offset == offset && p.n == n && p.k == k) return p;
        return null;
    }

    /** The F32 floats or Q8_0 quants as a heap segment (for a critical downcall). */
    MemorySegment segment() {
        if (segment == null) segment = dtype == DType.Q8_0 ? MemorySegment.ofArray(q8) : MemorySegment.ofArray(f32);
        return segment;
    }

    /** A Q8_0 storage's block scales as a heap segment. */
    MemorySegment scaleSegment() {
        if (scaleSegment == null) scaleSegment = MemorySegment.ofArray(q8Scale);
        return scaleSegment;
    }

    /**
     * The native int8 kernel's copy of the Q8_0 matrix [n,k] at {@code offset}, made at the first product that
     * reads it (int8 weights are frozen: nothing writes them after loading) and kept until the storage is written.
     */
    Q8Native.Packed q8Packed(Q8Native kernel, int offset, int n, int k) {
        Pack p = entry(offset, n, k);
        if (p.q8 == null) p.q8 = kernel.pack(this, offset, n, k);
        return p.q8;
    }

    /** The Java int8 kernel's copy of the Q8_0 matrix [n,k] at {@code offset}, kept like {@link #q8Packed}'s. */
    Q8.Panels q8Panels(int offset, int n, int k) {
        Pack p = entry(offset, n, k);
        if (p.q8Java == null) p.q8Java = Q8.panels(q8, q8Scale, offset, n, k);
        return p.q8Java;
    }

    /**
     * The panels of the key (keys true) or value cache [b,tmax,c] at {@code offset} ({@link FlashAttention.Panels}),
     * made empty on the first lookup since the storage was last written; panels of other floats they overlap go, as
     * they would miss these floats' writes.
     */
    FlashAttention.Panels panels(boolean keys, int offset, int b, int tmax, int c, int heads) {
        for (FlashAttention.Panels p : panels) if (p.is(keys, offset, b, tmax, c, heads)) return p;
        panels.removeIf(p -> p.overlaps(offset, (long) b * tmax * c));
        FlashAttention.Panels p = new FlashAttention.Panels(keys, offset, b, tmax, c, heads);
        panels.add(p);
        return p;
    }

    /** The storage is about to be written: its packed copies and cache panels would go stale, so they go. */
    void written() {
        if (!packs.isEmpty()) packs.clear();
        if (!panels.isEmpty()) panels.clear();
    }

    /**
     * attentionCached is about to write a cache in this storage: the packed copies go, the cache panels stay — the op
     * writes those too.
     */
    void cacheWritten() {
        if (!packs.isEmpty()) packs.clear();
    }

    /** Bytes held by packed copies and cache panels. */
    long packedBytes() {
        long b = 0;
        for (FlashAttention.Panels p : panels) b += p.bytes();
        for (Pack p : packs) {
            if (p.packed != null) b += p.packed.bytes();
            if (p.q8 != null) b += p.q8.bytes();
            if (p.q8Java != null) b += p.q8Java.bytes();
        }
        return b;
    }

    /** Drops the array so a closed backend's memory can be collected; later use fails loudly. */
    void release() {
        packs.clear();
        panels.clear();
        f32 = null;
        bf16 = null;
        i32 = null;
        q8 = null;
        q8Scale = null;
        segment = null;
        scaleSegment = null;
    }

    boolean released() { return f32 == null && bf16 == null && i32 == null && q8 == null; }

    /** fp32 → bf16 bits, rounding to nearest even; NaN stays a (quiet) NaN instead of rounding into infinity. */
    static short toBf16(float x) {
        int bits = Float.floatToRawIntBits(x);
        if ((bits & 0x7fffffff) > 0x7f800000) return (short) ((bits >>> 16) | 0x40);
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }

    /** bf16 bits → fp32 (exact). */
    static float fromBf16(short h) {
        return Float.intBitsToFloat(h << 16);
    }
}
