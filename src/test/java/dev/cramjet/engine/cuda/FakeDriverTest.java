package dev.cramjet.engine.cuda;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Accelerator;
import dev.cramjet.engine.Backends;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Glu;
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
 * not run; their launches are recorded and checked (EmulatedGpuTest runs them). Skipped without gcc, or where a real
 * driver is installed.
 */
class FakeDriverTest {
    @TempDir
    static Path libs;
    private static MethodHandle launches, arg, grid, block, shared, gemms, live, compiles, graphLaunches, refuseCapture;

    @BeforeAll
    static void buildFake() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/gcc")), "gcc not installed");
        Assumptions.assumeFalse(CudaDriver.installed(), "a real CUDA driver is installed");
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
        graphLaunches = linker.downcallHandle(fake.find("fake_graph_launches").orElseThrow(), noArgs);
        refuseCapture = linker.downcallHandle(fake.find("fake_refuse_capture").orElseThrow(), FunctionDescriptor.ofVoid(ValueLayout.JAVA_INT));
        gemms = linker.downcallHandle(fakeLt.find("fake_gemms").orElseThrow(), noArgs);
        live = linker.downcallHandle(fake.find("fake_live_allocations").orElseThrow(), noArgs);
        compiles = linker.downcallHandle(fakeNvrtc.find("fake_compiles").orElseThrow(), noArgs);
        arg = linker.downcallHandle(fake.find("fake_arg").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
        grid = linker.downcallHandle(fake.find("fake_grid").orElseThrow(), intArg);
        block = linker.downcallHandle(fake.find("fake_block").orElseThrow(), intArg);
        shared = linker.downcallHandle(fake.find("fake_shared").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT));
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

    private static long launches() throws Throwable { return (long) launches.invokeExact(); }

    private static long gemms() throws Throwable { return (long) gemms.invokeExact(); }

    @Test
    void repeatedWorkReplaysAsAGraphOnlyWhileItIsTheSame() throws Throwable {
        // The region: a memset, a GEMM (the fake computes it) and a kernel launch. Its input changes between runs
        // (uploaded outside), its operations do not.
        Tensor in = be.alloc(DType.BF16, 4, 16), w = be.alloc(DType.BF16, 8, 16), out = be.alloc(DType.BF16, 4, 8);
        Tensor scratch = be.alloc(DType.F32, 32), act = be.alloc(DType.BF16, 4, 8);
        float[] weights = new float[8 * 16];
        for (int i = 0; i < weights.length; i++) weights[i] = (i % 7) - 3;
        be.upload(w, weights);
        float[] p = {0.1f};
        Runnable work = () -> {
            be.fill(scratch, 2f);
            be.matmul(out, in, w, null, Epilogue.NONE);
            be.dropout(act, out, p[0], 5L);
        };
        long g0 = (long) graphLaunches.invokeExact();
        for (int run = 0; run < 4; run++) {
            float[] x = new float[4 * 16];
            for (int i = 0; i < x.length; i++) x[i] = (i + run) % 5;
            be.upload(in, x);
            long l0 = launches();
            be.repeat(work);
            assertEquals(l0 + 1, launches(), "run " + run + ": the dropout kernel ran once, replayed or not");
            float[] y = new float[4 * 8];
            be.download(out, y);
            for (int r = 0; r < 4; r++) {
                for (int o = 0; o < 8; o++) {
                    float e = 0;
                    for (int k = 0; k < 16; k++) e += x[r * 16 + k] * weights[o * 16 + k];
                    assertEquals(e, y[r * 8 + o], 1e-6f * Math.max(1, Math.abs(e)) * 16, "run " + run + " out[" + r + "][" + o + "]");
                }
            }
        }
        // Runs 1 and 2 ran as recorded (the second was then captured and launched), 3 and 4 replayed the graph.
        assertEquals(g0 + 3, (long) graphLaunches.invokeExact());
        assertEquals(new Accelerator.GraphStats(2, 1, null), be.graphStats());

        p[0] = 0.5f;  // a different argument: the work runs as it is, the graph stays unused
        be.repeat(work);
        assertEquals(g0 + 3, (long) graphLaunches.invokeExact());
        long l0 = launches();
        be.repeat(() -> {  // a host transfer inside ends the recording there; everything still runs, in order
            be.dropout(act, out, 0.25f, 6L);
            be.upload(in, new float[4 * 16]);
            be.dropout(act, out, 0.25f, 7L);
        });
        assertEquals(l0 + 2, launches());
        assertEquals(g0 + 3, (long) graphLaunches.invokeExact());
    }

