package dev.cramjet.engine.cuda;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.KernelCache;
import dev.cramjet.io.AtomicFile;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.cramjet.engine.cuda.NativeLib.INT;
import static dev.cramjet.engine.cuda.NativeLib.PTR;
import static dev.cramjet.engine.cuda.NativeLib.SIZE;
import static dev.cramjet.engine.cuda.NativeLib.rethrow;

/**
 * NVRTC: compiles the CUDA C kernel resources to a cubin for the device's own architecture at first use. The cubin
 * is cached on disk under a hash of (source, headers, options, NVRTC version), so later runs load it directly.
 * Headers are passed in memory (never from an include path): a bare GPU machine has no CUDA headers.
 */
final class Nvrtc {
    final NativeLib lib;
    private final MethodHandle nvrtcVersion, nvrtcCreateProgram, nvrtcCompileProgram, nvrtcGetProgramLogSize,
            nvrtcGetProgramLog, nvrtcGetCUBINSize, nvrtcGetCUBIN, nvrtcDestroyProgram, nvrtcGetErrorString;
    final int major, minor;

    private Nvrtc(NativeLib lib) {
        this.lib = lib;
        nvrtcVersion = lib.status("nvrtcVersion", PTR, PTR);
        nvrtcCreateProgram = lib.status("nvrtcCreateProgram", PTR, PTR, PTR, INT, PTR, PTR);
        nvrtcCompileProgram = lib.status("nvrtcCompileProgram", PTR, INT, PTR);
        nvrtcGetProgramLogSize = lib.status("nvrtcGetProgramLogSize", PTR, PTR);
        nvrtcGetProgramLog = lib.status("nvrtcGetProgramLog", PTR, PTR);
        nvrtcGetCUBINSize = lib.status("nvrtcGetCUBINSize", PTR, PTR);
        nvrtcGetCUBIN = lib.status("nvrtcGetCUBIN", PTR, PTR);
        nvrtcDestroyProgram = lib.status("nvrtcDestroyProgram", PTR);
        nvrtcGetErrorString = lib.fn(FunctionDescriptor.of(PTR, INT), "nvrtcGetErrorString");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(8);
            check(call2(nvrtcVersion, v.address(), v.address() + 4), "nvrtcVersion");
            major = v.get(INT, 0);
            minor = v.get(INT, 4);
        }
    }

    /** Loads libnvrtc no newer than the driver's CUDA major version (a newer one emits code the driver rejects). */
    static Nvrtc load(LibraryFinder finder, int driverMajor) {
        List<String> names = List.of("libnvrtc.so." + driverMajor, "libnvrtc.so");
        return new Nvrtc(NativeLib.load(finder, LibraryFinder.Library.NVRTC, driverMajor, names, false));
    }

    String version() { return major + "." + minor; }

    /**
     * A cubin of {@code source} for sm_{arch}; {@code headers} maps include names to their text. Served from
     * {@code cacheDir} when compiled before.
     */
    byte[] compile(String name, String source, Map<String, String> headers, int arch, List<String> defines,
                   Path cacheDir) {
        List<String> options = new ArrayList<>(List.of("--gpu-architecture=sm_" + arch, "--std=c++17", "-default-device"));
        for (String d : defines) options.add("-D" + d);
        String key = hash(name, source, headers, options);
        Path cached = cacheDir.resolve(name + "-sm" + arch + "-" + key + ".cubin");
        try {
            if (Files.isRegularFile(cached)) return Files.readAllBytes(cached);
        } catch (IOException e) {
            // an unreadable cache entry is recompiled and rewritten below
        }
        byte[] cubin = compileNow(name, source, headers, options);
        try {
            AtomicFile.write(cached, ch -> ch.write(ByteBuffer.wrap(cubin)));
        } catch (IOException e) {
            // a read-only cache still works, it only recompiles next time
        }
        return cubin;
    }

    private byte[] compileNow(String name, String source, Map<String, String> headers, List<String> options) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment prog = a.allocate(PTR);
            int nh = headers.size();
            MemorySegment headerSrc = a.allocate(PTR, Math.max(1, nh)), headerNames = a.allocate(PTR, Math.max(1, nh));
            int i = 0;
            for (var e : headers.entrySet()) {
                headerNames.setAtIndex(PTR, i, a.allocateFrom(e.getKey()).address());
                headerSrc.setAtIndex(PTR, i, a.allocateFrom(e.getValue()).address());
                i++;
            }
            check((int) nvrtcCreateProgram.invokeExact(prog.address(), a.allocateFrom(source).address(),
                    a.allocateFrom(name + ".cu").address(), nh, headerSrc.address(), headerNames.address()), "nvrtcCreateProgram");
            long p = prog.get(PTR, 0);
            try {
                MemorySegment opts = a.allocate(PTR, options.size());
                for (int k = 0; k < options.size(); k++) opts.setAtIndex(PTR, k, a.allocateFrom(options.get(k)).address());
                int r = (int) nvrtcCompileProgram.invokeExact(p, options.size(), opts.address());
                if (r != 0) {
                    throw new CramjetException("NVRTC " + version() + " could not compile kernel " + name + ".cu with "
                            + options + ": " + errorString(r) + "\n" + log(a, p));
                }
                MemorySegment size = a.allocate(SIZE);
                check(call2(nvrtcGetCUBINSize, p, size.address()), "nvrtcGetCUBINSize");
                MemorySegment cubin = a.allocate(size.get(SIZE, 0));
                check(call2(nvrtcGetCUBIN, p, cubin.address()), "nvrtcGetCUBIN");
                return cubin.toArray(ValueLayout.JAVA_BYTE);
            } finally {
                check((int) nvrtcDestroyProgram.invokeExact(prog.address()), "nvrtcDestroyProgram");
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private String log(Arena a, long program) {
        MemorySegment size = a.allocate(SIZE);
        if (call2(nvrtcGetProgramLogSize, program, size.address()) != 0) return "(no log)";
        MemorySegment text = a.allocate(Math.max(1, size.get(SIZE, 0)));
        if (call2(nvrtcGetProgramLog, program, text.address()) != 0) return "(no log)";
        return text.getString(0);
    }

    private String errorString(int code) {
        try {
            String s = NativeLib.cString((long) nvrtcGetErrorString.invokeExact(code));
            return s != null ? s : ErrorNames.nvrtc(code);
        } catch (Throwable t) {
            return ErrorNames.nvrtc(code);
        }
    }

    private void check(int result, String call) {
        if (result != 0) throw new CramjetException(call + " failed: " + errorString(result));
    }

    private static int call2(MethodHandle h, long a, long b) {
        try {
            return (int) h.invokeExact(a, b);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private String hash(String name, String source, Map<String, String> headers, List<String> options) {
        return KernelCache.key(List.of(name, source, String.valueOf(headers), String.valueOf(options), version()));
    }

}
