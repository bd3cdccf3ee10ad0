package dev.cramjet.dist;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.cuda.LibraryFinder;
import dev.cramjet.engine.cuda.NativeLib;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.List;

import static dev.cramjet.engine.cuda.NativeLib.INT;
import static dev.cramjet.engine.cuda.NativeLib.PTR;
import static dev.cramjet.engine.cuda.NativeLib.SIZE;
import static dev.cramjet.engine.cuda.NativeLib.rethrow;

/**
 * NCCL (libnccl.so.2) through FFM, found by {@link LibraryFinder} like the CUDA libraries (the pip wheel
 * nvidia-nccl-cu12 included); 2.13 or newer. Values from nccl.h: ncclResult_t 0 = success; ncclRedOp_t sum 0, avg 4;
 * ncclDataType_t int32 2, float32 7, float64 8, bfloat16 9; ncclUniqueId is a 128-byte struct passed by value to
 * ncclCommInitRank. Streams are CUstreams (the runtime's cudaStream_t is the same handle).
 */
final class Nccl {
    static final int UNIQUE_ID_BYTES = 128;
    static final int SUM = 0, AVG = 4;
    static final int INT32 = 2, FLOAT32 = 7, FLOAT64 = 8, BFLOAT16 = 9;
    /** 2.10 brought ncclAvg and ncclBfloat16, 2.13 ncclGetLastError. */
    static final int MIN_VERSION = 21300;
    private static final MemoryLayout UNIQUE_ID = MemoryLayout.structLayout(MemoryLayout.sequenceLayout(UNIQUE_ID_BYTES, ValueLayout.JAVA_BYTE));

    final String where;
    final int version;
    private final MethodHandle getUniqueId, commInitRank, commDestroy, commGetAsyncError, allReduce, reduceScatter,
            allGather, broadcast, getErrorString, getLastError;

    private Nccl(NativeLib lib) {
        where = lib.where;
        MethodHandle getVersion = lib.status("ncclGetVersion", PTR);
        getUniqueId = lib.status("ncclGetUniqueId", PTR);
        commInitRank = lib.fn(FunctionDescriptor.of(INT, PTR, INT, UNIQUE_ID, INT), "ncclCommInitRank");
        commDestroy = lib.status("ncclCommDestroy", PTR);
        commGetAsyncError = lib.status("ncclCommGetAsyncError", PTR, PTR);
        allReduce = lib.status("ncclAllReduce", PTR, PTR, SIZE, INT, INT, PTR, PTR);
        reduceScatter = lib.status("ncclReduceScatter", PTR, PTR, SIZE, INT, INT, PTR, PTR);
        allGather = lib.status("ncclAllGather", PTR, PTR, SIZE, INT, PTR, PTR);
        broadcast = lib.status("ncclBroadcast", PTR, PTR, SIZE, INT, INT, PTR, PTR);
        getErrorString = lib.fn(FunctionDescriptor.of(PTR, INT), "ncclGetErrorString");
        getLastError = lib.fn(FunctionDescriptor.of(PTR, PTR), "ncclGetLastError");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(INT);
            check((int) getVersion.invokeExact(out.address()), "ncclGetVersion", 0);
            version = out.get(INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (version < MIN_VERSION) {
            throw new CramjetException(where + " is NCCL " + versionString(version) + "; Cramjet needs NCCL 2.13 or newer");
        }
    }

    static Nccl load(LibraryFinder finder) {
        return new Nccl(NativeLib.load(finder, LibraryFinder.Library.NCCL, 0, List.of("libnccl.so.2", "libnccl.so"), false));
    }

    /** NCCL's version code as major.minor.patch (codes from 2.9 on are major·10000 + minor·100 + patch). */
    static String versionString(int code) {
        return code / 10000 + "." + code / 100 % 100 + "." + code % 100;
    }

    byte[] uniqueId() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment id = a.allocate(UNIQUE_ID);
            check((int) getUniqueId.invokeExact(id.address()), "ncclGetUniqueId", 0);
            return id.toArray(ValueLayout.JAVA_BYTE);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** ncclCommInitRank on the calling thread's current CUDA context; returns the ncclComm_t. */
    long initRank(int size, byte[] id, int rank) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(PTR), idArg = a.allocate(UNIQUE_ID);
            MemorySegment.copy(id, 0, idArg, ValueLayout.JAVA_BYTE, 0, UNIQUE_ID_BYTES);
            check((int) commInitRank.invokeExact(out.address(), size, idArg, rank), "ncclCommInitRank", 0);
            return out.get(PTR, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void destroy(long comm) {
        try {
            check((int) commDestroy.invokeExact(comm), "ncclCommDestroy", comm);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The communicator's asynchronous error code (0: none). */
    int asyncError(long comm) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(INT);
            check((int) commGetAsyncError.invokeExact(comm, out.address()), "ncclCommGetAsyncError", comm);
            return out.get(INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void allReduce(long send, long recv, long count, int type, int op, long comm, long stream) {
        try {
            check((int) allReduce.invokeExact(send, recv, count, type, op, comm, stream), "ncclAllReduce", comm);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void reduceScatter(long send, long recv, long count, int type, int op, long comm, long stream) {
        try {
            check((int) reduceScatter.invokeExact(send, recv, count, type, op, comm, stream), "ncclReduceScatter", comm);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void allGather(long send, long recv, long count, int type, long comm, long stream) {
        try {
            check((int) allGather.invokeExact(send, recv, count, type, comm, stream), "ncclAllGather", comm);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void broadcast(long send, long recv, long count, int type, int root, long comm, long stream) {
        try {
            check((int) broadcast.invokeExact(send, recv, count, type, root, comm, stream), "ncclBroadcast", comm);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** "ncclRemoteError: remote process exited or there was a network error" plus NCCL's last message, if any. */
    String describe(int code, long comm) {
        StringBuilder sb = new StringBuilder();
        try {
            sb.append(NativeLib.cString((long) getErrorString.invokeExact(code)));
            String last = comm == 0 ? null : NativeLib.cString((long) getLastError.invokeExact(comm));
            if (last != null && !last.isBlank()) sb.append(" (").append(last.strip()).append(')');
        } catch (Throwable t) {
            sb.append("NCCL error ").append(code);
        }
        return sb.toString();
    }

    private void check(int code, String call, long comm) {
        if (code != 0) throw new CramjetException(call + " failed: " + describe(code, comm));
    }
}
