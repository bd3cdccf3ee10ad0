package dev.cramjet.cli;

import dev.cramjet.engine.Accelerator;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.cpu.CpuPeak;
import dev.cramjet.io.Json;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.Parameters;
import dev.cramjet.optim.AdamWOptimizer;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.stream.Collectors;

/**
 * `cramjet bench`: training-step and forward-pass throughput of a preset model on random tokens, as tokens/s,
 * achieved GFLOP/s (FLOPs per token = 6·N + 12·L·d·T, N the parameters without the position table; a forward pass
 * is a third of that) and, on the CPU, the fraction of the machine's measured fp32 FMA ceiling. Also reports our
 * large-matmul speed against the same ceiling and the process's peak resident memory; on a GPU instead the measured
 * bf16 GEMM ceiling against the data sheet's peak, the device time of one training step per op family, and the
 * peak device memory. Then generation at batch 1 through the KV cache with the weights in the compute type and in
 * int8 (Q8_0): decoding reads every weight once per token, so it is bound by memory traffic and its figure is
 * tokens/s and the weight bytes streamed per second.
 */
public final class BenchCommand implements Command {
    /** The matmul shape reported as the kernel figure: GPT-2 124M's MLP up-projection for 1536 tokens. */
    private static final int GEMM_M = 1536, GEMM_N = 3072, GEMM_K = 768;
    /** The GPU's GEMM ceiling is measured on size³ bf16 matrices: large enough to reach the tensor cores' peak. */
    private static final int GPU_GEMM = 8192, GPU_GEMM_REPS = 10;

    @Override
    public String summary() { return "measure training and inference throughput of a preset model"; }

    @Override
    public String usage() {
        return """
                usage: cramjet bench [--preset tiny|small|gpt2-124m|gpt2-medium|micro] [--steps N] [--device cpu|cuda]
                                     [--batch B] [--seq T] [--decode N] [--json]

                Times training steps (forward + backward + AdamW) and forward passes of a freshly initialised model
                on random tokens, after one warm-up of each, and prints tokens/s, achieved GFLOP/s (6·N + 12·L·d·T
                FLOPs per token, a third of that for a forward pass), the fraction of the CPU's measured fp32 FMA
                ceiling, our 1536×3072×768 matmul against that ceiling, and peak resident memory (VmHWM).
                On a GPU (--device cuda) it prints instead the measured 8192³ bf16 GEMM ceiling against the data
                sheet's peak, the training step's MFU against both, the device time of one profiled training step
                split by op family, and the peak device memory. Then generation at batch 1 through the KV cache, with the compute type's weights and
                with int8 (Q8_0) weights: a 64-token prompt (prefill tokens/s), then --decode N tokens one at a time
                (decode tokens/s and the weight bytes read per second; 0 skips it). Defaults: --preset tiny, batch 8
                (4 for gpt2-124m and larger), seq = the preset's block size, --steps 5 (2 for gpt2-124m and larger),
                --decode 64. --json prints one JSON object per line.

                usage: cramjet bench --nproc N [--preset tiny] [--batch 8] [--steps 5] [--zero]

                Data parallel on the CPU: training steps of N ranks under mpirun (cores/N threads each, micro-batch
                B each) against one process on all cores and one on cores/N threads, with the step split into
                compute, gradient exchange and optimizer; --zero shards the optimizer state (ZeRO-1).
                """;
    }

