package dev.cramjet.engine.cpu;

import dev.cramjet.engine.DType;
import dev.cramjet.engine.Storage;

/**
 * Java arrays owned by {@link CpuBackend}: F32 → float[], BF16 → short[] holding bf16 bit patterns, I32 → int[],
 * Q8_0 → byte[] quants plus a float[] of block scales ({@link Q8}). Tensor views are element offsets into them.
 */
final class CpuStorage implements Storage {
    private final DType dtype;
    private final int size;
    float[] f32;
    short[] bf16;
    int[] i32;
    byte[] q8;
    float[] q8Scale;

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

    /** Drops the array so a closed backend's memory can be collected; later use fails loudly. */
    void release() {
        f32 = null;
        bf16 = null;
        i32 = null;
        q8 = null;
        q8Scale = null;
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
