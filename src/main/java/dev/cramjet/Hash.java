package dev.cramjet;

/**
 * SplitMix64's finaliser, the one 64-bit mixing function of the project: corpus fingerprints and MinHash (text),
 * validation splits and batch order (data), seeds and dropout masks (train, engine). It lives here, above every
 * pipeline stage, so that cleaning a corpus does not depend on the compute engine.
 */
public final class Hash {
    private Hash() {}

    /** φ = 0x9E3779B97F4A7C15, the 64-bit golden ratio: counter i hashes as mix(seed + i·φ). */
    public static final long GOLDEN = 0x9E3779B97F4A7C15L;

    /** SplitMix64's output function: a bijection on 64 bits with full avalanche. */
    public static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
