package dev.cramjet.cli;

import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.train.TinyData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class PlanCommandTest {
    @Test
    void plansTheDataParallelLayoutForSeveralGpus() {
        java.io.PrintStream old = System.out;
        java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
        System.setOut(new java.io.PrintStream(buf, true, java.nio.charset.StandardCharsets.UTF_8));
        int rc;
        try {
            rc = Main.run(new String[] {"plan", "--gpus", "8", "--interconnect", "pcie", "--gpu", "l4", "--layers", "24", "--width", "2048",
                "--heads", "16", "--batch", "4"});
        } finally {
            System.setOut(old);
        }
        String out = buf.toString(java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(0, rc, out);
        assertTrue(out.contains("model: 1313.7M parameters"), out);
        assertTrue(out.contains("memory per GPU, replicated: 29.35 GB") && out.contains("does not fit in 22 GB usable"), out);
        assertTrue(out.contains("layout: data parallel with ZeRO-1 (--zero 1)"), out);
        assertEquals(2, Main.run(new String[] {"plan", "--gpus", "8"}), "--interconnect is required");
    }

    /** The throughput probe trains real steps (gradient norm, then update), so it must run a whole step. */
    @Test
    void measuresTrainingThroughputOfAPlannerShape() {
        try (CpuBackend cpu = new CpuBackend()) {
            double flops = PlanCommand.throughput(cpu, 2, 64, 16, 2, 0.05);
            assertTrue(flops > 1e6 && Double.isFinite(flops), "FLOP/s " + flops);
        }
    }

    /** --corpus-tokens plans for a corpus larger than the data at hand: no longer capped by the data's epochs. */
    @Test
    void plansForAnAssumedCorpusSize(@TempDir Path dir) throws Exception {
        Path data = TinyData.make(Files.createDirectories(dir.resolve("data")));
        String small = plan(data, "--budget", "1h"), large = plan(data, "--budget", "1h", "--corpus-tokens", "2G");
        assertTrue(small.contains("data-limited"), small);
        assertTrue(large.contains("2,000,000,000 training tokens (--corpus-tokens;") && !large.contains("data-limited"), large);
    }

    private static String plan(Path data, String... more) {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            String[] base = {"plan", "--data", data.toString(), "--context", "16", "--batch", "2", "--bench", "0.2s"};
            String[] argv = java.util.Arrays.copyOf(base, base.length + more.length);
            System.arraycopy(more, 0, argv, base.length, more.length);
            assertEquals(0, Main.run(argv));
        } finally {
            System.setOut(old);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }
}
