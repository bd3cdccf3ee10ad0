package dev.cramjet.engine.cuda;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Mask;
import dev.cramjet.engine.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The backend's host side against a fake driver, NVRTC and cuBLASLt (fake_cuda.c, built with gcc): device memory
 * is host memory there, so the FFM bindings, library loading, staging, copies, fills, the kernel cache, the
 * launch argument blocks and the device-error flag are all exercised for real without a GPU. Kernels and GEMMs do
 * not run; their launches are recorded and checked. Skipped without gcc, or where a real driver is installed.
 */
class FakeDriverTest {
    @TempDir
    static Path libs;
    private static MethodHandle launches, arg, grid, block, gemms, live, compiles;

    @BeforeAll
    static void buildFake() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/gcc")), "gcc not installed");
        try {
            SymbolLookup.libraryLookup("libcuda.so.1", Arena.global());
            Assumptions.abort("a real CUDA driver is installed");
        } catch (IllegalArgumentException expected) {
            // no driver: the fake stands in
        }
        Path src = Path.of(FakeDriverTest.class.getResource("/dev/cramjet/engine/cuda/fake_cuda.c").toURI());
        Path so = libs.resolve("libfake.so");
        Nvcc.Run r = Nvcc.run(List.of("/usr/bin/gcc", "-shared", "-fPIC", "-O1", "-o", so.toString(), src.toString()), null);
        assertEquals(0, r.status(), r.output());
        for (String name : List.of("libcuda.so.1", "libnvrtc.so.12", "libcublasLt.so.12")) Files.copy(so, libs.resolve(name));
        // Three copies of one object: each keeps its own counters, so read each from the copy the backend uses.
        SymbolLookup fake = SymbolLookup.libraryLookup(libs.resolve("libcuda.so.1"), Arena.global());
        SymbolLookup fakeNvrtc = SymbolLookup.libraryLookup(libs.resolve("libnvrtc.so.12"), Arena.global());
        SymbolLookup fakeLt = SymbolLookup.libraryLookup(libs.resolve("libcublasLt.so.12"), Arena.global());
        Linker linker = Linker.nativeLinker();
        FunctionDescriptor noArgs = FunctionDescriptor.of(ValueLayout.JAVA_LONG);
        FunctionDescriptor intArg = FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT);
        launches = linker.downcallHandle(fake.find("fake_launches").orElseThrow(), noArgs);
        gemms = linker.downcallHandle(fakeLt.find("fake_gemms").orElseThrow(), noArgs);
        live = linker.downcallHandle(fake.find("fake_live_allocations").orElseThrow(), noArgs);
        compiles = linker.downcallHandle(fakeNvrtc.find("fake_compiles").orElseThrow(), noArgs);
        arg = linker.downcallHandle(fake.find("fake_arg").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
        grid = linker.downcallHandle(fake.find("fake_grid").orElseThrow(), intArg);
        block = linker.downcallHandle(fake.find("fake_block").orElseThrow(), intArg);
    }

    private Path cache;
    private CudaBackend be;

    @BeforeEach
    void open() throws Exception {
        cache = Files.createTempDirectory(libs, "kernel-cache");
        be = open(cache);
    }

    private static CudaBackend open(Path cache) {
        LibraryFinder finder = new LibraryFinder(Map.of("CRAMJET_CUDA_LIB", libs.toString()), libs.resolve("no-root"), libs.resolve("no-home"));
        return new CudaBackend(finder, 0, cache);
    }

    @AfterEach
    void close() throws Throwable {
        long before = (long) live.invokeExact();
        be.close();
        long after = (long) live.invokeExact();
        assertTrue(before > 0, "the backend holds device memory while open");
        assertEquals(0, after, "close() frees every allocation");
    }

    private static long ptr(Tensor t) { return ((DeviceStorage) t.storage).pointer + t.dtype().bytes(t.offset); }

    private static long arg(int i) throws Throwable { return (long) arg.invokeExact(i); }

    @Test
    void describesTheDeviceAndWhereTheLibrariesCameFrom() {
        assertTrue(be.describe().startsWith("Fake H100 80GB HBM3, 132 SMs, 80.0 GiB, sm_90, driver CUDA 12.4, NVRTC 12.4"), be.describe());
        assertEquals(DType.BF16, be.computeType());
        assertEquals(libs.resolve("libcublasLt.so.12").toString(), be.libraries().get("cublasLt"));
        assertEquals(989, be.nominalBf16Tflops());
    }

    @Test
    void uploadsAndDownloadsRoundTripAcrossStagingChunks() {
        Random r = new Random(1);
        float[] f = new float[5_000_003];  // 2.4 staging buffers of fp32
        for (int i = 0; i < f.length; i++) f[i] = (float) r.nextGaussian();
        Tensor t32 = be.alloc(DType.F32, f.length);
        be.upload(t32, f);
        float[] back = new float[f.length];
        be.download(t32, back);
        assertArrayEquals(f, back);

        Tensor t16 = be.alloc(DType.BF16, 9_000_001);  // 2.1 staging buffers of bf16
        float[] h = new float[(int) t16.size()];
        for (int i = 0; i < h.length; i++) h[i] = (float) r.nextGaussian() * 1000;
        be.upload(t16, h);
        float[] hb = new float[h.length];
        be.download(t16, hb);
        for (int i = 0; i < h.length; i += 997) assertEquals(Bf16.toFloat(Bf16.round(h[i])), hb[i], 0f);
        assertEquals(Bf16.toFloat(Bf16.round(h[h.length - 1])), hb[h.length - 1], 0f);

        int[] ids = r.ints(3_000_000, 0, 50257).toArray();
        Tensor ti = be.alloc(DType.I32, ids.length);
        be.upload(ti, ids);
        int[] ib = new int[ids.length];
        be.download(ti, ib);
        assertArrayEquals(ids, ib);
    }

    @Test
    void viewsWriteOnlyTheirRangeAndMemoryOpsWork() {
        Tensor whole = be.alloc(DType.F32, 10);
        float[] all = new float[10];
        be.download(whole, all);
        assertArrayEquals(new float[10], all, "alloc zero-fills");
        be.upload(whole.view(3, 4), new float[] {1, 2, 3, 4});
        be.fill(whole.view(8, 2), -2.5f);
        be.download(whole, all);
        assertArrayEquals(new float[] {0, 0, 0, 1, 2, 3, 4, 0, -2.5f, -2.5f}, all);

        Tensor other = be.alloc(DType.F32, 4);
        be.copy(other, whole.view(3, 4));
        be.zero(whole.view(3, 2));
        float[] o = new float[4];
        be.download(other, o);
        assertArrayEquals(new float[] {1, 2, 3, 4}, o);
        be.download(whole, all);
        assertArrayEquals(new float[] {0, 0, 0, 0, 0, 3, 4, 0, -2.5f, -2.5f}, all);

        Tensor h = be.alloc(DType.BF16, 3);
        be.fill(h, 1.00390625f);  // 1 + 2^-8: halfway between bf16 neighbours, rounds to even (1.0)
        float[] hb = new float[3];
        be.download(h, hb);
        assertArrayEquals(new float[] {1, 1, 1}, hb);
        Tensor ints = be.alloc(DType.I32, 2);
        be.fill(ints, 7);
        int[] ib = new int[2];
        be.download(ints, ib);
        assertArrayEquals(new int[] {7, 7}, ib);
        assertTrue(be.allocatedBytes() >= 40 + 16 + 6 + 8 + CublasLt.WORKSPACE_BYTES);
    }

    @Test
    void launchesPassEachArgumentInItsSlot() throws Throwable {
        Tensor in = be.alloc(DType.BF16, 6, 40), out = be.alloc(DType.BF16, 6, 40);
        long before = (long) launches.invokeExact();
        be.gelu(out, in);
        assertEquals(before + 1, (long) launches.invokeExact());
        assertEquals(ptr(out), arg(0));
        assertEquals(ptr(in), arg(1));
        assertEquals(240, arg(2));
        assertEquals(256, (int) block.invokeExact(0));

        be.dropout(out, in, 0.25f, 0x1234_5678_9abcL);
        assertEquals(Float.floatToIntBits(0.25f), (int) arg(3));
        assertEquals(0x1234_5678_9abcL, arg(4));

        Tensor qkv = be.alloc(DType.BF16, 2, 70, 3 * 64), y = be.alloc(DType.BF16, 2, 70, 64), lse = be.alloc(DType.F32, 2, 4, 70);
        be.attention(y, lse, qkv, 4, Mask.CAUSAL);
        assertEquals(ptr(qkv) + 2 * 64, arg(3), "k starts C elements into each qkv row");
        assertEquals(ptr(qkv) + 4 * 64, arg(4), "v starts 2C elements in");
        assertEquals(70, (int) arg(5));
        assertEquals(3 * 64, arg(7), "row stride 3C");
        assertEquals(2, (int) grid.invokeExact(0), "⌈70/64⌉ query blocks");
        assertEquals(8, (int) grid.invokeExact(1), "B·H");
        Tensor lse16 = be.alloc(DType.F32, 2, 16, 70);
        CramjetException bad = assertThrows(CramjetException.class, () -> be.attention(y, lse16, qkv, 16, Mask.CAUSAL));
        assertTrue(bad.getMessage().contains("head size"), bad.getMessage());
    }

    @Test
    void distillationLossesLaunchOneBlockPerRowWithTheirArguments() throws Throwable {
        Tensor student = be.alloc(DType.BF16, 5, 128), teacher = be.alloc(DType.BF16, 5, 128), losses = be.alloc(DType.F32, 5);
        long before = (long) launches.invokeExact();
        be.klDivergence(losses, student, teacher, 101, 2f, 0.25f);
        assertEquals(before + 1, (long) launches.invokeExact());
        assertEquals(ptr(losses), arg(0));
        assertEquals(ptr(student), arg(1));
        assertEquals(ptr(teacher), arg(2));
        assertEquals(101, (int) arg(3));
        assertEquals(128, (int) arg(4));
        assertEquals(Float.floatToIntBits(2f), (int) arg(5));
        assertEquals(Float.floatToIntBits(0.25f), (int) arg(6));
        assertEquals(5, (int) grid.invokeExact(0), "a block per row");
        assertThrows(IllegalArgumentException.class, () -> be.klDivergence(losses, student, teacher, 101, 0f, 1f));

        Tensor a = be.alloc(DType.BF16, 5, 64), b = be.alloc(DType.BF16, 5, 64);
        be.cosineLoss(losses, null, a, b, 1f);
        assertEquals(before + 2, (long) launches.invokeExact());
        assertEquals(0L, arg(1), "no gradient: a null pointer");
        assertEquals(ptr(a), arg(2));
        assertEquals(64, (int) arg(4));
        assertThrows(IllegalArgumentException.class, () -> be.cosineLoss(losses, null, a, teacher, 1f));
    }

    @Test
    void gemmsGoToCublasLtWithFusedEpilogues() throws Throwable {
        Tensor in = be.alloc(DType.BF16, 12, 64), w = be.alloc(DType.BF16, 256, 64), b = be.alloc(DType.BF16, 256);
        Tensor out = be.alloc(DType.BF16, 12, 256), pre = be.alloc(DType.BF16, 12, 256);
        long g0 = (long) gemms.invokeExact(), l0 = (long) launches.invokeExact();
        be.matmul(out, in, w, b, new Epilogue.Gelu(pre));
        assertEquals(g0 + 1, (long) gemms.invokeExact());
        assertEquals(l0, (long) launches.invokeExact(), "GELU runs in the GEMM's epilogue");

        Tensor res = be.alloc(DType.BF16, 12, 64), w2 = be.alloc(DType.BF16, 64, 256);
        be.matmul(res, out, w2, null, new Epilogue.Residual(res, 0f, 0));
        assertEquals(g0 + 2, (long) gemms.invokeExact());
        assertEquals(l0, (long) launches.invokeExact(), "the residual add is the GEMM's beta·C");
        be.matmul(res, out, w2, null, new Epilogue.Residual(res, 0.1f, 5));
        assertEquals(g0 + 3, (long) gemms.invokeExact());
        assertEquals(l0 + 1, (long) launches.invokeExact(), "dropout needs the projection first, then one kernel");
        assertEquals(ptr(res), arg(0));
        assertEquals(ptr(res), arg(1));

        Tensor dout = be.alloc(DType.BF16, 12, 256), din = be.alloc(DType.BF16, 12, 64);
        Tensor dw = be.alloc(DType.F32, 256, 64), db = be.alloc(DType.F32, 256);
        be.matmulBackward(din, dw, db, dout, in, w);
        assertEquals(g0 + 5, (long) gemms.invokeExact(), "din and dweight");
        assertEquals(l0 + 3, (long) launches.invokeExact(), "dbias: partial column sums, then the finish");
        assertEquals(ptr(db), arg(0));
    }

    @Test
    void kernelsCompileOncePerMachineThenComeFromTheCache() throws Throwable {
        Tensor t = be.alloc(DType.BF16, 8);
        long c0 = (long) compiles.invokeExact();
        be.scale(t, 2f);
        be.add(t, t, t);
        assertEquals(c0 + 1, (long) compiles.invokeExact(), "one module per source file");
        try (var stream = Files.list(cache)) {
            assertEquals(1, stream.filter(p -> p.getFileName().toString().matches("elementwise-sm90-[0-9a-f]{16}\\.cubin")).count());
        }
        try (CudaBackend second = open(cache)) {
            Tensor u = second.alloc(DType.BF16, 8);
            second.scale(u, 3f);
            assertEquals(c0 + 1, (long) compiles.invokeExact(), "the second backend loads the cached cubin");
        }
    }

    @Test
    void kernelFlaggedErrorsSurfaceAtTheNextSynchronisation() {
        MemorySegment flag = MemorySegment.ofAddress(be.errorFlag).reinterpret(4);
        flag.set(ValueLayout.JAVA_INT, 0, 1 | 2);  // as embedding_forward and cross_entropy would
        CramjetException e = assertThrows(CramjetException.class, be::synchronize);
        assertTrue(e.getMessage().contains("token id") && e.getMessage().contains("target"), e.getMessage());
        be.synchronize();  // reported once, then cleared
    }

    @Test
    void failedCallsNameTheCallAndTheError() {
        CramjetException e = assertThrows(CramjetException.class, () -> be.alloc(DType.F32, 1 << 30, 32));
        assertTrue(e.getMessage().startsWith("cuMemAlloc_v2 of 137438953472 bytes failed: CUDA_ERROR_OUT_OF_MEMORY (the GPU is out of memory"),
                e.getMessage());
        Tensor f = be.alloc(DType.F32, 4);
        IllegalArgumentException wrong = assertThrows(IllegalArgumentException.class, () -> be.gelu(f, f));
        assertTrue(wrong.getMessage().contains("must be BF16"), wrong.getMessage());
    }
}
