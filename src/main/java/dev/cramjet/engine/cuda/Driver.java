package dev.cramjet.engine.cuda;

import dev.cramjet.CramjetException;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.List;

import static dev.cramjet.engine.cuda.NativeLib.INT;
import static dev.cramjet.engine.cuda.NativeLib.PTR;
import static dev.cramjet.engine.cuda.NativeLib.SIZE;
import static dev.cramjet.engine.cuda.NativeLib.rethrow;

/**
 * The CUDA driver API (libcuda.so.1) through FFM. Functions whose ABI changed are bound by their current
 * versioned symbol ({@code cuMemAlloc_v2}, …) as cuda.h maps them: the bare names are the legacy 32-bit-size
 * entry points. Every call is checked; a failure names the call and the error (cuGetErrorName).
 */
final class Driver {
    static final int ATTR_CLOCK_RATE_KHZ = 13;
    static final int ATTR_SM_COUNT = 16;
    static final int ATTR_CC_MAJOR = 75;
    static final int ATTR_CC_MINOR = 76;
    static final int ATTR_MAX_SHARED_OPTIN = 97;
    static final int FUNC_MAX_DYNAMIC_SHARED = 8;
    static final int STREAM_NON_BLOCKING = 1;
    static final int STREAM_CAPTURE_THREAD_LOCAL = 1;
    static final int HOST_ALLOC_PORTABLE = 1;

    final NativeLib lib;
    private final MethodHandle cuInit, cuDriverGetVersion, cuDeviceGetCount, cuDeviceGet, cuDeviceGetName,
            cuDeviceTotalMem, cuDeviceGetAttribute, cuDevicePrimaryCtxRetain, cuDevicePrimaryCtxRelease,
            cuCtxSetCurrent, cuStreamCreate, cuStreamDestroy, cuStreamSynchronize, cuMemAlloc, cuMemFree,
            cuMemHostAlloc, cuMemFreeHost, cuMemcpyHtoDAsync, cuMemcpyDtoHAsync, cuMemcpyDtoDAsync, cuMemsetD8Async,
            cuMemsetD16Async, cuMemsetD32Async, cuMemGetInfo, cuModuleLoadData, cuModuleGetFunction, cuModuleUnload,
            cuFuncSetAttribute, cuLaunchKernel, cuEventCreate, cuEventRecord, cuEventSynchronize, cuEventElapsedTime,
            cuEventDestroy, cuGetErrorName, cuStreamBeginCapture, cuStreamEndCapture, cuGraphInstantiate, cuGraphLaunch,
            cuGraphExecDestroy, cuGraphDestroy;
    /**
     * Where stream work goes while a graph region records it (see {@link Graphs}); null until the backend sets it.
     * Calls that cannot be recorded (host transfers, synchronisations, allocations, events) flush it first.
     */
    Graphs graphs;

