package dev.cramjet.engine.cuda;

/** bf16 bit patterns, rounded exactly as the kernels' f2bf (nearest even, NaN stays NaN). */
final class Bf16 {
    private Bf16() {}

    static short round(float x) {
        int bits = Float.floatToRawIntBits(x);
        if ((bits & 0x7fffffff) > 0x7f800000) return (short) ((bits >>> 16) | 0x40);
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }

    static float toFloat(short h) { return Float.intBitsToFloat(h << 16); }
}
