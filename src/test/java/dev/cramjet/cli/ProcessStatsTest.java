package dev.cramjet.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

import static org.junit.jupiter.api.Assertions.assertTrue;

@EnabledOnOs(OS.LINUX)
class ProcessStatsTest {
    @Test
    void peakResidentCoversWhatTheHeapHolds() {
        byte[] block = new byte[64 << 20];
        for (int i = 0; i < block.length; i += 4096) block[i] = 1; // touch every page so it becomes resident
        long peak = ProcessStats.peakResidentBytes();
        assertTrue(peak >= block.length, "VmHWM " + peak + " bytes, below the 64 MiB just touched");
        assertTrue(peak < Runtime.getRuntime().maxMemory() + (4L << 30), "VmHWM " + peak + " bytes is implausibly large");
    }

    @Test
    void cpuSecondsGrowAtLeastAsMuchAsThisThreadWorks() {
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        double before = ProcessStats.cpuSeconds();
        assertTrue(before > 0, "a running JVM has used CPU time, got " + before);
        long t0 = threads.getCurrentThreadCpuTime(), x = 0;
        while (threads.getCurrentThreadCpuTime() - t0 < 200_000_000L) x += x * 31 + 7; // 0.2 CPU-seconds, however loaded the machine
        double after = ProcessStats.cpuSeconds();
        // /proc counts in 10 ms ticks, so allow two ticks of rounding.
        assertTrue(after - before >= 0.18, "CPU seconds " + before + " → " + after + " after 0.2 s of work (" + x + ")");
    }
}
