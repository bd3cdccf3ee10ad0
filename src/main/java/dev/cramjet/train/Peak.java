package dev.cramjet.train;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.cpu.CpuPeak;

/**
 * The FLOP/s that MFU is measured against: the device's fp32 FMA ceiling, measured on the CPU (there is no
 * datasheet figure for a shared or throttled machine). NaN for a backend without a known peak, and the progress
 * line then leaves MFU out.
 */
public final class Peak {
    private Peak() {}

    public static double of(Backend be) {
        return switch (be.name()) {
            case "cpu" -> CpuPeak.fmaPeakGflops() * 1e9;
            default -> Double.NaN;
        };
    }
}