    @Test
    void aRefusedCaptureTurnsGraphsOffAndTheWorkStillRuns() throws Throwable {
        Tensor in = be.alloc(DType.BF16, 2, 8), out = be.alloc(DType.BF16, 2, 8);
        refuseCapture.invokeExact(1);
        try {
            long g0 = (long) graphLaunches.invokeExact(), l0 = launches();
            for (int run = 0; run < 4; run++) be.repeat(() -> be.dropout(out, in, 0.5f, 3L));
            assertEquals(l0 + 4, launches(), "every run's kernel ran, the one whose capture failed too");
            assertEquals(g0, (long) graphLaunches.invokeExact());
            Accelerator.GraphStats stats = be.graphStats();
            assertEquals(0, stats.captures());
            assertTrue(stats.off() != null && stats.off().contains("CUDA_ERROR_STREAM_CAPTURE_INVALIDATED"), stats.off());
        } finally {
            refuseCapture.invokeExact(0);
        }
    }

    @Test
    void describesTheDeviceAndWhereTheLibrariesCameFrom() {
        assertTrue(be.describe().startsWith("NVIDIA H100 80GB HBM3, 132 SMs, 80.0 GiB, sm_90, driver CUDA 12.4, NVRTC 12.4"), be.describe());
        assertEquals(DType.BF16, be.computeType());
        assertEquals(libs.resolve("libcublasLt.so.12").toString(), be.libraries().get("cublasLt"));
        assertEquals(989e12, be.peakFlops(), "the data-sheet peak of the device the fake names");
        assertEquals(be, Backends.accelerator(be).orElseThrow(), "commands reach the extras through Backends");
        assertEquals(132, be.multiprocessors());
        assertArrayEquals(new long[] {70L << 30, 80L << 30}, be.memoryInfo());
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
        assertEquals(ptr(qkv), arg(2));
        assertEquals(0, arg(3), "no lengths: every sequence is whole");
        assertEquals(1, (int) arg(4), "causal");
        assertEquals(70, (int) arg(5));
        assertEquals(64, (int) arg(6));
        assertEquals(4, (int) arg(7));
        assertEquals(be.gpu.errorFlag, arg(8));
        assertEquals(2, (int) grid.invokeExact(0), "⌈70/64⌉ query blocks");
        assertEquals(8, (int) grid.invokeExact(1), "B·H");
        assertEquals(128, (int) block.invokeExact(0), "four warps of 16 query rows");
        Tensor lengths = be.alloc(DType.I32, 2);
        be.attention(y, lse, qkv, 4, Mask.BIDIRECTIONAL.padded(lengths));
        assertEquals(ptr(lengths), arg(3));
        assertEquals(0, (int) arg(4), "bidirectional");
        Tensor dqkv = be.alloc(DType.BF16, 2, 70, 3 * 64);
        long l0 = launches();
        be.attentionBackward(dqkv, y, qkv, y, lse, 4, Mask.CAUSAL.padded(lengths));
        assertEquals(l0 + 3, launches(), "D, then the key/value pass, then the query pass");
        assertEquals(ptr(lengths), arg(5));
        assertEquals(1, (int) arg(6));
        IllegalArgumentException wrongBatch = assertThrows(IllegalArgumentException.class,
                () -> be.attention(y, lse, qkv, 4, Mask.CAUSAL.padded(be.alloc(DType.I32, 3))));
        assertTrue(wrongBatch.getMessage().contains("mask lengths"), wrongBatch.getMessage());
        Tensor lse16 = be.alloc(DType.F32, 2, 16, 70), lse8 = be.alloc(DType.F32, 2, 8, 70);
        CramjetException bad = assertThrows(CramjetException.class, () -> be.attention(y, lse16, qkv, 16, Mask.CAUSAL));
        assertTrue(bad.getMessage().contains("head size"), bad.getMessage());
        CramjetException notTc = assertThrows(CramjetException.class, () -> be.attention(y, lse8, qkv, 8, Mask.CAUSAL));
        assertTrue(notTc.getMessage().contains("a multiple of 16"), notTc.getMessage());
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
        be.matmulBackward(din, null, null, dout, in, w);
        assertEquals(g0 + 6, gemms(), "a frozen weight costs no weight-gradient GEMM");
        assertEquals(l0 + 3, launches());
        be.matmulBackward(null, null, null, dout, in, w);
        assertEquals(g0 + 6, gemms(), "nothing asked, nothing done");
    }

