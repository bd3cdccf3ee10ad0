package dev.cramjet.dist;

import dev.cramjet.io.Safetensors;
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
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Data parallelism over Open MPI with two CPU ranks on this machine (mpirun --oversubscribe, shared memory on
 * loopback), each run a real 6-step training of the micro GPT (DpWorker) bounded in time:
 * <ul>
 * <li>2 ranks × micro-batches of 4 give the same losses, gradient norms, weights and optimizer state, bit for
 *     bit, as one process accumulating two micro-batches of 4 (the two gradients are summed in one order either
 *     way);</li>
 * <li>ZeRO-1 combines the shards' norms into the global one and clips by it (losses and norms as the replicated
 *     optimizer's, to the last bits of the clipping factor);</li>
 * <li>a 2-rank ZeRO-1 checkpoint (step 3 of 6) resumes with 2 ranks and, resharded, with 1 process, both bit for
 *     bit as the uninterrupted 2-rank run — so over those steps ZeRO-1 gives exactly the parameters of the
 *     unsharded optimizer (without clipping, whose factor comes from the norm computed either way).</li>
 * </ul>
 * Both sides of every comparison use the same number of threads per process, because the CPU backend's
 * norm-gradient partial sums follow the thread count. Skipped without Open MPI (scripts/setup-openmpi.sh).
 */
class DataParallelTest {
    @TempDir static Path tmp;
    static Path data;
    static final int THREADS = Math.max(1, Runtime.getRuntime().availableProcessors() / 2);
    private static final Map<String, Path> RUNS = new HashMap<>();

    @BeforeAll
    static void data() throws IOException {
        Assumptions.assumeTrue(Processes.mpiAvailable(), "Open MPI (mpirun, libmpi.so.40) is not installed: scripts/setup-openmpi.sh");
        data = TinyData.make(tmp.resolve("data"));
    }

    /**
     * The run {@code name}: {@code ranks} processes, ZeRO-1 or not, clipping at {@code clip} (0: off); with
     * {@code from}, resuming that run's step-3 checkpoint (a copy of it without the later one).
     */
    private static synchronized Path run(String name, int ranks, boolean zero, String clip, String from) throws Exception {
        Path dir = RUNS.get(name);
        if (dir != null) return dir;
        dir = tmp.resolve(name);
        if (from != null) {
            copy(RUNS.get(from), dir);
            removeTree(checkpoint(dir, 6));
        }
        List<String> worker = Processes.java(List.of("-Dcramjet.threads=" + THREADS), DpWorker.class.getName(),
                List.of(data.toString(), dir.toString(), zero ? "1" : "0", clip, from == null ? "new" : "resume"));
        List<String> cmd = ranks == 1 ? worker : Launcher.mpirun(Launcher.find("mpirun", null), ranks, worker);
        Processes.Ended e = Processes.run(cmd, tmp.resolve(name + ".log"), 240);
        assertEquals(0, e.status(), name + " failed:\n" + e.output());
        RUNS.put(name, dir);
        return dir;
    }

