package dev.cramjet.dist;

import dev.cramjet.train.MetricsLog;
import dev.cramjet.train.TinyData;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code cramjet train --nproc 2} end to end on the CPU (the launcher starts two ranks under mpirun): a ZeRO-1 run
 * and its resumption by one process; a rank killed mid-run stops the other at once; a rank that hangs (SIGSTOP)
 * makes the other stop after dist-timeout with a message naming it. Every process is bounded in time. Skipped
 * without Open MPI.
 */
class LocalRanksTest {
    @TempDir static Path tmp;
    static Path data;

    @BeforeAll
    static void data() throws IOException {
        Assumptions.assumeTrue(Processes.mpiAvailable(), "Open MPI (mpirun, libmpi.so.40) is not installed: scripts/setup-openmpi.sh");
        data = TinyData.make(tmp.resolve("data"));
    }

    private static List<String> train(String... args) {
        List<String> a = new ArrayList<>(List.of("train", "--data", data.toString(), "--model", "micro", "--context", "16", "--batch", "4",
                "--eval-tokens", "128", "--checkpoint-minutes", "0", "--samples", "0"));
        a.addAll(List.of(args));
        return Processes.java(List.of(), "dev.cramjet.cli.Main", a);
    }

    private static long trainLines(Path run) throws IOException {
        return MetricsLog.read(run.resolve("metrics.jsonl")).stream().filter(m -> "train".equals(m.get("type"))).count();
    }

    @Test
    void twoRanksTrainWithZeroAndOneProcessResumesTheirCheckpoint() throws Exception {
        Path run = tmp.resolve("zero");
        Processes.Ended e = Processes.run(train("--nproc", "2", "--zero", "1", "--out", run.toString(), "--max-steps", "4",
                "--eval-every", "2", "--checkpoint-every", "2"), tmp.resolve("zero.log"), 240);
        assertEquals(0, e.status(), e.output());
        assertTrue(e.output().contains("data parallel: 2 ranks started by Open MPI, collectives over mpi; optimizer state sharded (ZeRO-1, 1/2 per rank)"), e.output());
        assertTrue(e.output().contains("run ended (budget) at step 4"), e.output());
        assertEquals(1, e.output().split("run ended", -1).length - 1, "only rank 0 reports");
        assertEquals(4, trainLines(run), "only rank 0 writes metrics");
        Path ckpt = run.resolve("checkpoints/step-000000004");
        assertTrue(Files.exists(ckpt.resolve("optimizer-00001-of-00002.safetensors")) && Files.exists(ckpt.resolve("optimizer-00002-of-00002.safetensors")));

        Processes.Ended resumed = Processes.run(Processes.java(List.of(), "dev.cramjet.cli.Main",
                List.of("train", "--resume", run.toString(), "--max-steps", "6", "--zero", "0")), tmp.resolve("resume.log"), 240);
        assertEquals(0, resumed.status(), resumed.output());
        assertTrue(resumed.output().contains("resuming from checkpoints/step-000000004 (step 4)"), resumed.output());
        assertEquals(6, trainLines(run));
        assertTrue(Files.exists(run.resolve("checkpoints/step-000000006").resolve(DataParallel.REPLICATED)), "resharded into the replicated layout");
    }

    @Test
    void theBenchComparesTwoRanksWithOneProcess() throws Exception {
        Processes.Ended e = Processes.run(Processes.java(List.of(), "dev.cramjet.cli.Main",
                List.of("bench", "--nproc", "2", "--preset", "micro", "--batch", "2", "--steps", "1")), tmp.resolve("bench.log"), 240);
        assertEquals(0, e.status(), e.output());
        for (String line : List.of("1 process,  ", "2 ranks,    ", "2 ranks take ", "the exchange is ")) {
            assertTrue(e.output().contains(line), line + " in:\n" + e.output());
        }
    }

    /** Starts a long 2-rank run and waits until both ranks have trained two steps. */
    private static Process startLong(Path run, Path log, String timeout) throws Exception {
        Process p = Processes.start(train("--nproc", "2", "--out", run.toString(), "--max-steps", "1000000", "--eval-minutes", "0",
                "--dist-timeout", timeout), log);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        while (System.nanoTime() < deadline) {
            Heartbeat.Record r0 = Heartbeat.read(run.resolve(".ranks"), 0), r1 = Heartbeat.read(run.resolve(".ranks"), 1);
            if (r0 != null && r1 != null && r0.step() >= 2 && r1.step() >= 2) return p;
            if (!p.isAlive()) fail("the run ended early:\n" + Files.readString(log));
            Thread.sleep(200);
        }
        Processes.kill(p);
        fail("the ranks did not reach step 2:\n" + Files.readString(log));
        return p;
    }

    private static int waitFor(Process p, Path log, int seconds) throws Exception {
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            Processes.kill(p);
            fail("the run did not stop within " + seconds + " s:\n" + Files.readString(log));
        }
        return p.exitValue();
    }

    @Test
    void aKilledRankStopsTheOther() throws Exception {
        Path run = tmp.resolve("killed"), log = tmp.resolve("killed.log");
        Process p = startLong(run, log, "300");
        long pid = Heartbeat.read(run.resolve(".ranks"), 1).pid();
        assertTrue(ProcessHandle.of(pid).orElseThrow().destroyForcibly());
        int status = waitFor(p, log, 30);
        String out = Files.readString(log);
        assertNotEquals(0, status, out);
        assertTrue(out.contains("process rank 1") && out.contains("signal 9"), "mpirun names the dead rank: " + out);
        assertTrue(out.contains("cramjet: mpirun ended the run with status " + status), out);
        ProcessHandle rank0 = ProcessHandle.of(Heartbeat.read(run.resolve(".ranks"), 0).pid()).orElse(null);
        if (rank0 != null) rank0.onExit().get(10, TimeUnit.SECONDS);  // mpirun has stopped it; its exit may trail mpirun's by a moment
    }

    @Test
    void aHungRankMakesTheOtherStopAfterTheTimeoutNamingIt() throws Exception {
        Path run = tmp.resolve("hung"), log = tmp.resolve("hung.log");
        Process p = startLong(run, log, "3");
        long pid = Heartbeat.read(run.resolve(".ranks"), 1).pid();
        try {
            assertEquals(0, new ProcessBuilder("kill", "-STOP", Long.toString(pid)).start().waitFor());
            int status = waitFor(p, log, 60);
            String out = Files.readString(log);
            assertNotEquals(0, status, out);
            assertTrue(out.contains("cramjet: rank 0: ") && out.contains("for the other ranks (dist-timeout 3 s): rank 1 ")
                    && (out.contains("rank 1 is hung: no sign of life for") || out.contains("rank 1 has stopped responding in")),
                    "the waiting rank names the stopped one: " + out);
            assertTrue(out.contains("Exit code:    " + Heartbeat.EXIT_STOPPED) || out.contains("status " + Heartbeat.EXIT_STOPPED), out);
        } finally {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
    }
}
