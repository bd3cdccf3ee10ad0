package dev.cramjet.cli;

import dev.cramjet.train.Checkpoints;
import dev.cramjet.train.MetricsLog;
import dev.cramjet.train.TinyData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** SIGTERM to a training process: it saves a checkpoint at the step boundary and exits with status 130. */
class StopSignalTest {
    @TempDir Path tmp;

    @Test
    void sigtermCheckpointsAndExitsCleanly() throws Exception {
        Path data = TinyData.make(Files.createDirectories(tmp.resolve("data")));
        Path run = tmp.resolve("run");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector", "-cp", System.getProperty("java.class.path"),
                "dev.cramjet.cli.Main", "train", "--data", data.toString(), "--out", run.toString(), "--model", "micro",
                "--context", "16", "--batch", "4", "--max-steps", "1000000", "--eval-minutes", "0", "--checkpoint-minutes", "0")
                .redirectErrorStream(true).redirectOutput(tmp.resolve("out.txt").toFile()).start();
        try {
            Path metrics = run.resolve("metrics.jsonl");
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (trainLines(metrics) < 3) {
                assertTrue(p.isAlive(), () -> "exited early: " + read(tmp.resolve("out.txt")));
                assertTrue(System.nanoTime() < deadline, "no training steps within a minute");
                Thread.sleep(50);
            }
            p.destroy(); // SIGTERM
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "still running a minute after SIGTERM");
            assertEquals(130, p.exitValue(), read(tmp.resolve("out.txt")));
        } finally {
            p.destroyForcibly();
        }
        List<Map<String, Object>> lines = MetricsLog.read(run.resolve("metrics.jsonl"));
        long lastStep = lines.stream().filter(m -> m.get("type").equals("train")).mapToLong(m -> (Long) m.get("step")).max().orElseThrow();
        assertEquals(lastStep, new Checkpoints(run.resolve("checkpoints"), 3).latest(m -> fail(m)).orElseThrow().step());
        assertTrue(lines.getLast().get("message").toString().equals("run ended: interrupted (SIGTERM)"), lines.getLast().toString());
        assertTrue(read(tmp.resolve("out.txt")).contains("continue with: cramjet train --resume"));
    }

    private static long trainLines(Path metrics) throws Exception {
        return MetricsLog.read(metrics).stream().filter(m -> "train".equals(m.get("type"))).count();
    }

    private static String read(Path f) {
        try {
            return Files.readString(f);
        } catch (Exception e) {
            return e.toString();
        }
    }
}