    private static void removeTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }

    private static void copy(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path q = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(q);
                else Files.copy(p, q);
            }
        }
    }

    private static List<Map<String, Object>> train(Path run) throws IOException {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Map<String, Object> m : MetricsLog.read(run.resolve("metrics.jsonl"))) {
            if ("train".equals(m.get("type"))) out.add(m);
        }
        return out;
    }

    private static double at(List<Map<String, Object>> lines, int i, String key) { return ((Number) lines.get(i).get(key)).doubleValue(); }

    private static Path checkpoint(Path run, int step) { return run.resolve("checkpoints").resolve(String.format("step-%09d", step)); }

    @Test
    void twoRanksEqualOneProcessAccumulatingTwoMicroBatchesBitForBit() throws Exception {
        Path single = run("single", 1, false, "0.5", null), ranks = run("ranks", 2, false, "0.5", null);
        List<Map<String, Object>> a = train(single), b = train(ranks);
        assertEquals(6, a.size());
        assertEquals(6, b.size());
        for (int i = 0; i < 6; i++) {
            for (String key : List.of("loss", "grad_norm", "lr", "tokens")) {
                assertEquals(at(a, i, key), at(b, i, key), 0.0, "step " + (i + 1) + " " + key);
            }
            assertEquals(2L, b.get(i).get("ranks"));
        }
        assertTrue(at(a, 0, "grad_norm") > 0.5, "clipping is active");
        assertTrue(at(a, 5, "loss") < at(a, 0, "loss"), "the model learns");
        for (String file : List.of("model.safetensors", "optimizer.safetensors")) {
            assertArrayEquals(Files.readAllBytes(checkpoint(single, 6).resolve(file)), Files.readAllBytes(checkpoint(ranks, 6).resolve(file)),
                    file + " at step 6, byte for byte");
        }
        for (int r = 0; r < 2; r++) assertEquals(Heartbeat.State.FINISHED, Heartbeat.read(ranks.resolve(".ranks"), r).state());
    }

    @Test
    void zeroOneClipsByTheNormCombinedFromItsShards() throws Exception {
        List<Map<String, Object>> a = train(run("ranks", 2, false, "0.5", null)), b = train(run("zero-clip", 2, true, "0.5", null));
        for (int i = 0; i < 6; i++) {
            assertEquals(at(a, i, "grad_norm"), at(b, i, "grad_norm"), 1e-5 * at(a, i, "grad_norm"), "step " + (i + 1) + " gradient norm");
            assertEquals(at(a, i, "loss"), at(b, i, "loss"), 1e-5, "step " + (i + 1) + " loss");
        }
        assertEquals(at(a, 0, "loss"), at(b, 0, "loss"), 0.0, "the first step's loss comes before any update");
    }

    @Test
    void aTwoRankZeroCheckpointResumesWithTwoRanksBitForBit() throws Exception {
        Path whole = run("zero", 2, true, "0", null), resumed = run("zero-resumed-2", 2, true, "0", "zero");
        assertArrayEquals(Files.readAllBytes(checkpoint(whole, 6).resolve("model.safetensors")),
                Files.readAllBytes(checkpoint(resumed, 6).resolve("model.safetensors")), "resumed equals uninterrupted, bit for bit");
        List<Map<String, Object>> a = train(whole), b = train(resumed);
        assertEquals(6, b.size(), "metrics keep the first half and add the second");
        for (int i = 0; i < 6; i++) assertEquals(at(a, i, "loss"), at(b, i, "loss"), 0.0, "step " + (i + 1));
        Path ckpt = checkpoint(whole, 6);
        assertFalse(Files.exists(ckpt.resolve(DataParallel.REPLICATED)));
        try (Safetensors.Reader r0 = Safetensors.open(ckpt.resolve("optimizer-00001-of-00002.safetensors"));
             Safetensors.Reader r1 = Safetensors.open(ckpt.resolve("optimizer-00002-of-00002.safetensors"))) {
            long half = r0.entry("m").numel();
            assertEquals("0", r0.metadata().get("first"));
            assertEquals(Long.toString(half), r1.metadata().get("first"));
            assertEquals(Long.parseLong(r0.metadata().get("total")), half + r1.entry("m").numel(), "the shards tile the gradient layout");
            assertEquals(0, half % DataParallel.ALIGN);
            assertEquals("6", r1.metadata().get("step"));
        }
        String manifest = Files.readString(ckpt.resolve("manifest.json"));
        assertTrue(manifest.contains("optimizer-00001-of-00002.safetensors") && manifest.contains("optimizer-00002-of-00002.safetensors"),
                "the manifest, written last, lists every shard: " + manifest);
    }

    @Test
    void aTwoRankZeroCheckpointResumesInOneProcessByReshardingBitForBit() throws Exception {
        Path whole = run("zero", 2, true, "0", null), resumed = run("zero-resumed-1", 1, false, "0", "zero");
        List<Map<String, Object>> a = train(whole), b = train(resumed);
        for (int i = 3; i < 6; i++) assertEquals(at(a, i, "loss"), at(b, i, "loss"), 0.0, "step " + (i + 1));
        assertArrayEquals(Files.readAllBytes(checkpoint(whole, 6).resolve("model.safetensors")),
                Files.readAllBytes(checkpoint(resumed, 6).resolve("model.safetensors")),
                "one process continuing from the shards reaches the sharded run's weights, bit for bit");
        assertTrue(Files.exists(checkpoint(resumed, 6).resolve(DataParallel.REPLICATED)), "one process writes the replicated layout");
    }
}
