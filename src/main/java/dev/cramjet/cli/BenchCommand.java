package dev.cramjet.cli;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.cpu.CpuPeak;
import dev.cramjet.engine.cpu.Parallel;
import dev.cramjet.io.Json;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.Parameters;
import dev.cramjet.optim.AdamWOptimizer;
import dev.cramjet.serve.ServeBench;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * `cramjet bench`: training-step and forward-pass throughput of a preset model on random tokens, as tokens/s,
 * achieved GFLOP/s (FLOPs per token = 6·N + 12·L·d·T, N the parameters without the position table; a forward pass
 * is a third of that) and, on the CPU, the fraction of the machine's measured fp32 FMA ceiling. Also reports our
 * large-matmul speed against the same ceiling, the process's peak resident memory, and generation at batch 1
 * through the KV cache with the weights in the compute type and in int8 (Q8_0): decoding reads every weight once
 * per token, so it is bound by memory traffic and its figure is tokens/s and the weight bytes streamed per second.
 */
public final class BenchCommand implements Command {
    /** The matmul shape reported as the kernel figure: GPT-2 124M's MLP up-projection for 1536 tokens. */
    private static final int GEMM_M = 1536, GEMM_N = 3072, GEMM_K = 768;

    @Override
    public String summary() { return "measure training and inference throughput of a preset model"; }

    @Override
    public String usage() {
        return """
                usage: cramjet bench [--preset tiny|small|gpt2-124m|gpt2-medium|micro] [--steps N] [--device cpu|cuda]
                                     [--batch B] [--seq T] [--decode N] [--json]
                       cramjet bench --serve [--preset P] [--streams 1,4,16,64] [--prompt-tokens N] [--decode N]
                                     [--weights fp32,int8] [--device cpu|cuda] [--json]

                Times training steps (forward + backward + AdamW) and forward passes of a freshly initialised model
                on random tokens, after one warm-up of each, and prints tokens/s, achieved GFLOP/s (6·N + 12·L·d·T
                FLOPs per token, a third of that for a forward pass), the fraction of the CPU's measured fp32 FMA
                ceiling, our 1536×3072×768 matmul against that ceiling, and peak resident memory (VmHWM).
                Then generation at batch 1 through the KV cache, with fp32 weights and with int8 (Q8_0) weights:
                a 64-token prompt (prefill tokens/s), then --decode N tokens one at a time (decode tokens/s and the
                weight bytes read per second; 0 skips it). Defaults: --preset tiny, batch 8 (4 for gpt2-124m and
                larger), seq = the preset's block size, --steps 5 (2 for gpt2-124m and larger), --decode 64.
                --json prints one JSON object per line.

                --serve measures the serving engine (continuous batching, as `cramjet serve` runs it) instead: for
                each weight type and each number of concurrent streams, that many requests at once, each a prompt of
                --prompt-tokens random ids (default 64) and then exactly --decode tokens (default 64) sampled over the
                whole vocabulary: aggregate tokens/s, per-stream decode tokens/s, time to first token p50/p99, and
                each level's aggregate over the single-stream rate. With one compute thread
                (CRAMJET_JAVA_OPTS=-Dcramjet.threads=1) it also prints tokens per CPU-second of the decoding thread,
                which holds on a machine that other processes load.
                """;
    }

