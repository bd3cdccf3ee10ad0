package dev.cramjet.dist;

import dev.cramjet.CramjetException;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Open MPI's C API through FFM, for CPU ranks. MPI's handles — MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, … — are macros
 * whose values belong to each implementation's ABI. In Open MPI every handle is a pointer to a global object the
 * library exports: MPI_COMM_WORLD is {@code &ompi_mpi_comm_world}, MPI_FLOAT {@code &ompi_mpi_float}, MPI_DOUBLE
 * {@code &ompi_mpi_double}, MPI_BYTE {@code &ompi_mpi_byte}, MPI_SUM {@code &ompi_mpi_op_sum}, MPI_ERRORS_RETURN
 * {@code &ompi_mpi_errors_return}; so their values are the addresses of those symbols, looked up at run time.
 * MPI_IN_PLACE is {@code (void *) 1}. (MPICH and the MPIs derived from it use integer handles instead; a libmpi
 * without {@code ompi_mpi_comm_world} is refused by name.)
 *
 * <p>MPI is initialised once per process (MPI_THREAD_FUNNELED: only the thread that initialised it calls MPI) and
 * errors are returned, not fatal, so a failed call becomes a message naming the call and MPI's error string.
 */
final class Mpi {
    private static final ValueLayout.OfLong PTR = ValueLayout.JAVA_LONG;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    static final long IN_PLACE = 1;
    private static final int THREAD_FUNNELED = 1;
    private static final int MAX_STRING = 256;

    private static Mpi instance;

    final String where, version;
    final long world, floatType, doubleType, byteType, sum;
    final int rank, size;
    private final MethodHandle allreduce, reduceScatterBlock, allgather, bcast, barrier, finalize, errorString;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment errorText = arena.allocate(MAX_STRING), errorLength = arena.allocate(INT);
    private boolean finalized;
    /** Who a failure message names: "rank R" once the rank is known. */
    private String who = "MPI";

    /** The process's MPI, initialised on first use. */
    static synchronized Mpi get() {
        if (instance == null) instance = new Mpi(System.getenv());
        return instance;
    }

