package dev.cramjet.dist;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;
import dev.cramjet.engine.cuda.CudaBackend;
import dev.cramjet.engine.cuda.LibraryFinder;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The NCCL binding against a fake libnccl and the fake CUDA driver (fake_nccl.c and engine/cuda's fake_cuda.c,
 * built with gcc): device memory is host memory and the ranks are threads, so the collectives really compute. Two
 * ranks meet over the TCP rendezvous and pass every check of {@link CollectiveCheck}; a world of one shows what
 * reaches the library (the backend's stream, counts, NCCL's dtype and op codes); failures carry NCCL's error
 * strings. Skipped without gcc, or where a real CUDA driver is installed.
 */
class NcclCommunicatorTest {
    @TempDir
    static Path libs;
    private static LibraryFinder finder;
    private static MethodHandle lastType, lastOp, lastCount, lastStream, failNext, asyncError;

    @BeforeAll
    static void buildFakes() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/gcc")), "gcc not installed");
        try {
            SymbolLookup.libraryLookup("libcuda.so.1", Arena.global());
            Assumptions.abort("a real CUDA driver is installed");
        } catch (IllegalArgumentException expected) {
            // no driver: the fakes stand in
        }
        Path cuda = Path.of(NcclCommunicatorTest.class.getResource("/dev/cramjet/engine/cuda/fake_cuda.c").toURI());
        Path nccl = Path.of(NcclCommunicatorTest.class.getResource("/dev/cramjet/dist/fake_nccl.c").toURI());
        gcc(cuda, libs.resolve("libfakecuda.so"));
        for (String name : List.of("libcuda.so.1", "libnvrtc.so.12", "libcublasLt.so.12")) Files.copy(libs.resolve("libfakecuda.so"), libs.resolve(name));
        gcc(nccl, libs.resolve("libnccl.so.2"));
        finder = new LibraryFinder(Map.of("CRAMJET_CUDA_LIB", libs.toString()), libs.resolve("no-root"), libs.resolve("no-home"));
        SymbolLookup fake = SymbolLookup.libraryLookup(libs.resolve("libnccl.so.2"), Arena.global());
        Linker linker = Linker.nativeLinker();
        FunctionDescriptor toInt = FunctionDescriptor.of(ValueLayout.JAVA_INT), toLong = FunctionDescriptor.of(ValueLayout.JAVA_LONG);
        FunctionDescriptor intArg = FunctionDescriptor.ofVoid(ValueLayout.JAVA_INT);
        lastType = linker.downcallHandle(fake.find("fake_nccl_last_type").orElseThrow(), toInt);
        lastOp = linker.downcallHandle(fake.find("fake_nccl_last_op").orElseThrow(), toInt);
        lastCount = linker.downcallHandle(fake.find("fake_nccl_last_count").orElseThrow(), toLong);
        lastStream = linker.downcallHandle(fake.find("fake_nccl_last_stream").orElseThrow(), toLong);
        failNext = linker.downcallHandle(fake.find("fake_nccl_fail_next").orElseThrow(), intArg);
        asyncError = linker.downcallHandle(fake.find("fake_nccl_set_async_error").orElseThrow(), intArg);
    }

    private static void gcc(Path src, Path so) throws Exception {
        Process p = new ProcessBuilder("/usr/bin/gcc", "-shared", "-fPIC", "-O1", "-pthread", "-o", so.toString(), src.toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(2, TimeUnit.MINUTES), "gcc timed out");
        assertEquals(0, p.exitValue(), out);
    }

    private static CudaBackend backend() throws Exception {
        return new CudaBackend(finder, 0, Files.createTempDirectory(libs, "kernels"));
    }

    @Test
    void twoRanksMeetOverTheRendezvousAndEveryCollectiveIsExact() throws Exception {
        Nccl nccl = Nccl.load(finder);
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<List<CollectiveCheck.Result>>> ranks = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                int rank = r, p = port;
                ranks.add(pool.submit(() -> {
                    try (CudaBackend be = backend()) {
                        NcclCommunicator comm = NcclCommunicator.open(nccl, be, rank, 2,
                                id -> Rendezvous.share("127.0.0.1", p, rank, 2, id, 30));
                        assertEquals(rank, comm.rank());
                        List<CollectiveCheck.Result> results = CollectiveCheck.run(comm, be);
                        comm.close();
                        return results;
                    }
                }));
            }
            for (int r = 0; r < 2; r++) {
                List<CollectiveCheck.Result> results = ranks.get(r).get(2, TimeUnit.MINUTES);
                assertEquals(15, results.size());
                for (CollectiveCheck.Result c : results) assertTrue(c.passed(), "rank " + r + ": " + c.check() + ": " + c.detail());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void collectivesGoOnTheBackendsStreamInTheTensorsDtype() throws Throwable {
        try (CudaBackend be = backend()) {
            NcclCommunicator comm = NcclCommunicator.single(be, finder);
            assertTrue(comm.describe().startsWith("NCCL 2.21.5 ("), comm.describe());
            Tensor h = be.alloc(DType.BF16, 5), f = be.alloc(DType.F32, 2, 3);
            comm.allReduce(h, Communicator.Op.SUM);
            assertEquals(Nccl.BFLOAT16, (int) lastType.invokeExact());
            assertEquals(Nccl.SUM, (int) lastOp.invokeExact());
            assertEquals(5L, (long) lastCount.invokeExact());
            assertEquals(be.stream(), (long) lastStream.invokeExact(), "queued on the training stream");
            comm.allReduce(f, Communicator.Op.AVG);
            assertEquals(Nccl.FLOAT32, (int) lastType.invokeExact());
            assertEquals(Nccl.AVG, (int) lastOp.invokeExact());
            assertEquals(6L, (long) lastCount.invokeExact());
            double[] numbers = {1.5, -2};
            comm.allReduce(numbers);
            assertEquals(Nccl.FLOAT64, (int) lastType.invokeExact(), "host numbers travel in double precision");
            assertArrayEquals(new double[] {1.5, -2}, numbers);
            IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> comm.allReduce(be.alloc(DType.I32, 3), Communicator.Op.SUM));
            assertTrue(bad.getMessage().contains("not F32 or BF16"), bad.getMessage());
            comm.close();
        }
    }

    @Test
    void failuresCarryNcclsErrorString() throws Throwable {
        try (CudaBackend be = backend()) {
            NcclCommunicator comm = NcclCommunicator.single(be, finder);
            failNext.invokeExact(4);
            CramjetException e = assertThrows(CramjetException.class, () -> comm.allReduce(be.alloc(DType.F32, 4), Communicator.Op.SUM));
            assertTrue(e.getMessage().startsWith("ncclAllReduce failed: invalid argument"), e.getMessage());
            assertTrue(e.getMessage().contains("(fake: injected failure)"), "with ncclGetLastError's text: " + e.getMessage());
            assertNull(comm.asyncError());
            asyncError.invokeExact(6);
            try {
                assertEquals("NCCL: remote process exited or there was a network error (fake: injected failure)", comm.asyncError());
            } finally {
                asyncError.invokeExact(0);
            }
            comm.close();
        }
    }

    @Test
    void aMissingLibraryNamesWhereItLooked() throws Exception {
        Path empty = Files.createTempDirectory(libs, "empty");
        LibraryFinder none = new LibraryFinder(Map.of("CRAMJET_CUDA_LIB", empty.toString()), empty.resolve("no-root"), empty.resolve("no-home"));
        CramjetException e = assertThrows(CramjetException.class, () -> Nccl.load(none));
        assertTrue(e.getMessage().startsWith("libnccl.so not found: NCCL, the collectives between GPUs (pip install nvidia-nccl-cu12) is needed. Looked in:"), e.getMessage());
        assertTrue(e.getMessage().contains(empty.toString()), e.getMessage());
    }
}
