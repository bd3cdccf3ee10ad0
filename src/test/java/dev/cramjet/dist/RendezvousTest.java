package dev.cramjet.dist;

import dev.cramjet.CramjetException;
import org.junit.jupiter.api.Test;

import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** The TCP rendezvous that hands NCCL's id from rank 0 to the others, with ranks as threads on loopback. */
class RendezvousTest {
    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** Starts ranks (rank, world size each) on threads; returns what each got or threw. */
    private static List<Future<byte[]>> start(ExecutorService pool, int port, double timeout, int[][] ranks) {
        List<Future<byte[]>> out = new ArrayList<>();
        for (int[] rw : ranks) {
            out.add(pool.submit(() -> Rendezvous.share("127.0.0.1", port, rw[0], rw[1], rw[0] == 0 ? new byte[] {7, 8, 9} : new byte[3], timeout)));
        }
        return out;
    }

    private static String failure(Future<byte[]> f) throws Exception {
        try {
            f.get(30, TimeUnit.SECONDS);
            return null;
        } catch (java.util.concurrent.ExecutionException e) {
            assertInstanceOf(CramjetException.class, e.getCause());
            return e.getCause().getMessage();
        }
    }

    @Test
    void everyRankGetsRankZerosBytesWhicheverStartsFirst() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            int port = freePort();
            List<Future<byte[]>> ranks = start(pool, port, 20, new int[][] {{3, 4}, {1, 4}, {2, 4}});
            Thread.sleep(300);  // the others retry until rank 0 listens
            ranks.addAll(start(pool, port, 20, new int[][] {{0, 4}}));
            for (Future<byte[]> f : ranks) assertArrayEquals(new byte[] {7, 8, 9}, f.get(30, TimeUnit.SECONDS));
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aRankThatNeverJoinsIsNamedWhenTheTimeoutEnds() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<byte[]>> ranks = start(pool, freePort(), 1.5, new int[][] {{0, 3}, {1, 3}});
            String msg = failure(ranks.get(0));
            assertEquals("rank 0: rendezvous at 127.0.0.1:" + msg.split(":")[2].split(" ")[0] + " failed: rank 2 of 3 did not join within 2 s"
                    + " (not started, crashed, or pointed at another MASTER_ADDR:MASTER_PORT)", msg);
            assertTrue(failure(ranks.get(1)).startsWith("rank 1: rendezvous at 127.0.0.1:"), "the waiting rank gives up too");
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aRankWithAnotherWorldSizeIsRefusedByName() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<byte[]>> ranks = start(pool, freePort(), 10, new int[][] {{0, 2}, {1, 3}});
            String msg = failure(ranks.get(0));
            assertTrue(msg.endsWith("failed: refused rank 1 with world size 3 (rank 0 has 2): every rank must have the same WORLD_SIZE and its own RANK"), msg);
            assertNotNull(failure(ranks.get(1)));
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void noRankZeroMeansAClearMessageOnTheOthers() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(1);
        try {
            String msg = failure(start(pool, freePort(), 1, new int[][] {{1, 2}}).getFirst());
            assertTrue(msg.contains("rank 0 did not hand out the id within 1 s") && msg.contains("are MASTER_ADDR and MASTER_PORT"), msg);
        } finally {
            pool.shutdownNow();
        }
    }
}
