package dev.cramjet.engine;

/**
 * The counter-based random numbers every backend must draw identically (dropout masks), so a mask is recomputed
 * in the backward pass instead of stored, and CPU and GPU runs agree. The generator is SplitMix64's finaliser over
 * seed + index·φ (φ = 0x9E3779B97F4A7C15, the 64-bit golden ratio): a stateless hash, so element i's draw does not
 * depend on which thread or block computes it. A CUDA kernel implements the same three lines on uint64.
 */
public final class Rng {
    private Rng() {}

    public static final long GOLDEN = 0x9E3779B97F4A7C15L;

    /** SplitMix64's output function. */
    public static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** A uniform float in [0, 1) for element {@code index} under {@code seed}: the top 24 bits of the hash. */
    public static float uniform(long seed, long index) {
        return (mix(seed + index * GOLDEN) >>> 40) * 0x1p-24f;
    }

    /** Dropout keeps element i when its uniform is at least p. */
    public static boolean keep(long seed, long index, float p) {
        return uniform(seed, index) >= p;
    }
}
