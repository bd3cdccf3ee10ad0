package dev.cramjet.engine.cuda;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.engine.cpu.CpuBackend;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What can be checked without a GPU (the failure message, error names, the peak table) and, where a GPU is
 * present, the parity suite: every op against the CPU backend (SelftestCommandTest trains on both).
 */
class CudaBackendTest {
    static Backend openCudaOrSkip() {
        try {
            return new CudaBackend();
        } catch (CramjetException e) {
            Assumptions.abort("no usable CUDA GPU: " + e.getMessage());
            throw e;
        }
    }

    @Test
    void withoutADriverTheConstructorSaysWhatIsMissingAndWhereItLooked() {
        Assumptions.assumeFalse(CudaDriver.installed(), "a CUDA driver is installed here");
        CramjetException e = assertThrows(CramjetException.class, CudaBackend::new);
        assertTrue(e.getMessage().contains("libcuda.so") && e.getMessage().contains("NVIDIA driver"), e.getMessage());
        assertTrue(e.getMessage().contains("Looked in") && e.getMessage().contains("libcuda.so.1"), e.getMessage());
        // Backends.open reaches the same message through reflection.
        CramjetException viaOpen = assertThrows(CramjetException.class, () -> Backends.open("cuda"));
        assertEquals(e.getMessage(), viaOpen.getMessage());
    }

    @Test
    void driverErrorNamesAgreeWithCudaH() throws Exception {
        Path header = Path.of(System.getenv().getOrDefault("CUDA_HOME", "/usr/local/cuda"), "include", "cuda.h");
        Assumptions.assumeTrue(Files.isRegularFile(header), "no cuda.h at " + header);
        String text = Files.readString(header);
        Matcher m = Pattern.compile("\\b(CUDA_(?:SUCCESS|ERROR_\\w+))\\s*=\\s*(\\d+)").matcher(text);
        int checked = 0;
        List<String> wrong = new ArrayList<>();
        while (m.find()) {
            int code = Integer.parseInt(m.group(2));
            if (!ErrorNames.DRIVER.containsKey(code)) continue;
            checked++;
            if (!ErrorNames.driver(code).equals(m.group(1))) wrong.add(code + ": " + ErrorNames.driver(code) + " vs " + m.group(1));
        }
        assertTrue(wrong.isEmpty(), "names differ from cuda.h: " + wrong);
        assertEquals(ErrorNames.DRIVER.size(), checked, "every tabled code appears in cuda.h");
    }

    @Test
    void errorNamesFallBackToTheNumberAndCarryHints() {
        assertEquals("CUDA_ERROR_OUT_OF_MEMORY", ErrorNames.driver(2));
        assertEquals("CUresult 12345", ErrorNames.driver(12345));
        assertEquals("CUBLAS_STATUS_NOT_SUPPORTED", ErrorNames.cublas(15));
        assertEquals("NVRTC_ERROR_COMPILATION", ErrorNames.nvrtc(6));
        assertTrue(ErrorNames.withHint("CUDA_ERROR_NO_DEVICE").contains("nvidia-smi"));
        assertEquals("CUDA_ERROR_LAUNCH_FAILED", ErrorNames.withHint("CUDA_ERROR_LAUNCH_FAILED"));
    }