    private Mpi(Map<String, String> env) {
        Loaded lib = load(env);
        this.where = lib.where;
        Linker linker = Linker.nativeLinker();
        SymbolLookup l = lib.lookup;
        world = handle(l, "ompi_mpi_comm_world");
        floatType = handle(l, "ompi_mpi_float");
        doubleType = handle(l, "ompi_mpi_double");
        byteType = handle(l, "ompi_mpi_byte");
        sum = handle(l, "ompi_mpi_op_sum");
        long errorsReturn = handle(l, "ompi_mpi_errors_return");
        allreduce = fn(linker, l, "MPI_Allreduce", PTR, PTR, INT, PTR, PTR, PTR);
        reduceScatterBlock = fn(linker, l, "MPI_Reduce_scatter_block", PTR, PTR, INT, PTR, PTR, PTR);
        allgather = fn(linker, l, "MPI_Allgather", PTR, INT, PTR, PTR, INT, PTR, PTR);
        bcast = fn(linker, l, "MPI_Bcast", PTR, INT, PTR, INT, PTR);
        barrier = fn(linker, l, "MPI_Barrier", PTR);
        finalize = fn(linker, l, "MPI_Finalize");
        errorString = fn(linker, l, "MPI_Error_string", INT, PTR, PTR);
        MethodHandle initThread = fn(linker, l, "MPI_Init_thread", PTR, PTR, INT, PTR);
        MethodHandle setErrhandler = fn(linker, l, "MPI_Comm_set_errhandler", PTR, PTR);
        MethodHandle commRank = fn(linker, l, "MPI_Comm_rank", PTR, PTR);
        MethodHandle commSize = fn(linker, l, "MPI_Comm_size", PTR, PTR);
        MethodHandle libraryVersion = fn(linker, l, "MPI_Get_library_version", PTR, PTR);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(INT), text = a.allocate(MAX_STRING);
            check((int) initThread.invokeExact(0L, 0L, THREAD_FUNNELED, out.address()), "MPI_Init_thread");
            check((int) setErrhandler.invokeExact(world, errorsReturn), "MPI_Comm_set_errhandler");
            check((int) commRank.invokeExact(world, out.address()), "MPI_Comm_rank");
            rank = out.get(INT, 0);
            check((int) commSize.invokeExact(world, out.address()), "MPI_Comm_size");
            size = out.get(INT, 0);
            who = "rank " + rank;
            check((int) libraryVersion.invokeExact(text.address(), out.address()), "MPI_Get_library_version");
            version = text.getString(0).lines().findFirst().orElse("").trim();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private record Loaded(SymbolLookup lookup, String where) {}

    /** $CRAMJET_MPI_LIB (a file), else $MPI_HOME/lib, else the loader's own search for Open MPI's sonames. */
    private static Loaded load(Map<String, String> env) {
        List<String> tried = new ArrayList<>();
        String file = env.get("CRAMJET_MPI_LIB");
        if (file != null && !file.isBlank()) {
            if (!Files.isRegularFile(Path.of(file))) throw new CramjetException("CRAMJET_MPI_LIB=" + file + ": no such file");
            return new Loaded(SymbolLookup.libraryLookup(Path.of(file), Arena.global()), file);
        }
        String home = env.get("MPI_HOME");
        List<String> names = new ArrayList<>();
        if (home != null && !home.isBlank()) names.add(Path.of(home, "lib", "libmpi.so").toString());
        names.addAll(List.of("libmpi.so.40", "libmpi.so"));
        for (String name : names) {
            tried.add(name);
            try {
                return new Loaded(SymbolLookup.libraryLookup(name, Arena.global()), name);
            } catch (IllegalArgumentException e) {
                // not there: try the next name
            }
        }
        throw new CramjetException("Open MPI's libmpi not found (tried " + String.join(", ", tried) + "): CPU ranks talk over MPI."
                + " Install it (scripts/setup-openmpi.sh, or apt-get install openmpi-bin libopenmpi-dev) or set CRAMJET_MPI_LIB to libmpi.so");
    }

    private long handle(SymbolLookup l, String symbol) {
        return l.find(symbol).orElseThrow(() -> new CramjetException(where + " has no symbol " + symbol
                + ": it is not Open MPI (MPICH-family libraries have another ABI, which Cramjet does not bind)")).address();
    }

    private MethodHandle fn(Linker linker, SymbolLookup l, String name, MemoryLayout... args) {
        MemorySegment sym = l.find(name).orElseThrow(() -> new CramjetException(where + " has no function " + name));
        return linker.downcallHandle(sym, FunctionDescriptor.of(INT, args));
    }

    // ---- calls (counts are at most Integer.MAX_VALUE: callers send chunks) ---------------------------------------

    void allreduce(long send, long recv, int count, long type) {
        try {
            check((int) allreduce.invokeExact(send, recv, count, type, sum, world), "MPI_Allreduce");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void reduceScatterBlock(long send, long recv, int count, long type) {
        try {
            check((int) reduceScatterBlock.invokeExact(send, recv, count, type, sum, world), "MPI_Reduce_scatter_block");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void allgather(long send, long recv, int count, long type) {
        try {
            check((int) allgather.invokeExact(send, count, type, recv, count, type, world), "MPI_Allgather");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void bcast(long buffer, int count, long type, int root) {
        try {
            check((int) bcast.invokeExact(buffer, count, type, root, world), "MPI_Bcast");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void barrier() {
        try {
            check((int) barrier.invokeExact(world), "MPI_Barrier");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** MPI_Finalize, once; MPI cannot be used (or initialised again) in this process afterwards. */
    synchronized void finish() {
        if (finalized) return;
        finalized = true;
        try {
            check((int) finalize.invokeExact(), "MPI_Finalize");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private void check(int code, String call) {
        if (code == 0) return;
        String text = "error " + code;
        try {
            if ((int) errorString.invokeExact(code, errorText.address(), errorLength.address()) == 0) text = errorText.getString(0);
        } catch (Throwable ignored) {
            // keep the number: the error string is a courtesy
        }
        throw new CramjetException(who + ": " + call + " failed: " + text + " (a rank may have died; see the other ranks' messages)");
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }
}