    @Test
    void frozenNormsAndEmbeddingsSkipTheirParameterGradients() throws Throwable {
        int n = 100, c = 48;
        Tensor x = be.alloc(DType.BF16, n, c), w = be.alloc(DType.BF16, c), stat = be.alloc(DType.F32, n), stat2 = be.alloc(DType.F32, n);
        Tensor db = be.alloc(DType.F32, c);
        long l0 = launches();
        be.layerNormBackward(x, null, null, x, x, w, stat, stat2);
        assertEquals(l0 + 1, launches(), "no parameter gradients: the kernel alone");
        assertEquals(0, arg(1), "no weight partials");
        assertEquals(0, arg(2), "no bias partials");
        assertEquals(0, (int) shared.invokeExact(), "no shared accumulators");
        assertEquals(13, (int) grid.invokeExact(0), "one warp per row: ⌈100/8⌉ blocks");
        be.layerNormBackward(x, null, db, x, x, w, stat, stat2);
        assertEquals(l0 + 3, launches(), "kernel, then only the bias reduction");
        assertEquals(ptr(db), arg(0));
        be.rmsNormBackward(x, null, x, x, w, stat);
        assertEquals(l0 + 4, launches());
        assertEquals(0, arg(1), "a frozen RMSNorm weight gets no partials");

        Tensor tok = be.alloc(DType.I32, 4, 25), dwpe = be.alloc(DType.F32, 25, c);
        be.embeddingBackward(null, null, x, tok);
        assertEquals(l0 + 4, launches(), "both tables frozen: nothing to do");
        be.embeddingBackward(null, dwpe, x, tok);
        assertEquals(l0 + 6, launches(), "positions only: the two-pass column sum");
    }

