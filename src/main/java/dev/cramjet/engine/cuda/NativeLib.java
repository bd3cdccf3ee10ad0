package dev.cramjet.engine.cuda;

import dev.cramjet.CramjetException;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * One loaded shared library and downcall handles into it: the CUDA libraries here, NCCL in dist/. Pointer and
 * handle arguments are bound as 64-bit integers ({@code JAVA_LONG}): on the 64-bit platforms CUDA supports a pointer
 * is passed exactly like a 64-bit integer, and it spares a MemorySegment wrapper per call on the hot path.
 */
public final class NativeLib {
    public static final ValueLayout.OfLong PTR = ValueLayout.JAVA_LONG;
    public static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    public static final ValueLayout.OfLong SIZE = ValueLayout.JAVA_LONG;

    private static final Linker LINKER = Linker.nativeLinker();

    public final String where;
    private final SymbolLookup lookup;

    private NativeLib(SymbolLookup lookup, String where) {
        this.lookup = lookup;
        this.where = where;
    }

    /**
     * Loads {@code lib}: by the file the finder locates, else by the loader's own search for {@code loaderNames}
     * (as dlopen would). Throws a CramjetException that lists every place looked when neither works.
     */
    public static NativeLib load(LibraryFinder finder, LibraryFinder.Library lib, int maxMajor, List<String> loaderNames,
                          boolean loaderFirst) {
        Arena arena = Arena.global();
        if (loaderFirst) {
            Optional<NativeLib> l = byLoader(loaderNames, arena);
            if (l.isPresent()) return l.get();
        }
        LibraryFinder.Result found = finder.find(lib, maxMajor);
        if (found.path().isPresent()) {
            Path p = found.path().get();
            try {
                return new NativeLib(SymbolLookup.libraryLookup(p, arena), p.toString());
            } catch (IllegalArgumentException e) {
                throw new CramjetException("cannot load " + p + " (" + lib.description + "): " + e.getMessage());
            }
        }
        if (!loaderFirst) {
            Optional<NativeLib> l = byLoader(loaderNames, arena);
            if (l.isPresent()) return l.get();
        }
        throw new CramjetException(found.explain() + " (also tried the loader names " + loaderNames + ")");
    }

    private static Optional<NativeLib> byLoader(List<String> names, Arena arena) {
        for (String name : names) {
            try {
                return Optional.of(new NativeLib(SymbolLookup.libraryLookup(name, arena), name + " (system loader)"));
            } catch (IllegalArgumentException e) {
                // not on the loader path; try the next name
            }
        }
        return Optional.empty();
    }

    /** A handle to the first of {@code names} the library exports (newer ABI versions first). */
    public MethodHandle fn(FunctionDescriptor fd, String... names) {
        for (String name : names) {
            Optional<MemorySegment> sym = lookup.find(name);
            if (sym.isPresent()) return LINKER.downcallHandle(sym.get(), fd);
        }
        throw new CramjetException(where + " has no symbol " + String.join(" or ", names)
                + ": the library is too old or not the one expected");
    }

    /** A function returning a status int. */
    public MethodHandle status(String name, MemoryLayout... args) {
        return fn(FunctionDescriptor.of(INT, args), name);
    }

    public static String cString(long address) {
        if (address == 0) return null;
        return MemorySegment.ofAddress(address).reinterpret(Long.MAX_VALUE).getString(0);
    }

    /** Wraps a Throwable from invokeExact (the linker declares Throwable) as an unchecked exception. */
    public static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }
}
