package dev.cramjet.engine.cuda;

import dev.cramjet.CramjetException;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The kernel modules: CUDA C resources in this package (one file per op family, all including common.cuh),
 * compiled by NVRTC for the device's architecture when first needed and loaded into the current context.
 * Also owns the argument block every launch goes through, so a launch allocates nothing.
 */
final class Kernels {
    /** Kernel source files (without .cu), in the order `cramjet doctor` and the compile test list them. */
    static final List<String> FILES = List.of("elementwise", "rows", "norm", "quant", "rope", "attention", "loss", "optim");
    /** The headers kernel files include: conventions and helpers, and the tensor-core primitives. */
    static final List<String> HEADERS = List.of("common.cuh", "mma.cuh");
    static final int MAX_ARGS = 32;

    private final Driver cu;
    private final Nvrtc nvrtc;
    private final int arch;
    private final Path cacheDir;
    private final Map<String, Long> modules = new HashMap<>();
    private final Map<String, Long> functions = new HashMap<>();
    private final Map<Long, Integer> sharedLimit = new HashMap<>();
    private final Arena arena = Arena.ofShared();
    private final MemorySegment values = arena.allocate(8L * MAX_ARGS, 16);
    private final MemorySegment pointers = arena.allocate(8L * MAX_ARGS, 16);
    private int count;
    private long function;
    private String name;

    Kernels(Driver cu, Nvrtc nvrtc, int arch, Path cacheDir) {
        this.cu = cu;
        this.nvrtc = nvrtc;
        this.arch = arch;
        this.cacheDir = cacheDir;
        for (int i = 0; i < MAX_ARGS; i++) pointers.setAtIndex(ValueLayout.JAVA_LONG, i, values.address() + 8L * i);
    }

    /** The source text of a kernel resource. */
    static String source(String file) {
        try (InputStream in = Kernels.class.getResourceAsStream(file)) {
            if (in == null) throw new CramjetException("kernel resource " + file + " is missing from the jar");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Handle of {@code kernel} in {@code file}.cu compiled with {@code defines} (NAME=VALUE), loading on first use. */
    long function(String file, String kernel, String... defines) {
        String key = file + List.of(defines) + "#" + kernel;
        Long f = functions.get(key);
        if (f != null) return f;
        long handle = cu.function(module(file, defines), kernel);
        functions.put(key, handle);
        return handle;
    }

    private long module(String file, String... defines) {
        String key = file + List.of(defines);
        Long module = modules.get(key);
        if (module != null) return module;
        Map<String, String> headers = new TreeMap<>();
        for (String h : HEADERS) headers.put(h, source(h));
        byte[] cubin = nvrtc.compile(file, source(file + ".cu"), headers, arch, List.of(defines), cacheDir);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment image = a.allocate(cubin.length + 1L, 16);
            MemorySegment.copy(cubin, 0, image, ValueLayout.JAVA_BYTE, 0, cubin.length);
            module = cu.loadModule(image);
        }
        modules.put(key, module);
        return module;
    }

    /** Compiles and loads every module (attention for head size 64): the doctor's check that the kernels build. */
    List<String> compileAll() {
        List<String> done = new ArrayList<>();
        for (String file : FILES) {
            if (file.equals("attention")) module(file, "HEAD_SIZE=64");
            else module(file);
            done.add(file + ".cu");
        }
        return done;
    }

    // ---- launches --------------------------------------------------------------------------------------------

    /** A kernel by file, name and defines; compiled and looked up at its first launch, then remembered. */
    final class Kernel {
        final String file, name;
        private final String[] defines;
        private long handle;

        private Kernel(String file, String name, String[] defines) {
            this.file = file;
            this.name = name;
            this.defines = defines;
        }

        long handle() {
            if (handle == 0) handle = function(file, name, defines);
            return handle;
        }
    }

    /** Names a kernel without compiling anything yet. */
    Kernel kernel(String file, String name, String... defines) { return new Kernel(file, name, defines); }

    /** Starts a launch of {@code kernel}; add arguments in the kernel's order, then {@link #go}. */
    Kernels begin(Kernel kernel) {
        function = kernel.handle();
        name = kernel.name;
        count = 0;
        return this;
    }

    Kernels ptr(long address) { return i64(address); }

    Kernels i64(long v) {
        values.setAtIndex(ValueLayout.JAVA_LONG, slot(), v);
        return this;
    }

    // 32-bit arguments fill their whole 8-byte slot (the kernel reads the low half), so a slot's bytes are exactly
    // its argument and recorded launches compare by value.
    Kernels i32(int v) {
        values.setAtIndex(ValueLayout.JAVA_LONG, slot(), v & 0xffffffffL);
        return this;
    }

    Kernels f32(float v) {
        values.setAtIndex(ValueLayout.JAVA_LONG, slot(), Float.floatToRawIntBits(v) & 0xffffffffL);
        return this;
    }

    private int slot() {
        if (count == MAX_ARGS) throw new IllegalStateException(name + ": more than " + MAX_ARGS + " arguments");
        return count++;
    }

    void go(long stream, int grid, int block) { go(stream, grid, 1, block, 1, 0); }

    /** Launches on {@code stream}; dynamic shared memory above 48 KiB is opted into per function. */
    void go(long stream, int gridX, int gridY, int blockX, int blockY, int sharedBytes) {
        if (sharedBytes > 48 * 1024 && sharedLimit.getOrDefault(function, 0) < sharedBytes) {
            cu.setMaxDynamicShared(function, sharedBytes);
            sharedLimit.put(function, sharedBytes);
        }
        Graphs graphs = cu.graphs;
        if (graphs != null && graphs.deferring()) {
            long[] args = new long[count];
            MemorySegment.copy(values, ValueLayout.JAVA_LONG, 0, args, 0, count);
            graphs.defer(new Graphs.Launch(function, gridX, gridY, blockX, blockY, sharedBytes, args, name));
            return;
        }
        cu.launch(function, gridX, gridY, 1, blockX, blockY, 1, sharedBytes, stream, pointers.address(), name);
    }

    void close() {
        for (long m : modules.values()) cu.unloadModule(m);
        modules.clear();
        functions.clear();
        arena.close();
    }
}
