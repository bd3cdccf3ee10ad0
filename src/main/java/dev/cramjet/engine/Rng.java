package dev.cramjet.engine;

import dev.cramjet.Hash;

/**
 * The counter-based random numbers every backend must draw identically (dropout masks), so a mask is recomputed
 * in the backward pass instead of stored, and CPU and GPU runs agree: element i's draw is {@link Hash#mix} of
 * seed + i·φ, a stateless hash, so it does not depend on which thread or block computes it. A CUDA kernel
 * implements the same three lines on uint64.
 */
public final class Rng {
    private Rng() {}

    /** A uniform float in [0, 1) for element {@code index} under {@code seed}: the top 24 bits of the hash. */
    public static float uniform(long seed, long index) {
        return (Hash.mix(seed + index * Hash.GOLDEN) >>> 40) * 0x1p-24f;
    }

    /** Dropout keeps element i when its uniform is at least p. */
    public static boolean keep(long seed, long index, float p) {
        return uniform(seed, index) >= p;
    }
}