    @Override
    public int run(Args args) throws Exception {
        if (args.has("nproc") || args.has("dp")) return DataParallelBench.run(args);
        String preset = args.string("preset", "tiny");
        String device = args.string("device", "cpu");
        boolean json = args.flag("json");
        GPTConfig cfg = GPTConfig.preset(preset);
        boolean large = cfg.nEmbd() >= 768;
        int batch = args.integer("batch", large ? 4 : 8);
        int seq = args.integer("seq", cfg.blockSize());
        int steps = args.integer("steps", large ? 2 : 5);
        int decode = args.integer("decode", 64);
        args.finish();
        if (steps < 1) throw new dev.cramjet.CramjetException("--steps must be at least 1, got " + steps);
        if (decode < 0) throw new dev.cramjet.CramjetException("--decode must be at least 0, got " + decode);

        try (Backend be = Backends.open(device)) {
            GPT model = new GPT(be, cfg, batch, seq, 1);
            AdamWOptimizer opt = new AdamWOptimizer(model.backend(), model.parameters(), AdamWOptimizer.Settings.defaults());
            SplittableRandom rng = new SplittableRandom(1);
            int n = batch * seq;
            int[] x = new int[n], y = new int[n];
            for (int i = 0; i < n; i++) {
                x[i] = rng.nextInt(cfg.vocabSize());
                y[i] = rng.nextInt(cfg.vocabSize());
            }
            long params = model.parameterCount(false);
            double flopsPerToken = 6.0 * params + 12.0 * cfg.nLayer() * cfg.nEmbd() * seq;

            Map<String, Object> head = new LinkedHashMap<>();
            head.put("bench", "setup");
            head.put("device", be.describe());
            head.put("preset", preset);
            head.put("params", params);
            head.put("batch", (long) batch);
            head.put("seq", (long) seq);
            head.put("steps", (long) steps);
            head.put("flops_per_token", flopsPerToken);
            emit(json, head, String.format(Locale.ROOT,
                    "device: %s%nmodel:  %s, %d layers, d %d, %d heads, vocab %d (padded %d), %,d parameters without positions%n"
                            + "run:    batch %d × seq %d, %d timed steps after one warm-up",
                    be.describe(), preset, cfg.nLayer(), cfg.nEmbd(), cfg.nHead(), cfg.vocabSize(), cfg.paddedVocab(),
                    params, batch, seq, steps));

            model.train(0);
            Consumer<Runnable> repeat = Backends.repeater(be);  // a GPU replays the forward and backward as a CUDA graph
            Step train = s -> {
                model.train(s);
                model.zeroGrad();
                model.trainStep(x, null, y, 1, repeat);
                opt.step(1e-4f);
            };
            double trainSeconds = time(be, steps, train);
            model.eval();
            double fwdSeconds = time(be, steps, s -> model.forward(x, y));
            long hwm = ProcessStats.peakResidentBytes();
            Optional<Accelerator> gpu = Backends.accelerator(be);

            double peak = be.peakFlops() / 1e9;
            String ceiling = be.name().equals("cpu") ? "the fp32 ceiling" : "the bf16 data-sheet peak";
            report(json, "train_step", n, trainSeconds, flopsPerToken, peak, ceiling);
            report(json, "forward", n, fwdSeconds, flopsPerToken / 3, peak, ceiling);

            if (gpu.isPresent()) {
                gpuReport(json, be, gpu.get(), train, steps + 1, n / trainSeconds * flopsPerToken / 1e9);
            } else {
                double gemm = CpuPeak.gemmGflops(GEMM_M, GEMM_N, GEMM_K);
                emit(json, gemmRecord(GEMM_M, GEMM_N, GEMM_K, gemm, "fma_peak_gflops", peak), String.format(Locale.ROOT, "matmul %d×%d×%d: %.1f GFLOP/s = %.1f%% of the fp32 FMA ceiling (%.1f GFLOP/s)",
                        GEMM_M, GEMM_N, GEMM_K, gemm, 100 * gemm / peak, peak));
            }

            Map<String, Object> mem = new LinkedHashMap<>();
            mem.put("bench", "memory");
            mem.put("vm_hwm_bytes", hwm);
            mem.put("backend_bytes", be.allocatedBytes());
            gpu.ifPresent(a -> mem.put("device_peak_bytes", a.peakAllocatedBytes()));
            emit(json, mem, String.format(Locale.ROOT, "peak memory: %.2f GB resident (VmHWM), %.2f GB held by the backend%s",
                    hwm / 1e9, be.allocatedBytes() / 1e9, gpu.map(a -> String.format(Locale.ROOT, ", at most %.2f GB on the device",
                            a.peakAllocatedBytes() / 1e9)).orElse("")));
        }
        if (decode > 0) {
            double fp32 = generation(device, cfg, null, decode, json);
            double int8 = generation(device, cfg, DType.Q8_0, decode, json);
            emit(json, Map.of("bench", "decode_speedup", "int8_over_fp32", int8 / fp32),
                    String.format(Locale.ROOT, "int8 decodes %.2f× as fast as fp32", int8 / fp32));
        }
        return 0;
    }