    @Override
    public int run(Args args) throws IOException, InterruptedException {
        if (args.flag("serve")) return serve(args);
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
            double trainSeconds = time(be, steps, s -> {
                model.train(s);
                model.zeroGrad();
                model.forward(x, y);
                model.backward();
                opt.step(1e-4f);
            });
            model.eval();
            double fwdSeconds = time(be, steps, s -> model.forward(x, y));
            long hwm = ProcessStats.peakResidentBytes();

            double peak = Double.NaN, gemm = Double.NaN;
            if (be.name().equals("cpu")) {
                peak = CpuPeak.fmaPeakGflops();
                gemm = CpuPeak.gemmGflops(GEMM_M, GEMM_N, GEMM_K);
            }
            report(json, "train_step", n, trainSeconds, flopsPerToken, peak);
            report(json, "forward", n, fwdSeconds, flopsPerToken / 3, peak);

            Map<String, Object> g = new LinkedHashMap<>();
            g.put("bench", "gemm");
            g.put("m", (long) GEMM_M);
            g.put("n", (long) GEMM_N);
            g.put("k", (long) GEMM_K);
            g.put("gflops", gemm);
            g.put("fma_peak_gflops", peak);
            g.put("fraction_of_peak", gemm / peak);
            emit(json, g, be.name().equals("cpu")
                    ? String.format(Locale.ROOT, "matmul %d×%d×%d: %.1f GFLOP/s = %.1f%% of the fp32 FMA ceiling (%.1f GFLOP/s)",
                            GEMM_M, GEMM_N, GEMM_K, gemm, 100 * gemm / peak, peak)
                    : "matmul and ceiling figures are measured on the CPU backend only");

            Map<String, Object> mem = new LinkedHashMap<>();
            mem.put("bench", "memory");
            mem.put("vm_hwm_bytes", hwm);
            mem.put("backend_bytes", be.allocatedBytes());
            emit(json, mem, String.format(Locale.ROOT, "peak memory: %.2f GB resident (VmHWM), %.2f GB held by the backend",
                    hwm / 1e9, be.allocatedBytes() / 1e9));
        }
        if (decode > 0) {
            double fp32 = generation(device, cfg, null, decode, json);
            double int8 = generation(device, cfg, DType.Q8_0, decode, json);
            emit(json, Map.of("bench", "decode_speedup", "int8_over_fp32", int8 / fp32),
                    String.format(Locale.ROOT, "int8 decodes %.2f× as fast as fp32", int8 / fp32));
        }
        return 0;
    }

    /** `bench --serve`: the serving engine at several numbers of concurrent streams, per weight type. */
    private static int serve(Args args) throws InterruptedException {
        String preset = args.string("preset", "gpt2-124m"), device = args.string("device", "cpu");
        boolean json = args.flag("json");
        int prompt = args.integer("prompt-tokens", 64), tokens = args.integer("decode", 64);
        String streamsArg = args.string("streams", "1,4,16,64"), weightsArg = args.string("weights", "fp32,int8");
        args.finish();
        GPTConfig cfg = GPTConfig.preset(preset);
        if (prompt < 1 || tokens < 2 || prompt + tokens > cfg.blockSize()) {
            throw new dev.cramjet.CramjetException("--prompt-tokens " + prompt + " and --decode " + tokens
                    + " must be >= 1 and >= 2 and fit the context of " + cfg.blockSize());
        }
        int[] levels;
        try {
            levels = java.util.Arrays.stream(streamsArg.split(",")).mapToInt(x -> Integer.parseInt(x.trim())).toArray();
        } catch (NumberFormatException e) {
            throw new dev.cramjet.CramjetException("--streams expects numbers separated by commas, got '" + streamsArg + "'");
        }
        for (int c : levels) if (c < 1) throw new dev.cramjet.CramjetException("--streams: each level must be at least 1, got " + c);
        for (String w : weightsArg.split(",")) {
            DType type = switch (w.trim()) {
                case "fp32" -> null;
                case "int8" -> DType.Q8_0;
                default -> throw new dev.cramjet.CramjetException("--weights: fp32 or int8, got '" + w + "'");
            };
            try (Backend be = Backends.open(device)) {
                GPT model = new GPT(be, cfg, 1, 1, 1, Model.Options.INFERENCE.weights(type));
                String label = type == null ? be.computeType().name().toLowerCase(Locale.ROOT) : "int8";
                emit(json, Map.of("bench", "serve_setup", "device", be.describe(), "preset", preset, "weights", label,
                        "prompt_tokens", (long) prompt, "decode_tokens", (long) tokens),
                        String.format(Locale.ROOT, "serve: %s, %s weights, %s; prompts of %d tokens, %d tokens generated per stream",
                                preset, label, be.describe(), prompt, tokens));
                double[] single = {Double.NaN, Double.NaN};
                ServeBench.run(model, levels, prompt, tokens, 64, l -> {
                    if (l.streams() == 1) { single[0] = l.aggregateTokensPerSecond(); single[1] = l.tokensPerCpuSecond(); }
                    Map<String, Object> m = new LinkedHashMap<>(l.json());
                    m.put("bench", "serve");
                    m.put("weights", label);
                    m.put("threads", (long) Parallel.threads());
                    m.put("over_single_stream", l.aggregateTokensPerSecond() / single[0]);
                    m.put("cpu_over_single_stream", l.tokensPerCpuSecond() / single[1]);
                    // With more than one compute thread the engine's thread does only its share (and waits for the rest).
                    String cpu = Parallel.threads() > 1 ? "" : String.format(Locale.ROOT, "; %7.1f tokens per CPU-second (%5.2f×)",
                            l.tokensPerCpuSecond(), l.tokensPerCpuSecond() / single[1]);
                    emit(json, m, String.format(Locale.ROOT,
                            "  %3d streams: %8.1f tokens/s aggregate (%5.2f× one stream), %6.1f tokens/s per stream decoding, first token p50 %6.3f s, p99 %6.3f s%s",
                            l.streams(), l.aggregateTokensPerSecond(), l.aggregateTokensPerSecond() / single[0],
                            l.decodeTokensPerSecond(), l.ttftP50(), l.ttftP99(), cpu));
                });
            }
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

    private static void report(boolean json, String what, int tokens, double seconds, double flopsPerToken, double peak) {
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
                seconds * 1e3, tps, gflops, Double.isNaN(peak) ? "" : String.format(Locale.ROOT, " = %.1f%% of the fp32 ceiling", 100 * gflops / peak)));
    }

    private static void emit(boolean json, Map<String, Object> m, String text) {
        System.out.println(json ? Json.write(m) : text);
        System.out.flush();
    }
}
