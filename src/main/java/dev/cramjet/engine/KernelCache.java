package dev.cramjet.engine;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
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

    /**
     * A cached kernel's key: the first 16 hex digits of SHA-256 over everything its binary depends on (source,
     * compiler and its version, options, target), each part ended by a zero byte so no two lists collide.
     */
    public static String key(List<String> parts) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (String s : parts) {
                md.update(s.getBytes(StandardCharsets.UTF_8));
                md.update((byte) 0);
            }
            return HexFormat.of().formatHex(md.digest(), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }
}