    @Test
    void nominalPeakByTheWholeModelName() {
        assertEquals(989, NominalPeak.bf16Tflops("NVIDIA H100 80GB HBM3"));
        assertEquals(756, NominalPeak.bf16Tflops("NVIDIA H100 PCIe"));
        assertEquals(835, NominalPeak.bf16Tflops("NVIDIA H100 NVL"));
        assertEquals(989, NominalPeak.bf16Tflops("NVIDIA H200"));
        assertEquals(835, NominalPeak.bf16Tflops("NVIDIA H200 NVL"));
        assertEquals(989, NominalPeak.bf16Tflops("NVIDIA GH200 480GB"));
        assertEquals(312, NominalPeak.bf16Tflops("NVIDIA A100-SXM4-80GB"));
        assertEquals(312, NominalPeak.bf16Tflops("NVIDIA A100 80GB PCIe"), "the A100's PCIe card has the same peak");
        assertEquals(70, NominalPeak.bf16Tflops("NVIDIA A10G"), "an A10G is not an A10");
        assertEquals(125, NominalPeak.bf16Tflops("NVIDIA A10"));
        assertEquals(362, NominalPeak.bf16Tflops("NVIDIA L40S"), "an L40S is not an L40");
        assertEquals(181, NominalPeak.bf16Tflops("NVIDIA L40"));
        assertEquals(121, NominalPeak.bf16Tflops("NVIDIA L4"));
        assertEquals(165, NominalPeak.bf16Tflops("NVIDIA GeForce RTX 4090"));
        assertEquals(364, NominalPeak.bf16Tflops("NVIDIA RTX 6000 Ada Generation"));
        assertEquals(155, NominalPeak.bf16Tflops("NVIDIA RTX A6000"));
        assertTrue(Double.isNaN(NominalPeak.bf16Tflops("NVIDIA RTX A4000")), "a model not in the table");
        assertTrue(Double.isNaN(NominalPeak.bf16Tflops("NVIDIA H1000")), "no prefix matches");
        assertTrue(Double.isNaN(NominalPeak.bf16Tflops("Some Future GPU")));
        assertTrue(Double.isNaN(NominalPeak.bf16Tflops("")));
    }

    @Test
    void bf16RoundingMatchesTheCpuBackend() {
        // Uploads round on the host; they must agree with the CPU backend's BF16 storage, ties and NaN included.
        java.util.Random r = new java.util.Random(3);
        float[] in = new float[20_000];
        for (int i = 0; i < in.length; i++) in[i] = i % 2 == 0 ? Float.intBitsToFloat(r.nextInt()) : (float) r.nextGaussian();
        in[0] = Float.NaN;
        in[1] = Float.intBitsToFloat(0x3f808000);  // exactly halfway between two bf16 values: rounds to even
        in[2] = Float.MAX_VALUE;
        float[] out = new float[in.length];
        try (CpuBackend cpu = new CpuBackend()) {
            var t = cpu.alloc(dev.cramjet.engine.DType.BF16, in.length);
            cpu.upload(t, in);
            cpu.download(t, out);
        }
        for (int i = 0; i < in.length; i++) {
            assertEquals(Float.floatToIntBits(out[i]), Float.floatToIntBits(Bf16.toFloat(Bf16.round(in[i]))), "element " + i + ": " + in[i]);
        }
        assertEquals(1.0f, Bf16.toFloat(Bf16.round(in[1])));
    }

    @Test
    void everyOpMatchesTheCpuBackendOnTheGpu() {
        try (Backend cuda = openCudaOrSkip(); Backend cpu = new CpuBackend()) {
            Parity parity = new Parity(cpu, cuda, 42);
            List<Parity.Result> failed = parity.runOps().stream().filter(r -> !r.passed()).toList();
            assertTrue(failed.isEmpty(), "ops outside their bounds: " + failed);
        }
    }

    @Test
    void theParityHarnessPassesAReferenceAgainstItself() {
        // Validates the harness (poisoning, comparisons, the training run) where no GPU is available.
        try (Backend a = new CpuBackend(); Backend b = new CpuBackend()) {
            Parity parity = new Parity(a, b, 7);
            List<Parity.Result> results = parity.runOps();
            assertEquals(116, results.size(), "every output of every op compared");
            for (Parity.Result r : results) assertTrue(r.passed() && r.relError() == 0, r.toString());
        }
    }

    @Test
    void cacheDirectoryFollowsTheEnvironment() {
        String home = "/home/u";
        assertEquals(Path.of("/c", "cuda"), CudaBackend.cacheDir(Map.of("CRAMJET_CACHE", "/c", "XDG_CACHE_HOME", "/x"), home));
        assertEquals(Path.of("/x", "cramjet", "cuda"), CudaBackend.cacheDir(Map.of("CRAMJET_CACHE", " ", "XDG_CACHE_HOME", "/x"), home),
                "a blank CRAMJET_CACHE counts as unset");
        assertEquals(Path.of(home, ".cache", "cramjet", "cuda"), CudaBackend.cacheDir(Map.of("XDG_CACHE_HOME", ""), home));
        assertEquals(Path.of(home, ".cache", "cramjet", "cuda"), CudaBackend.cacheDir(Map.of(), home));
    }
}