    /** Prompt length of the generation figures. */
    private static final int PROMPT = 64;

    /**
     * Batch-1 generation with the weight matrices in {@code weights} (null: the compute type), in a backend of its
     * own: a {@value #PROMPT}-token prefill, then {@code tokens} single-token steps after one warm-up. Returns
     * decode tokens/s.
     */
    private static double generation(String device, GPTConfig cfg, DType weights, int tokens, boolean json) {
        try (Backend be = Backends.open(device)) {
            GPT model = new GPT(be, cfg, 1, 1, 1, Model.Options.INFERENCE.weights(weights));
            int prompt = Math.min(PROMPT, cfg.blockSize() - tokens - 1);
            if (prompt < 1) throw new dev.cramjet.CramjetException("--decode " + tokens + " leaves no room for a prompt in a context of " + cfg.blockSize());
            SplittableRandom rng = new SplittableRandom(2);
            int[] ids = new int[prompt];
            for (int i = 0; i < prompt; i++) ids[i] = rng.nextInt(cfg.vocabSize());
            GPT.Session session = model.session(prompt + tokens + 1);
            session.next(ids);                               // warm-up: the same work, compiled
            session.reset();
            long t0 = System.nanoTime();
            session.next(ids);
            long t1 = System.nanoTime();
            session.next(new int[] {1});
            long t2 = System.nanoTime();
            for (int i = 0; i < tokens; i++) session.next(new int[] {rng.nextInt(cfg.vocabSize())});
            long t3 = System.nanoTime();
            double prefill = prompt / ((t1 - t0) / 1e9), decode = tokens / ((t3 - t2) / 1e9);
            long bytes = 0;
            for (Parameters.Param p : model.parameterList()) if (!p.name().equals("wpe.weight")) bytes += p.value().bytes();
            String type = weights == null ? be.computeType().name().toLowerCase(Locale.ROOT) : "int8 (Q8_0)";
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("bench", "generate");
            m.put("weights", weights == null ? be.computeType().name() : weights.name());
            m.put("prompt_tokens", (long) prompt);
            m.put("prefill_tokens_per_s", prefill);
            m.put("decode_tokens", (long) tokens);
            m.put("decode_tokens_per_s", decode);
            m.put("weight_bytes", bytes);
            m.put("weight_gb_per_s", bytes * decode / 1e9);
            emit(json, m, String.format(Locale.ROOT,
                    "generate, %-11s weights: prefill %8.0f tokens/s, decode %7.1f tokens/s (%.0f MB of weights read per token, %.1f GB/s)",
                    type, prefill, decode, bytes / 1e6, bytes * decode / 1e9));
            return decode;
        }
    }