    private Driver(NativeLib lib) {
        this.lib = lib;
        cuGetErrorName = lib.status("cuGetErrorName", INT, PTR);
        cuInit = lib.status("cuInit", INT);
        cuDriverGetVersion = lib.status("cuDriverGetVersion", PTR);
        cuDeviceGetCount = lib.status("cuDeviceGetCount", PTR);
        cuDeviceGet = lib.status("cuDeviceGet", PTR, INT);
        cuDeviceGetName = lib.status("cuDeviceGetName", PTR, INT, INT);
        cuDeviceTotalMem = lib.status("cuDeviceTotalMem_v2", PTR, INT);
        cuDeviceGetAttribute = lib.status("cuDeviceGetAttribute", PTR, INT, INT);
        cuDevicePrimaryCtxRetain = lib.status("cuDevicePrimaryCtxRetain", PTR, INT);
        cuDevicePrimaryCtxRelease = lib.status("cuDevicePrimaryCtxRelease_v2", INT);
        cuCtxSetCurrent = lib.status("cuCtxSetCurrent", PTR);
        cuStreamCreate = lib.status("cuStreamCreate", PTR, INT);
        cuStreamDestroy = lib.status("cuStreamDestroy_v2", PTR);
        cuStreamSynchronize = lib.status("cuStreamSynchronize", PTR);
        cuMemAlloc = lib.status("cuMemAlloc_v2", PTR, SIZE);
        cuMemFree = lib.status("cuMemFree_v2", PTR);
        cuMemHostAlloc = lib.status("cuMemHostAlloc", PTR, SIZE, INT);
        cuMemFreeHost = lib.status("cuMemFreeHost", PTR);
        cuMemcpyHtoDAsync = lib.status("cuMemcpyHtoDAsync_v2", PTR, PTR, SIZE, PTR);
        cuMemcpyDtoHAsync = lib.status("cuMemcpyDtoHAsync_v2", PTR, PTR, SIZE, PTR);
        cuMemcpyDtoDAsync = lib.status("cuMemcpyDtoDAsync_v2", PTR, PTR, SIZE, PTR);
        cuMemsetD8Async = lib.status("cuMemsetD8Async", PTR, ValueLayout.JAVA_BYTE, SIZE, PTR);
        cuMemsetD16Async = lib.status("cuMemsetD16Async", PTR, ValueLayout.JAVA_SHORT, SIZE, PTR);
        cuMemsetD32Async = lib.status("cuMemsetD32Async", PTR, INT, SIZE, PTR);
        cuMemGetInfo = lib.status("cuMemGetInfo_v2", PTR, PTR);
        cuModuleLoadData = lib.status("cuModuleLoadData", PTR, PTR);
        cuModuleGetFunction = lib.status("cuModuleGetFunction", PTR, PTR, PTR);
        cuModuleUnload = lib.status("cuModuleUnload", PTR);
        cuFuncSetAttribute = lib.status("cuFuncSetAttribute", PTR, INT, INT);
        cuLaunchKernel = lib.status("cuLaunchKernel", PTR, INT, INT, INT, INT, INT, INT, INT, PTR, PTR, PTR);
        cuEventCreate = lib.status("cuEventCreate", PTR, INT);
        cuEventRecord = lib.status("cuEventRecord", PTR, PTR);
        cuEventSynchronize = lib.status("cuEventSynchronize", PTR);
        cuEventElapsedTime = lib.fn(FunctionDescriptor.of(INT, PTR, PTR, PTR), "cuEventElapsedTime_v2", "cuEventElapsedTime");
        cuEventDestroy = lib.status("cuEventDestroy_v2", PTR);
        cuStreamBeginCapture = lib.status("cuStreamBeginCapture_v2", PTR, INT);
        cuStreamEndCapture = lib.status("cuStreamEndCapture", PTR, PTR);
        cuGraphInstantiate = lib.status("cuGraphInstantiateWithFlags", PTR, PTR, SIZE);
        cuGraphLaunch = lib.status("cuGraphLaunch", PTR, PTR);
        cuGraphExecDestroy = lib.status("cuGraphExecDestroy", PTR);
        cuGraphDestroy = lib.status("cuGraphDestroy", PTR);
    }

    /** Runs the work a graph region recorded before a call that cannot be recorded. */
    private void flushGraphs() {
        if (graphs != null) graphs.flush();
    }

    /** Loads libcuda (system loader first: the driver lives where the loader finds it) and calls cuInit. */
    static Driver load(LibraryFinder finder) {
        NativeLib lib = NativeLib.load(finder, LibraryFinder.Library.DRIVER, 0, List.of("libcuda.so.1", "libcuda.so"), true);
        Driver d = new Driver(lib);
        d.check(d.callInt(d.cuInit, 0), "cuInit");
        return d;
    }

    // ---- status ----------------------------------------------------------------------------------------------

