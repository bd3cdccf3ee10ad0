package dev.cramjet.engine;

import java.nio.file.Path;
import java.util.Map;

/** Where compiled kernels are kept between runs: CUDA's cubins, the CPU's native int8 kernel. */
public final class KernelCache {
    private KernelCache() {}

    /**
     * $CRAMJET_CACHE/{@code kind}, else $XDG_CACHE_HOME/cramjet/{@code kind}, else
     * {@code home}/.cache/cramjet/{@code kind} (blank variables count as unset).
     */
    public static Path dir(Map<String, String> env, String home, String kind) {
        String c = env.get("CRAMJET_CACHE");
        if (c != null && !c.isBlank()) return Path.of(c, kind);
        String xdg = env.get("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank()) return Path.of(xdg, "cramjet", kind);
        return Path.of(home, ".cache", "cramjet", kind);
    }
}
