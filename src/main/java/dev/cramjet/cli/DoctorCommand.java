package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Accelerator;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.engine.cuda.LibraryFinder;

import java.util.Locale;
import java.util.Map;

/**
 * `cramjet doctor`: what this machine offers Cramjet. The Java runtime and cores, the CUDA libraries found (or
 * where they were looked for), the GPU and driver, and whether the CUDA backend starts and compiles its kernels.
 */
public final class DoctorCommand implements Command {
    @Override
    public String summary() { return "show the Java runtime, GPU, driver and CUDA libraries, and what works"; }

    @Override
    public String usage() {
        return """
                usage: cramjet doctor [--device cuda]

                Prints the Java runtime, CPU cores and memory, each CUDA library found (driver libcuda, NVRTC,
                cuBLASLt) or the folders searched for it, the GPU, its driver, and whether the CUDA backend starts
                and compiles its kernels (compiled kernels are cached, so the first run takes longest).
                With --device cuda the exit status is 1 when the CUDA backend is not usable.
                """;
    }

    @Override
    public int run(Args args) {
        String device = args.string("device", "cpu");
        args.finish();
        Runtime rt = Runtime.getRuntime();
        System.out.printf(Locale.ROOT, "java:      %s %s (%s)%n", System.getProperty("java.vm.name"),
                System.getProperty("java.version"), System.getProperty("java.home"));
        System.out.printf(Locale.ROOT, "cpu:       %d cores, max heap %.1f GiB, %s %s%n", rt.availableProcessors(),
                rt.maxMemory() / (double) (1L << 30), System.getProperty("os.name"), System.getProperty("os.arch"));
        System.out.println("vector:    " + vectorApi());

        LibraryFinder finder = LibraryFinder.system();
        System.out.println("\nCUDA libraries (files found on disk; the driver is also looked up by the system loader):");
        for (LibraryFinder.Library lib : LibraryFinder.Library.values()) {
            LibraryFinder.Result r = finder.find(lib, 0);
            System.out.println("  " + r.explain().replace("\n", "\n  "));
        }

        boolean usable;
        try (Backend cuda = Backends.open("cuda")) {
            Accelerator gpu = Backends.accelerator(cuda).orElseThrow();
            System.out.println("\ngpu:       " + cuda.describe());
            System.out.println("units:     " + gpu.multiprocessors() + " multiprocessors");
            for (Map.Entry<String, String> e : gpu.libraries().entrySet()) {
                System.out.printf(Locale.ROOT, "loaded:    %-9s %s%n", e.getKey(), e.getValue());
            }
            long[] mem = gpu.memoryInfo();
            System.out.printf(Locale.ROOT, "memory:    %.1f GiB free of %.1f GiB%n", mem[0] / (double) (1L << 30), mem[1] / (double) (1L << 30));
            double peak = cuda.peakFlops();
            System.out.println("peak:      " + (Double.isNaN(peak) ? "unknown for this device name"
                    : String.format(Locale.ROOT, "%.0f TFLOP/s bf16 dense (nominal)", peak / 1e12)));
            long t0 = System.nanoTime();
            System.out.println("kernels:   " + String.join(" ", gpu.compileKernels()) + String.format(Locale.ROOT,
                    " compiled or loaded in %.1f s", (System.nanoTime() - t0) / 1e9));
            System.out.println("\nCUDA backend: usable (run `cramjet selftest --device cuda` to check its numbers)");
            usable = true;
        } catch (CramjetException e) {
            System.out.println("\nCUDA backend: not usable: " + e.getMessage());
            usable = false;
        }
        return device.equals("cuda") && !usable ? 1 : 0;
    }

    private static String vectorApi() {
        try {
            Class<?> species = Class.forName("jdk.incubator.vector.FloatVector");
            Object preferred = species.getField("SPECIES_PREFERRED").get(null);
            return "jdk.incubator.vector, preferred float species " + preferred;
        } catch (ReflectiveOperationException | LinkageError e) {
            return "jdk.incubator.vector unavailable (start Java with --add-modules jdk.incubator.vector)";
        }
    }
}