    String errorName(int code) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(PTR);
            int r = (int) cuGetErrorName.invokeExact(code, out.address());
            String name = r == 0 ? NativeLib.cString(out.get(PTR, 0)) : null;
            return name != null ? name : ErrorNames.driver(code);
        } catch (Throwable t) {
            return ErrorNames.driver(code);
        }
    }

    void check(int result, String call) {
        if (result != 0) throw new CudaException(call + " failed: " + ErrorNames.withHint(errorName(result)), result);
    }

    private int callInt(MethodHandle h, int arg) {
        try {
            return (int) h.invokeExact(arg);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private int callPtr(MethodHandle h, long arg) {
        try {
            return (int) h.invokeExact(arg);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- device ----------------------------------------------------------------------------------------------

    int driverVersion() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(INT);
            check(callPtr(cuDriverGetVersion, out.address()), "cuDriverGetVersion");
            return out.get(INT, 0);
        }
    }

    int deviceCount() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(INT);
            check(callPtr(cuDeviceGetCount, out.address()), "cuDeviceGetCount");
            return out.get(INT, 0);
        }
    }

    int device(int ordinal) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(INT);
            check((int) cuDeviceGet.invokeExact(out.address(), ordinal), "cuDeviceGet");
            return out.get(INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    String deviceName(int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(256);
            check((int) cuDeviceGetName.invokeExact(out.address(), 256, device), "cuDeviceGetName");
            return out.getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    long totalMemory(int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(SIZE);
            check((int) cuDeviceTotalMem.invokeExact(out.address(), device), "cuDeviceTotalMem_v2");
            return out.get(SIZE, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int attribute(int device, int attribute) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(INT);
            check((int) cuDeviceGetAttribute.invokeExact(out.address(), attribute, device), "cuDeviceGetAttribute(" + attribute + ")");
            return out.get(INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {free, total} bytes of the current context's device. */
    long[] memoryInfo() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(16);
            check((int) cuMemGetInfo.invokeExact(out.address(), out.address() + 8), "cuMemGetInfo_v2");
            return new long[] {out.get(SIZE, 0), out.get(SIZE, 8)};
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- context and stream ----------------------------------------------------------------------------------

    long retainPrimaryContext(int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(PTR);
            check((int) cuDevicePrimaryCtxRetain.invokeExact(out.address(), device), "cuDevicePrimaryCtxRetain");
            return out.get(PTR, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void releasePrimaryContext(int device) { check(callInt(cuDevicePrimaryCtxRelease, device), "cuDevicePrimaryCtxRelease_v2"); }

    void setCurrent(long context) { check(callPtr(cuCtxSetCurrent, context), "cuCtxSetCurrent"); }

    long createStream() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(PTR);
            check((int) cuStreamCreate.invokeExact(out.address(), STREAM_NON_BLOCKING), "cuStreamCreate");
            return out.get(PTR, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void destroyStream(long stream) { check(callPtr(cuStreamDestroy, stream), "cuStreamDestroy_v2"); }

    void synchronize(long stream) {
        flushGraphs();
        check(callPtr(cuStreamSynchronize, stream), "cuStreamSynchronize");
    }

    // ---- memory ----------------------------------------------------------------------------------------------

    long malloc(long bytes) {
        flushGraphs();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(PTR);
            int r = (int) cuMemAlloc.invokeExact(out.address(), bytes);
            if (r != 0) {
                throw new CudaException("cuMemAlloc_v2 of " + bytes + " bytes failed: " + ErrorNames.withHint(errorName(r)), r);
            }
            return out.get(PTR, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void free(long pointer) {
        flushGraphs();
        check(callPtr(cuMemFree, pointer), "cuMemFree_v2");
    }

    /** Page-locked host memory, so async copies from it overlap with kernels. */
    MemorySegment hostAlloc(long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(PTR);
            check((int) cuMemHostAlloc.invokeExact(out.address(), bytes, HOST_ALLOC_PORTABLE), "cuMemHostAlloc");
            return MemorySegment.ofAddress(out.get(PTR, 0)).reinterpret(bytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void hostFree(MemorySegment host) { check(callPtr(cuMemFreeHost, host.address()), "cuMemFreeHost"); }

    void copyHtoD(long dst, long src, long bytes, long stream) {
        flushGraphs();
        try {
            check((int) cuMemcpyHtoDAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyHtoDAsync_v2");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void copyDtoH(long dst, long src, long bytes, long stream) {
        flushGraphs();
        try {
            check((int) cuMemcpyDtoHAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyDtoHAsync_v2");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void copyDtoD(long dst, long src, long bytes, long stream) {
        if (graphs != null && graphs.deferring()) {
            graphs.defer(new Graphs.Copy(dst, src, bytes, stream));
            return;
        }
        try {
            check((int) cuMemcpyDtoDAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyDtoDAsync_v2");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void memset8(long dst, byte value, long count, long stream) {
        if (graphs != null && graphs.deferring()) {
            graphs.defer(new Graphs.Memset(1, dst, value & 0xff, count, stream));
            return;
        }
        try {
            check((int) cuMemsetD8Async.invokeExact(dst, value, count, stream), "cuMemsetD8Async");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void memset16(long dst, short value, long count, long stream) {
        if (graphs != null && graphs.deferring()) {
            graphs.defer(new Graphs.Memset(2, dst, value & 0xffff, count, stream));
            return;
        }
        try {
            check((int) cuMemsetD16Async.invokeExact(dst, value, count, stream), "cuMemsetD16Async");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void memset32(long dst, int value, long count, long stream) {
        if (graphs != null && graphs.deferring()) {
            graphs.defer(new Graphs.Memset(4, dst, value, count, stream));
            return;
        }
        try {
            check((int) cuMemsetD32Async.invokeExact(dst, value, count, stream), "cuMemsetD32Async");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- modules and launches --------------------------------------------------------------------------------

    long loadModule(MemorySegment image) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(PTR);
            check((int) cuModuleLoadData.invokeExact(out.address(), image.address()), "cuModuleLoadData");
            return out.get(PTR, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    long function(long module, String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(PTR);
            MemorySegment cname = a.allocateFrom(name);
            check((int) cuModuleGetFunction.invokeExact(out.address(), module, cname.address()), "cuModuleGetFunction(" + name + ")");
            return out.get(PTR, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void unloadModule(long module) { check(callPtr(cuModuleUnload, module), "cuModuleUnload"); }

    void setMaxDynamicShared(long function, int bytes) {
        try {
            check((int) cuFuncSetAttribute.invokeExact(function, FUNC_MAX_DYNAMIC_SHARED, bytes), "cuFuncSetAttribute");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Queues a kernel; {@code params} is the address of an array of pointers to the argument values. */
    void launch(long function, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes, long stream,
                long params, String name) {
        int r;
        try {
            r = (int) cuLaunchKernel.invokeExact(function, gx, gy, gz, bx, by, bz, sharedBytes, stream, params, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (r != 0) {
            throw new CudaException("cuLaunchKernel(" + name + ", grid " + gx + "x" + gy + "x" + gz + ", block " + bx
                    + "x" + by + "x" + bz + ", " + sharedBytes + " B shared) failed: " + ErrorNames.withHint(errorName(r)), r);
        }
    }

    // ---- events ----------------------------------------------------------------------------------------------

    long createEvent() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(PTR);
            check((int) cuEventCreate.invokeExact(out.address(), 0), "cuEventCreate");
            return out.get(PTR, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void record(long event, long stream) {
        flushGraphs();
        try {
            check((int) cuEventRecord.invokeExact(event, stream), "cuEventRecord");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void eventSynchronize(long event) {
        flushGraphs();
        check(callPtr(cuEventSynchronize, event), "cuEventSynchronize");
    }

    /** Milliseconds between two recorded, completed events. */
    float elapsedMillis(long start, long end) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ValueLayout.JAVA_FLOAT);
            check((int) cuEventElapsedTime.invokeExact(out.address(), start, end), "cuEventElapsedTime");
            return out.get(ValueLayout.JAVA_FLOAT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void destroyEvent(long event) { check(callPtr(cuEventDestroy, event), "cuEventDestroy_v2"); }

    // ---- graphs ----------------------------------------------------------------------------------------------

    /** Starts capturing the work queued on {@code stream} (this thread's unsafe calls are refused meanwhile). */
    void beginCapture(long stream) {
        try {
            check((int) cuStreamBeginCapture.invokeExact(stream, STREAM_CAPTURE_THREAD_LOCAL), "cuStreamBeginCapture_v2");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Ends the capture: the graph of what was queued. */
    long endCapture(long stream) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(PTR);
            check((int) cuStreamEndCapture.invokeExact(stream, out.address()), "cuStreamEndCapture");
            return out.get(PTR, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    long instantiate(long graph) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(PTR);
            check((int) cuGraphInstantiate.invokeExact(out.address(), graph, 0L), "cuGraphInstantiateWithFlags");
            return out.get(PTR, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void graphLaunch(long exec, long stream) {
        try {
            check((int) cuGraphLaunch.invokeExact(exec, stream), "cuGraphLaunch");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void destroyGraphExec(long exec) { check(callPtr(cuGraphExecDestroy, exec), "cuGraphExecDestroy"); }

    void destroyGraph(long graph) {
        if (graph != 0) check(callPtr(cuGraphDestroy, graph), "cuGraphDestroy");
    }

    /** A failed CUDA call: the message names the call and the error. */
    static final class CudaException extends CramjetException {
        final int code;

        CudaException(String message, int code) {
            super(message);
            this.code = code;
        }
    }
}
