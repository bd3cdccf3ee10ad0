package dev.cramjet.dist;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every collective over the real Open MPI (`cramjet selftest --collectives --device cpu`), in a world of one
 * (MPI's singleton mode: no mpirun) and with two ranks under mpirun: f32 and bf16, in place and not, tensors that
 * span several of the staging chunks. Each in its own JVM: MPI is initialised once per process. Skipped without
 * Open MPI.
 */
class MpiCommunicatorTest {
    @TempDir static Path tmp;

    @BeforeAll
    static void mpi() {
        Assumptions.assumeTrue(Processes.mpiAvailable(), "Open MPI (mpirun, libmpi.so.40) is not installed: scripts/setup-openmpi.sh");
    }

    private static final List<String> SELFTEST = List.of("selftest", "--collectives", "--device", "cpu");

    @Test
    void aWorldOfOneRunsEveryCollective() throws Exception {
        Processes.Ended e = Processes.run(Processes.java(List.of(), "dev.cramjet.cli.Main", SELFTEST), tmp.resolve("one.log"), 120);
        assertEquals(0, e.status(), e.output());
        assertTrue(e.output().contains("rank 0 of 1: collectives 15 passed, 0 failed"), e.output());
    }

    @Test
    void cpuRanksThatMpiDidNotStartAreRefusedWithTheReason() throws Exception {
        Path data = dev.cramjet.train.TinyData.make(tmp.resolve("data"));
        Processes.Ended e = Processes.run(Processes.java(List.of(), "dev.cramjet.cli.Main", List.of("train", "--data", data.toString(),
                "--out", tmp.resolve("run").toString(), "--model", "micro", "--context", "16", "--max-steps", "1")),
                java.util.Map.of("RANK", "0", "WORLD_SIZE", "2", "MASTER_ADDR", "127.0.0.1"), tmp.resolve("torchrun.log"), 120);
        assertEquals(2, e.status(), e.output());
        assertTrue(e.output().contains("cramjet train: torchrun says this is rank 0 of 2, but MPI sees rank 0 of 1: CPU ranks talk over MPI,"
                + " so start them with mpirun (or cramjet train --nproc N)"), e.output());
    }

    @Test
    void twoRanksUnderMpirunGetExactResults() throws Exception {
        List<String> cmd = Launcher.mpirun(Launcher.find("mpirun", null), 2, Processes.java(List.of(), "dev.cramjet.cli.Main", SELFTEST));
        Processes.Ended e = Processes.run(cmd, tmp.resolve("two.log"), 180);
        assertEquals(0, e.status(), e.output());
        for (int r = 0; r < 2; r++) assertTrue(e.output().contains("rank " + r + " of 2: collectives 15 passed, 0 failed"), e.output());
        assertTrue(e.output().contains("rank 1 of 2: broadcast from rank 1 f32 [3000007]"), e.output());
    }
}
