package dev.cramjet.engine.cuda;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Data-sheet dense (no sparsity) bf16 tensor-core peaks with fp32 accumulation, by the model in the name the driver
 * reports ("NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB", "NVIDIA GeForce RTX 4090"). The model is matched
 * as a whole word, never as a substring (an A10G is not an A10, an L40S not an L40), and a PCIe or NVL form factor
 * of a model that has its own figure takes that figure.
 */
public final class NominalPeak {
    private NominalPeak() {}

    /** TFLOP/s by model, or model plus form factor. */
    private static final Map<String, Double> TFLOPS = Map.ofEntries(
            Map.entry("GB200", 2500.0), Map.entry("B200", 2250.0), Map.entry("B100", 1750.0),
            Map.entry("GH200", 989.0), Map.entry("H200", 989.0), Map.entry("H200 NVL", 835.0),
            Map.entry("H100", 989.0), Map.entry("H100 PCIE", 756.0), Map.entry("H100 NVL", 835.0),
            Map.entry("H800", 989.0), Map.entry("H800 PCIE", 756.0), Map.entry("H20", 148.0),
            Map.entry("A100", 312.0), Map.entry("A800", 312.0), Map.entry("A30", 165.0),
            Map.entry("A10G", 70.0), Map.entry("A10", 125.0),
            Map.entry("L40S", 362.0), Map.entry("L40", 181.0), Map.entry("L4", 121.0),
            Map.entry("RTX 6000 ADA", 364.0), Map.entry("RTX A6000", 155.0), Map.entry("RTX 5090", 210.0),
            Map.entry("RTX 4090", 165.0), Map.entry("RTX 3090", 71.0));

    /** Words of a device name that say nothing about the model. */
    private static final List<String> VENDOR = List.of("NVIDIA", "GEFORCE", "TESLA");

    /** The nominal TFLOP/s for a device name, NaN when the model is not in the table. */
    public static double bf16Tflops(String deviceName) {
        List<String> words = Arrays.stream(deviceName.toUpperCase(Locale.ROOT).split("[\\s-]+"))
                .filter(w -> !w.isEmpty() && !VENDOR.contains(w)).toList();
        if (words.isEmpty()) return Double.NaN;
        String model = words.get(0);
        if (model.equals("RTX") && words.size() > 1) {  // "RTX 4090", "RTX A6000", "RTX 6000 Ada Generation"
            model += " " + words.get(1) + (words.size() > 2 && words.get(2).equals("ADA") ? " ADA" : "");
        }
        String form = words.contains("PCIE") ? " PCIE" : words.contains("NVL") ? " NVL" : "";
        Double tflops = TFLOPS.getOrDefault(model + form, TFLOPS.get(model));
        return tflops == null ? Double.NaN : tflops;
    }
}
