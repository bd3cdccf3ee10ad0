package dev.cramjet.engine.cuda;

import dev.cramjet.cli.SelftestCommand;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.Model;
import dev.cramjet.quant.Weights;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole CUDA backend, kernels included, on the CPU: every kernel file is compiled for the host by g++ against
 * emulation.h (a block's threads as user-space contexts taking turns at barriers: __syncthreads, warp shuffles and
 * the tensor-core instructions, whose fragments follow the PTX ISA), the fake driver runs
 * launches through it and computes cuBLASLt's GEMMs with their epilogues. The parity suite and a short training
 * run then compare it with the CPU backend, so kernel logic (indexing, tiling, masking, reductions, the online
 * softmax, argument order) is checked without a GPU. What it cannot check: GPU-only behaviour such as memory
 * alignment faults, warp-divergence hazards beyond what barriers model, NVRTC itself and real cuBLASLt.
 * Skipped without gcc/g++ or where a real driver is installed.
 */
class EmulatedGpuTest {
    @TempDir
    static Path dir;

    @BeforeAll
    static void build() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/gcc")) && Files.isExecutable(Path.of("/usr/bin/g++")),
                "gcc/g++ not installed");
        Assumptions.assumeFalse(CudaDriver.installed(), "a real CUDA driver is installed");
        Path res = Path.of(EmulatedGpuTest.class.getResource("/dev/cramjet/engine/cuda/emulation.h").toURI()).getParent();
        Path kernels = Nvcc.kernelDir();
        Path so = dir.resolve("libfake.so");
        Nvcc.Run fake = Nvcc.run(List.of("/usr/bin/gcc", "-shared", "-fPIC", "-O1", "-o", so.toString(),
                res.resolve("fake_cuda.c").toString(), "-ldl", "-lm"), null);
        assertEquals(0, fake.status(), fake.output());
        for (String name : List.of("libcuda.so.1", "libnvrtc.so.12", "libcublasLt.so.12")) Files.copy(so, dir.resolve(name));

        // One host module per kernel file (attention per head size the tests use), built two at a time.
        List<String[]> modules = new ArrayList<>();
        for (String file : Kernels.FILES) {
            if (file.equals("attention")) for (String hs : List.of("16", "64", "128")) modules.add(new String[] {file, hs});
            else modules.add(new String[] {file, null});
        }
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<String>> builds = new ArrayList<>();
            for (String[] m : modules) builds.add(pool.submit(() -> buildModule(m[0], m[1], res, kernels)));
            for (Future<String> f : builds) {
                String failure = f.get();
                assertTrue(failure.isEmpty(), failure);
            }
        } finally {
            pool.shutdownNow();
        }
        MethodHandle emulate;
        for (String lib : List.of("libcuda.so.1", "libnvrtc.so.12")) {
            SymbolLookup l = SymbolLookup.libraryLookup(dir.resolve(lib), Arena.global());
            emulate = Linker.nativeLinker().downcallHandle(l.find("fake_emulate").orElseThrow(),
                    FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
            try (Arena a = Arena.ofConfined()) {
                MemorySegment path = a.allocateFrom(dir.toString());
                emulate.invokeExact(path);
            } catch (Throwable t) {
                throw new AssertionError(t);
            }
        }
    }

    private static final Pattern KERNEL = Pattern.compile("extern \"C\"\\s+void\\s+(\\w+)\\s*\\(([^)]*)\\)\\s*\\{");

    /** Preprocesses a kernel file, writes a trampoline per kernel, compiles the host module; returns "" or why not. */
    private static String buildModule(String file, String headSize, Path res, Path kernels) throws Exception {
        List<String> base = new ArrayList<>(List.of("/usr/bin/g++", "-std=c++20", "-I", res.toString(), "-I", kernels.toString()));
        if (headSize != null) base.add("-DHEAD_SIZE=" + headSize);
        List<String> pre = new ArrayList<>(base);
        pre.addAll(List.of("-E", "-P", "-include", "emulation.h", "-x", "c++", kernels.resolve(file + ".cu").toString()));
        Nvcc.Run expanded = Nvcc.run(pre, null);
        if (expanded.status() != 0) return expanded.output();
        StringBuilder cpp = new StringBuilder("#include \"emulation.h\"\n#include \"" + file + ".cu\"\n");
        StringBuilder table = new StringBuilder("extern \"C\" const EmuKernel emuKernels[] = {\n");
        Matcher m = KERNEL.matcher(expanded.output());
        while (m.find()) {
            String name = m.group(1);
            List<String> args = new ArrayList<>();
            String[] params = m.group(2).split(",");
            for (int i = 0; i < params.length; i++) {
                String p = params[i].trim();
                String type = p.substring(0, p.length() - p.replaceAll(".*?(\\w+)$", "$1").length()).trim();
                args.add("*(" + type + "*) p[" + i + "]");
            }
            cpp.append("static void t_").append(name).append("(void** p) { ").append(name).append("(")
                    .append(String.join(", ", args)).append("); }\n");
            table.append("    {\"").append(name).append("\", t_").append(name).append("},\n");
        }
        cpp.append(table).append("    {nullptr, nullptr}};\n");
        String key = file + (headSize == null ? "" : "-" + headSize);
        Path source = dir.resolve(key + ".cpp");
        Files.writeString(source, cpp);
        List<String> compile = new ArrayList<>(base);
        compile.addAll(List.of("-O1", "-shared", "-fPIC", "-Wno-unknown-pragmas", "-o", dir.resolve(key + ".so").toString(),
                source.toString(), "-lpthread"));
        Nvcc.Run built = Nvcc.run(compile, null);
        return built.status() == 0 ? "" : String.join(" ", compile) + "\n" + built.output();
    }

    private static CudaBackend open() throws Exception {
        LibraryFinder finder = new LibraryFinder(Map.of("CRAMJET_CUDA_LIB", dir.toString()), dir.resolve("no-root"), dir.resolve("no-home"));
        return new CudaBackend(finder, 0, Files.createTempDirectory(dir, "kernel-cache"));
    }

    @Test
    void everyOpMatchesTheCpuBackend() throws Exception {
        try (Backend cuda = open(); Backend cpu = new CpuBackend()) {
            List<Parity.Result> results = new Parity(cpu, cuda, 42).runOps();
            List<Parity.Result> failed = results.stream().filter(r -> !r.passed()).toList();
            assertTrue(failed.isEmpty(), "outside their bounds:\n" + String.join("\n", failed.stream().map(Object::toString).toList()));
            assertEquals(121, results.size());
        }
    }

    /**
     * A model whose heads do not split the width (3 heads of 16 in a width of 64, as head pruning leaves them, RoPE
     * layout): the CUDA backend's forward and KV-cache decoding give the CPU's logits, to BF16 rounding. Its attention
     * ops take the head size from the qkv tensor, so nothing there may assume heads × head size = n_embd.
     */
    @Test
    void attentionNarrowerThanTheWidthRunsAsOnTheCpu() throws Exception {
        GPTConfig cfg = GPTConfig.gpt2(2, 4, 64, 96, 16).with(Map.of("positions", "rope", "norm", "rms", "mlp", "swiglu",
                "bias", false, "n_head", 3L, "head_dim", 16L), "test");
        int[] tokens = new int[12];
        for (int i = 0; i < tokens.length; i++) tokens[i] = (i * 37 + 5) % cfg.vocabSize();
        try (Backend cuda = open(); Backend cpu = new CpuBackend()) {
            Weights w = Weights.of(new GPT(cpu, cfg, 1, tokens.length, 3, Model.Options.INFERENCE));
            GPT ref = w.model(cpu, 1, tokens.length, Model.Options.INFERENCE), gpu = w.model(cuda, 1, tokens.length, Model.Options.INFERENCE);
            ref.forward(tokens, null);
            gpu.forward(tokens, null);
            GPT.Session session = w.model(cuda, 1, 1, Model.Options.INFERENCE).session(tokens.length);
            double scale = 0, forward = 0, decoded = 0;
            for (int i = 0; i < tokens.length; i++) {
                float[] want = ref.logitsAt(i), got = gpu.logitsAt(i), step = session.next(new int[] {tokens[i]});
                for (int j = 0; j < cfg.vocabSize(); j++) {
                    scale = Math.max(scale, Math.abs(want[j]));
                    forward = Math.max(forward, Math.abs(got[j] - want[j]));
                    decoded = Math.max(decoded, Math.abs(step[j] - want[j]));
                }
            }
            assertTrue(scale > 0.1, "the logits are not trivially small: " + scale);
            // BF16 keeps 8 significant bits (relative rounding 2^-9 per value); a few roundings deep, 3% of the scale.
            assertTrue(forward < 0.03 * scale && decoded < 0.03 * scale, "forward " + forward + ", decoded " + decoded + ", scale " + scale);
        }
    }

    @Test
    void bf16TrainingTracksTheCpuLossCurve() throws Exception {
        try (Backend cuda = open(); Backend cpu = new CpuBackend()) {
            double[][] curves = SelftestCommand.trainingCurves(cpu, cuda, 3, 42);
            List<Parity.Result> failed = SelftestCommand.lossChecks(curves).stream().filter(r -> !r.passed()).toList();
            assertTrue(failed.isEmpty(), "cpu " + Arrays.toString(curves[0]) + " vs emulated cuda " + Arrays.toString(curves[1]));
            assertTrue(curves[1][2] < curves[1][0], Arrays.toString(curves[1]));
        }
    }
}