    @Test
    void q8WeightsAreBlocksOnTheDevice() throws Throwable {
        IllegalArgumentException ragged = assertThrows(IllegalArgumentException.class, () -> be.alloc(DType.Q8_0, 2, 40));
        assertTrue(ragged.getMessage().contains("whole blocks of 32"), ragged.getMessage());
        Tensor q = be.alloc(DType.Q8_0, 4, 64);
        assertEquals(ptr(q) + 68, ptr(q.view(64, 64)), "row 1 starts after two 34-byte blocks");
        IllegalArgumentException split = assertThrows(IllegalArgumentException.class, () -> be.zero(q.view(16, 32)));
        assertTrue(split.getMessage().contains("not whole blocks of 32"), split.getMessage());

        byte[] raw = new byte[265_000 * 34];  // 1.07 staging buffers
        new Random(5).nextBytes(raw);
        Tensor big = be.alloc(DType.Q8_0, 265_000, 32);
        be.upload(big, raw);
        byte[] back = new byte[raw.length];
        be.download(big, back);
        assertArrayEquals(raw, back, "raw blocks round-trip byte for byte");
        IllegalArgumentException shortBlocks = assertThrows(IllegalArgumentException.class, () -> be.upload(q, new byte[100]));
        assertTrue(shortBlocks.getMessage().contains("100 bytes for Q8_0[4, 64] (272 bytes)"), shortBlocks.getMessage());

        // fp32 values are quantized on the device, one staging chunk (2Mi floats) at a time.
        Tensor w = be.alloc(DType.Q8_0, 4_400_000 / 32, 32);
        long l0 = launches();
        be.upload(w, new float[4_400_000]);
        assertEquals(l0 + 3, launches(), "2.1 chunks: three quantize launches");
        assertEquals(ptr(w) + 2L * (1 << 21) / 32 * 34, arg(0), "the last chunk's blocks");
        assertEquals((4_400_000 - 2 * (1 << 21)) / 32, arg(2), "blocks in the last chunk");
        Tensor f = be.alloc(DType.F32, 4, 64);
        be.copy(q, f);
        assertEquals(l0 + 4, launches(), "F32 → Q8_0 is one quantize launch");
        assertEquals(ptr(q), arg(0));
        assertEquals(ptr(f), arg(1));
        be.copy(f, q);
        assertEquals(l0 + 5, launches(), "Q8_0 → F32 expands");
        assertEquals(256, arg(2), "values");
        IllegalArgumentException ints = assertThrows(IllegalArgumentException.class, () -> be.copy(q, be.alloc(DType.I32, 4, 64)));
        assertTrue(ints.getMessage().contains("cannot convert"), ints.getMessage());
    }

    @Test
    void int8MatmulIsAGemvForFewRowsAndCublasAfterExpandingForMany() throws Throwable {
        Tensor w = be.alloc(DType.Q8_0, 96, 64), bias = be.alloc(DType.BF16, 96);
        Tensor few = be.alloc(DType.BF16, 3, 64), fewOut = be.alloc(DType.BF16, 3, 96);
        long g0 = gemms(), l0 = launches();
        be.matmul(fewOut, few, w, bias, Epilogue.NONE);
        assertEquals(g0, gemms(), "decoding reads the int8 quants directly");
        assertEquals(l0 + 1, launches());
        assertEquals(ptr(fewOut), arg(0));
        assertEquals(ptr(w), arg(2));
        assertEquals(ptr(bias), arg(3));
        assertEquals(3, (int) arg(4));
        assertEquals(12, (int) grid.invokeExact(0), "one warp per output row, 8 per block");
        be.matmul(fewOut, few, w, null, new Epilogue.Gelu(null));
        assertEquals(l0 + 3, launches(), "the GEMV, then the GELU pass");

        Tensor many = be.alloc(DType.BF16, 40, 64), manyOut = be.alloc(DType.BF16, 40, 96);
        be.matmul(manyOut, many, w, bias, Epilogue.NONE);
        assertEquals(g0 + 1, gemms(), "a prompt goes to cuBLASLt");
        assertEquals(l0 + 4, launches(), "after one expansion of W to bf16");
        assertEquals(ptr(w), arg(1));
        assertEquals(96 * 64, arg(2));
        IllegalArgumentException frozen = assertThrows(IllegalArgumentException.class,
                () -> be.matmulBackward(many, null, null, manyOut, many, w));
        assertTrue(frozen.getMessage().contains("must be BF16"), frozen.getMessage());
    }

