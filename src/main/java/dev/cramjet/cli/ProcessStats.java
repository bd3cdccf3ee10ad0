package dev.cramjet.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What this process has used so far, read from /proc on Linux, for the benches' reports. Elsewhere the figures
 * are unknown (-1, NaN) rather than guessed.
 */
final class ProcessStats {
    private ProcessStats() {}

    /** Peak resident set size (VmHWM in /proc/self/status) in bytes, or -1 where there is no /proc. */
    static long peakResidentBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    String[] parts = line.substring(6).trim().split("\\s+");
                    return Long.parseLong(parts[0]) * 1024; // the kernel reports kB
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /**
     * CPU time (user + system, all threads) from /proc/self/stat, or NaN where there is no /proc. On a shared
     * machine wall time says little; CPU time says what the work costs.
     */
    static double cpuSeconds() {
        try {
            String stat = Files.readString(Path.of("/proc/self/stat"));
            // Fields after the parenthesised command name (which may hold spaces); utime and stime are the 12th
            // and 13th of them, in USER_HZ (100 on Linux).
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
    }
}
