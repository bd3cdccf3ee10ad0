package dev.cramjet.train;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.cpu.CpuPeak;

/**
 * The FLOP/s that MFU is measured against. On the CPU: the fp32 FMA ceiling, measured (there is no datasheet
 * figure for a shared or throttled machine). On a GPU: the datasheet's dense BF16 tensor-core peak for the models
 * we know, the usual MFU convention. NaN otherwise, and the progress line then leaves MFU out.
 */
public final class Peak {
    private Peak() {}

    public static double of(Backend be) {
        return switch (be.name()) {
            case "cpu" -> CpuPeak.fmaPeakGflops() * 1e9;
            case "cuda" -> gpu(be.describe());
            default -> Double.NaN;
        };
    }

    /** Dense BF16 peaks from NVIDIA's datasheets (SXM parts). */
    static double gpu(String description) {
        if (description.contains("H100") || description.contains("H200")) return 989e12;
        if (description.contains("A100")) return 312e12;
        if (description.contains("L40S")) return 362e12;
        if (description.contains("A10")) return 125e12;
        return Double.NaN;
    }
}
