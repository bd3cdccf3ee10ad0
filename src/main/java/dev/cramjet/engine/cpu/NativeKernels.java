package dev.cramjet.engine.cpu;

import dev.cramjet.engine.KernelCache;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * How the CPU backend's C kernels (q8.c, f32.c, each beside its class in the jar) become code: compiled at first use
 * with the machine's C compiler ($CC, else cc) for this CPU, cached under a hash of source, compiler, options and
 * the CPU's flags in {@link KernelCache}'s "cpu" directory, and loaded for FFM. Each kernel has a Java twin that
 * computes the same bits, so a kernel that cannot be built costs speed, never results.
 */
final class NativeKernels {
    private NativeKernels() {}

    /** -ffp-contract=off: the sources' fused multiply-adds are the ones written, as in the Java twins. */
    private static final List<String> OPTIONS = List.of("-O3", "-march=native", "-ffp-contract=off", "-fPIC", "-shared");

    /**
     * The library built from the resource {@code source}, or null with the reason in why[0]: asked for Java (system
     * property {@code property} or environment variable {@code variable} set to "java"), a CPU without one of
     * {@code features} (Linux's names in /proc/cpuinfo), no compiler, or a failed build.
     */
    static SymbolLookup load(String source, List<String> features, String property, String variable,
                             Map<String, String> env, String home, String[] why) {
        if ("java".equals(System.getProperty(property, env.getOrDefault(variable, "")))) {
            why[0] = "asked for";
            return null;
        }
        try {
            Path info = Path.of("/proc/cpuinfo");
            if (!Files.isReadable(info)) {
                why[0] = "no /proc/cpuinfo to read the CPU's features from";
                return null;
            }
            String flags = Files.readAllLines(info).stream().filter(l -> l.startsWith("flags")).findFirst().orElse("");
            List<String> have = List.of(flags.replaceFirst("^flags\\s*:", "").trim().split("\\s+"));
            for (String f : features) {
                if (!have.contains(f)) {
                    why[0] = "the CPU has no " + f;
                    return null;
                }
            }
            String text;
            try (InputStream in = NativeKernels.class.getResourceAsStream(source)) {
                if (in == null) {
                    why[0] = source + " is missing from the jar";
                    return null;
                }
                text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
            String cc = env.getOrDefault("CC", "").isBlank() ? "cc" : env.get("CC");
            Path dir = KernelCache.dir(env, home, "cpu");
            String name = source.replaceFirst("\\.c$", "");
            Path lib = dir.resolve(name + "-" + KernelCache.key(List.of(text, cc, String.join(" ", OPTIONS), flags)) + ".so");
            if (!Files.isRegularFile(lib)) {
                String failed = compile(cc, source, text, dir, lib);
                if (failed != null) {
                    why[0] = failed;
                    return null;
                }
            }
            return SymbolLookup.libraryLookup(lib, Arena.global());
        } catch (IOException | RuntimeException e) {
            why[0] = "cannot build or load " + source + ": " + e.getMessage();
            return null;
        }
    }

    /** Compiles text into lib (through a temporary file, so concurrent first runs never load half a library). */
    private static String compile(String cc, String source, String text, Path dir, Path lib) throws IOException {
        Files.createDirectories(dir);
        String name = source.replaceFirst("\\.c$", "");
        Path src = Files.createTempFile(dir, name + "-", ".c"), out = Files.createTempFile(dir, name + "-", ".so");
        try {
            Files.writeString(src, text);
            List<String> cmd = new ArrayList<>(List.of(cc));
            cmd.addAll(OPTIONS);
            cmd.addAll(List.of("-o", out.toString(), src.toString()));
            Process p;
            try {
                p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            } catch (IOException e) {
                return "no C compiler (" + cc + ")";
            }
            String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
                p.destroyForcibly();
                String first = log.lines().filter(l -> l.contains("error")).findFirst().orElse(log.strip());
                return cc + " failed on " + source + ": " + first;
            }
            Files.move(out, lib, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted while compiling " + source;
        } finally {
            Files.deleteIfExists(src);
            Files.deleteIfExists(out);
        }
    }
}