    @Test
    void poolingZeroesTheGradientThenScattersEachSegment() throws Throwable {
        Tensor in = be.alloc(DType.BF16, 10, 16), out = be.alloc(DType.BF16, 3, 16), seg = be.alloc(DType.I32, 3, 2);
        long l0 = launches();
        be.pool(out, in, seg);
        assertEquals(l0 + 1, launches());
        assertEquals(3, (int) grid.invokeExact(0), "one block per segment");
        assertEquals(10, (int) arg(3), "rows of in, for the device's range check");
        be.fill(in, 5f);
        be.poolBackward(in, out, seg);
        assertEquals(l0 + 2, launches());
        float[] din = new float[160];
        be.download(in, din);
        assertArrayEquals(new float[160], din, "din is cleared before the segments add into it");
        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class, () -> be.pool(out, in, be.alloc(DType.I32, 3)));
        assertTrue(shape.getMessage().contains("is not [3, 2]"), shape.getMessage());
    }

    @Test
    void gatedUnitsPassTheirKind() throws Throwable {
        Tensor in = be.alloc(DType.BF16, 5, 32), out = be.alloc(DType.BF16, 5, 16);
        be.glu(out, in, Glu.SWIGLU);
        assertEquals(0, (int) arg(4));
        be.glu(out, in, Glu.GEGLU);
        assertEquals(1, (int) arg(4));
        be.gluBackward(in, out, in, Glu.GEGLU);
        assertEquals(1, (int) arg(5));
    }

    @Test
    void benchExtrasTimeOpsByFamilyAndMeasureTheGemmCeiling() {
        Tensor in = be.alloc(DType.BF16, 8, 64), out = be.alloc(DType.BF16, 8, 64), w = be.alloc(DType.BF16, 64, 64);
        be.gelu(out, in);
        assertTrue(be.kernelMillis().isEmpty(), "nothing is timed until profiling starts");
        be.profile(true);
        be.gelu(out, in);
        be.gelu(out, in);
        be.matmul(out, in, w, null, Epilogue.NONE);
        Map<String, Double> ms = be.kernelMillis();  // the fake's events are always 1.5 ms apart
        assertEquals(Map.of("elementwise", 3.0, "matmul", 1.5), ms);
        assertEquals(List.of("elementwise", "matmul"), List.copyOf(ms.keySet()), "largest first");
        assertTrue(be.kernelMillis().isEmpty(), "each call reports the time since the last");
        be.profile(false);
        be.gelu(out, in);
        assertTrue(be.kernelMillis().isEmpty());
        assertEquals(2.0 * 64 * 64 * 64 / 1.5e-3, be.gemmCeilingFlops(64, 2), 1e-3);
        long peak = be.peakAllocatedBytes();
        assertTrue(peak >= be.allocatedBytes(), peak + " vs " + be.allocatedBytes());
        be.alloc(DType.F32, 1 << 20);
        assertTrue(be.peakAllocatedBytes() >= peak + (4 << 20), "a new tensor raises the peak");
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
        MemorySegment flag = MemorySegment.ofAddress(be.gpu.errorFlag).reinterpret(4);
        flag.set(ValueLayout.JAVA_INT, 0, 1 | 2);  // as embedding_forward and cross_entropy would
        CramjetException e = assertThrows(CramjetException.class, be::synchronize);
        assertTrue(e.getMessage().contains("token id") && e.getMessage().contains("target"), e.getMessage());
        be.synchronize();  // reported once, then cleared
        flag.set(ValueLayout.JAVA_INT, 0, 4 | 8);  // as the attention and pooling kernels would
        CramjetException masks = assertThrows(CramjetException.class, () -> be.download(be.alloc(DType.F32, 1), new float[1]));
        assertTrue(masks.getMessage().contains("mask length") && masks.getMessage().contains("segment"), masks.getMessage());
    }

    @Test
    void failedCallsNameTheCallAndTheError() {
        CramjetException e = assertThrows(CramjetException.class, () -> be.alloc(DType.F32, 1 << 30, 32));
        assertTrue(e.getMessage().startsWith("cuMemAlloc_v2 of 137438953472 bytes failed: CUDA_ERROR_OUT_OF_MEMORY (the GPU is out of memory"),
                e.getMessage());
        Tensor f = be.alloc(DType.F32, 4);
        IllegalArgumentException wrong = assertThrows(IllegalArgumentException.class, () -> be.gelu(f, f));
        assertTrue(wrong.getMessage().contains("must be BF16"), wrong.getMessage());
        IllegalArgumentException fraction = assertThrows(IllegalArgumentException.class, () -> be.fill(be.alloc(DType.I32, 2), 1.5f));
        assertTrue(fraction.getMessage().contains("1.5 into I32"), fraction.getMessage());
    }
}
