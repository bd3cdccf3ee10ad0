package dev.cramjet.engine.cuda;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds the CUDA shared libraries at run time, in this order: {@code $CRAMJET_CUDA_LIB} (a ':'-separated list of
 * folders), {@code $CUDA_HOME} and {@code $CUDA_PATH}, {@code $LD_LIBRARY_PATH}, the {@code nvidia-*} pip wheels
 * under every site-packages we know of (virtualenv, conda, user, pyenv, system), then the usual system folders.
 * Within a folder the highest version wins ({@code libcublasLt.so.13} over {@code .so.12}), limited to the
 * driver's CUDA major version when it is known, since a newer toolkit's libraries do not run on an older driver.
 * Pure file-system logic over an environment map and a root folder, so tests can build fake trees.
 */
public final class LibraryFinder {
    /** A library we need: the file stem and the pip wheel folders (under site-packages/nvidia) that carry it. */
    public enum Library {
        DRIVER("libcuda.so", "the NVIDIA driver (libcuda.so.1)"),
        NVRTC("libnvrtc.so", "NVRTC, the runtime CUDA compiler (pip install nvidia-cuda-nvrtc-cu12)", "cuda_nvrtc", "cu13", "cu12"),
        CUBLASLT("libcublasLt.so", "cuBLASLt (pip install nvidia-cublas-cu12)", "cublas", "cu13", "cu12"),
        NCCL("libnccl.so", "NCCL, the collectives between GPUs (pip install nvidia-nccl-cu12)", "nccl", "cu13", "cu12");

        public final String stem;
        public final String description;
        final List<String> wheels;

        Library(String stem, String description, String... wheels) {
            this.stem = stem;
            this.description = description;
            this.wheels = List.of(wheels);
        }
    }

    /** Where a search looked and what it found (empty when nothing matched). */
    public record Result(Library library, Optional<Path> path, List<Path> looked) {
        /** One paragraph for an error message or `cramjet doctor`. */
        public String explain() {
            if (path.isPresent()) return library.stem + ": " + path.get();
            StringBuilder sb = new StringBuilder(library.stem + " not found: " + library.description + " is needed. Looked in:");
            for (Path p : looked) sb.append("\n    ").append(p);
            sb.append("\n  and the system loader path. Set CUDA_HOME, or CRAMJET_CUDA_LIB to the folder holding it.");
            return sb.toString();
        }
    }

    private static final List<String> SYSTEM_DIRS = List.of(
            "/usr/local/cuda/lib64", "/usr/local/cuda/lib", "/usr/local/cuda/targets/x86_64-linux/lib",
            "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib/wsl/lib", "/usr/lib", "/lib/x86_64-linux-gnu");

    private final Map<String, String> env;
    private final Path root;
    private final Path home;

    /** A finder over the real environment and file system. */
    public static LibraryFinder system() {
        return new LibraryFinder(System.getenv(), Path.of("/"), Path.of(System.getProperty("user.home")));
    }

    /**
     * @param env  environment variables
     * @param root prefix for absolute system folders ("/" in production, a temp folder in tests)
     * @param home the user's home folder (for ~/.local site-packages)
     */
    public LibraryFinder(Map<String, String> env, Path root, Path home) {
        this.env = env;
        this.root = root;
        this.home = home;
    }

    /** Searches every folder for {@code lib}, accepting versions up to {@code maxMajor} (0: any). */
    public Result find(Library lib, int maxMajor) {
        List<Path> looked = searchDirs(lib);
        for (Path dir : looked) {
            Optional<Path> hit = bestIn(dir, lib.stem, maxMajor);
            if (hit.isPresent()) return new Result(lib, hit, looked);
        }
        return new Result(lib, Optional.empty(), looked);
    }