    /**
     * The GPU's figures: the measured bf16 GEMM ceiling against the data sheet's peak, the training step's MFU
     * against both ({@code trainGflops} achieved), and one more training step (number {@code step}) timed per op
     * family with device events.
     */
    private static void gpuReport(boolean json, Backend be, Accelerator gpu, Step train, int step, double trainGflops) {
        double ceiling = gpu.gemmCeilingFlops(GPU_GEMM, GPU_GEMM_REPS) / 1e9, nominal = be.peakFlops() / 1e9;
        emit(json, gemmRecord(GPU_GEMM, GPU_GEMM, GPU_GEMM, ceiling, "nominal_peak_gflops", nominal), String.format(Locale.ROOT, "bf16 GEMM ceiling (cuBLASLt, %d³): %.0f TFLOP/s%s", GPU_GEMM, ceiling / 1e3,
                Double.isNaN(nominal) ? " (no data-sheet peak for this device)"
                        : String.format(Locale.ROOT, " = %.1f%% of the data sheet's %.0f", 100 * ceiling / nominal, nominal / 1e3)));
        Map<String, Object> mfu = new LinkedHashMap<>();
        mfu.put("bench", "mfu");
        mfu.put("train_gflops", trainGflops);
        mfu.put("mfu_nominal", trainGflops / nominal);
        mfu.put("mfu_measured_ceiling", trainGflops / ceiling);
        emit(json, mfu, String.format(Locale.ROOT, "MFU of the training step: %.1f%% of the nominal bf16 peak, %.1f%% of the measured GEMM ceiling",
                100 * trainGflops / nominal, 100 * trainGflops / ceiling));

        Accelerator.GraphStats graphs = gpu.graphStats();
        Map<String, Object> g = new LinkedHashMap<>();
        g.put("bench", "graphs");
        g.put("replays", graphs.replays());
        g.put("captures", graphs.captures());
        if (graphs.off() != null) g.put("off", graphs.off());
        emit(json, g, graphs.off() != null ? graphs.off() : String.format(Locale.ROOT,
                "CUDA graphs: %d timed or warm-up steps replayed a captured graph (%d captured)", graphs.replays(), graphs.captures()));
        gpu.profile(true);
        train.run(step);
        Map<String, Double> ms = gpu.kernelMillis();
        gpu.profile(false);
        double total = ms.values().stream().mapToDouble(Double::doubleValue).sum();
        Map<String, Object> k = new LinkedHashMap<>();
        k.put("bench", "kernels");
        ms.forEach((family, t) -> k.put(family + "_ms", t));
        emit(json, k, String.format(Locale.ROOT, "device time of one training step, %.1f ms: ", total) + ms.entrySet().stream()
                .map(e -> String.format(Locale.ROOT, "%s %.1f ms (%.0f%%)", e.getKey(), e.getValue(), 100 * e.getValue() / total))
                .collect(Collectors.joining(", ")));
    }

    /** The "gemm" line: an m×n×k matmul's GFLOP/s against a peak, recorded under {@code peakKey}. */
    private static Map<String, Object> gemmRecord(int m, int n, int k, double gflops, String peakKey, double peak) {
        Map<String, Object> g = new LinkedHashMap<>();
        g.put("bench", "gemm");
        g.put("m", (long) m);
        g.put("n", (long) n);
        g.put("k", (long) k);
        g.put("gflops", gflops);
        g.put(peakKey, peak);
        g.put("fraction_of_peak", gflops / peak);
        return g;
    }

    @FunctionalInterface
    private interface Step {
        void run(int step);
    }

    /** Seconds per step: one warm-up, then the mean over {@code steps}. */
    private static double time(Backend be, int steps, Step step) {
        step.run(0);
        be.synchronize();
        long t0 = System.nanoTime();
        for (int s = 1; s <= steps; s++) step.run(s);
        be.synchronize();
        return (System.nanoTime() - t0) / 1e9 / steps;
    }

    private static void report(boolean json, String what, int tokens, double seconds, double flopsPerToken, double peak,
                               String ceiling) {
        double tps = tokens / seconds;
        double gflops = tps * flopsPerToken / 1e9;
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("bench", what);
        m.put("seconds_per_step", seconds);
        m.put("tokens_per_s", tps);
        m.put("gflops", gflops);
        m.put("fraction_of_peak", gflops / peak);
        String label = what.equals("train_step") ? "train step (fwd+bwd+AdamW)" : "forward only              ";
        emit(json, m, String.format(Locale.ROOT, "%s: %8.1f ms/step %10.0f tokens/s %8.1f GFLOP/s%s", label,
                seconds * 1e3, tps, gflops, Double.isNaN(peak) ? "" : String.format(Locale.ROOT, " = %.1f%% of %s", 100 * gflops / peak, ceiling)));
    }

    private static void emit(boolean json, Map<String, Object> m, String text) {
        System.out.println(json ? Json.write(m) : text);
        System.out.flush();
    }
}