    /** The folders searched for {@code lib}, in priority order, existing ones only. */
    public List<Path> searchDirs(Library lib) {
        Set<Path> dirs = new LinkedHashSet<>();
        splitPath(env.get("CRAMJET_CUDA_LIB")).forEach(dirs::add);
        for (String var : List.of("CUDA_HOME", "CUDA_PATH")) {
            String v = env.get(var);
            if (v == null || v.isBlank()) continue;
            Path p = Path.of(v);
            dirs.add(p.resolve("lib64"));
            dirs.add(p.resolve("lib"));
            dirs.add(p.resolve("targets/x86_64-linux/lib"));
        }
        splitPath(env.get("LD_LIBRARY_PATH")).forEach(dirs::add);
        for (Path site : sitePackages()) {
            for (String wheel : lib.wheels) dirs.add(site.resolve("nvidia").resolve(wheel).resolve("lib"));
        }
        for (String d : SYSTEM_DIRS) dirs.add(rooted(d));
        List<Path> existing = new ArrayList<>();
        for (Path d : dirs) if (Files.isDirectory(d)) existing.add(d);
        return existing;
    }

    /** site-packages folders of the active virtualenv / conda env, the user and the system, where they exist. */
    List<Path> sitePackages() {
        List<Path> prefixes = new ArrayList<>();
        for (String var : List.of("VIRTUAL_ENV", "CONDA_PREFIX")) {
            String v = env.get(var);
            if (v != null && !v.isBlank()) prefixes.add(Path.of(v));
        }
        prefixes.add(home.resolve(".local"));
        prefixes.addAll(children(home.resolve(".pyenv/versions")));
        prefixes.add(rooted("/usr/local"));
        prefixes.add(rooted("/usr"));
        prefixes.add(rooted("/opt/conda"));
        List<Path> out = new ArrayList<>();
        for (Path prefix : prefixes) {
            Path lib = prefix.resolve("lib");
            if (!Files.isDirectory(lib)) continue;
            try (DirectoryStream<Path> pythons = Files.newDirectoryStream(lib, "python3*")) {
                List<Path> sorted = new ArrayList<>();
                pythons.forEach(sorted::add);
                sorted.sort(Comparator.reverseOrder());
                for (Path py : sorted) {
                    for (String name : List.of("site-packages", "dist-packages")) {
                        Path sp = py.resolve(name);
                        if (Files.isDirectory(sp)) out.add(sp);
                    }
                }
            } catch (IOException e) {
                // an unreadable folder is simply not a place the library can come from
            }
        }
        return out;
    }

    private static List<Path> children(Path dir) {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) return out;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            ds.forEach(out::add);
        } catch (IOException e) {
            // unreadable: no interpreters to offer
        }
        out.sort(Comparator.reverseOrder());
        return out;
    }

    private static final Pattern VERSION = Pattern.compile("(\\d+)(?:\\.(\\d+))?(?:\\.(\\d+))?");

    /** The best file named stem or stem.MAJOR[.MINOR[.PATCH]] in dir: highest version with major ≤ maxMajor. */
    static Optional<Path> bestIn(Path dir, String stem, int maxMajor) {
        Path best = null;
        long bestKey = -1;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, stem + "*")) {
            for (Path f : files) {
                String name = f.getFileName().toString();
                long key;
                if (name.equals(stem)) {
                    key = 0;  // unversioned: the development symlink, accepted last
                } else if (name.startsWith(stem + ".")) {
                    Matcher m = VERSION.matcher(name.substring(stem.length() + 1));
                    if (!m.matches()) continue;
                    int major = Integer.parseInt(m.group(1));
                    if (maxMajor > 0 && major > maxMajor) continue;
                    key = 1 + major * 1_000_000L + part(m.group(2)) * 1_000L + part(m.group(3));
                } else {
                    continue;
                }
                if (!Files.isRegularFile(f)) continue;  // follows symlinks: a dangling link is no library
                if (key > bestKey) {
                    bestKey = key;
                    best = f;
                }
            }
        } catch (IOException e) {
            return Optional.empty();
        }
        return Optional.ofNullable(best);
    }

    private static long part(String s) { return s == null ? 0 : Math.min(999, Long.parseLong(s)); }

    private Path rooted(String absolute) { return root.resolve(absolute.substring(1)); }

    private static List<Path> splitPath(String value) {
        List<Path> out = new ArrayList<>();
        if (value == null) return out;
        for (String s : value.split(":")) if (!s.isBlank()) out.add(Path.of(s));
        return out;
    }
}
