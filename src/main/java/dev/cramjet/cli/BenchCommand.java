package dev.cramjet.cli;

import dev.cramjet.engine.Accelerator;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.cpu.CpuPeak;
import dev.cramjet.engine.cpu.Parallel;
import dev.cramjet.infer.DecodeBench;
import dev.cramjet.io.ModelFiles;
import dev.cramjet.io.Json;
import dev.cramjet.nn.Encoder;
import dev.cramjet.nn.EncoderConfig;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.LoRA;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.Parameters;
import dev.cramjet.optim.AdamWOptimizer;
import dev.cramjet.train.EncoderLearner;
import dev.cramjet.serve.Engine;
import dev.cramjet.serve.ServeBench;

import java.io.IOException;
import java.util.Arrays;
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
 * tokens/s and the weight bytes streamed per second. With {@code --finetune}: a full fine-tune against LoRA on the
 * same model and batch — step time and memory.
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
                       cramjet bench --preset crammed-tiny|crammed-small|crammed-bert|bert-tiny|bert-base [--mask-rate R]
                                     [--steps N] [--device cpu|cuda] [--batch B] [--seq T] [--json]
                       cramjet bench --finetune [--lora-rank 16] [--preset …] [--batch B] [--seq T] [--steps N] [--json]
                       cramjet bench --serve [--preset P] [--streams 1,4,16,64] [--prompt-tokens N] [--decode N]
                                     [--chunk N] [--weights fp32,int8] [--repeats R] [--device cpu|cuda] [--json]
                       cramjet bench --model PATH [--prompt P] [--decode N] [--repeats R] [--json]
                       cramjet bench --nproc N [--preset tiny] [--batch 8] [--steps 5] [--zero]
       cramjet bench --matmul N,K [--rows 1,2,4,8,15,16] [--packed] [--json]
       cramjet bench --attention 32,96,256 [--streams 16] [--preset gpt2-124m] [--json]

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
                An encoder preset times masked-language-model steps instead: R of the positions masked (default 25%
                for the crammed presets, 15% for BERT's) and scored by the sparse head, batch 32 (16 for width 768)
                × seq 128; FLOPs per token 6·(N − Vp·C) + 6·Vp·C·R + 12·L·d·T (the tied decoder runs on the masked
                rows only). No generation figures.

                --finetune compares fine-tuning the whole model with LoRA of rank --lora-rank (alpha 2r) on every
                attention and MLP matrix, the base frozen: training-step time and tokens/s on the same batch, the
                memory the backend holds (weights, gradients, optimizer state, activations — all allocated before
                the first step) and the process's peak resident memory after each (LoRA runs first, so each peak is
                its own).

                --serve measures the serving engine (continuous batching, as `cramjet serve` runs it) instead: for
                each weight type and each number of concurrent streams, that many requests at once, each a prompt of
                --prompt-tokens random ids (default 64) and then exactly --decode tokens (default 64) sampled over the
                whole vocabulary, the prompts read --chunk tokens per step as `cramjet serve --chunk` does (default
                256): aggregate tokens/s, per-stream decode tokens/s, time to first token p50/p99, and
                each level's aggregate over the single-stream rate; --repeats R runs the levels R times in turn
                and ends with each level's median ratio and range over the repeats. With one compute thread
                (CRAMJET_JAVA_OPTS=-Dcramjet.threads=1) it also prints tokens per CPU-second of the decoding thread,
                which holds on a machine that other processes load.

                With --model, only generation, of a saved model (a model directory, or a GGUF file whose Q8_0 weights
                run as int8): a P-token prompt (default 64) and N decoded tokens (default 128), R timed repeats
                (default 3) after a warm-up — the Cramjet side of scripts/bench-llama.sh's comparison with llama.cpp.

                With --nproc, data parallel on the CPU: training steps of N ranks under mpirun (cores/N threads each, micro-batch
                B each) against one process on all cores and one on cores/N threads, with the step split into
                compute, gradient exchange and optimizer; --zero shards the optimizer state (ZeRO-1).

                --matmul N,K times the CPU's fp32 product of --rows rows of x by a weight [N, K] as a decoding step
                first reads it (no packed copy), or with --packed as later steps read it (from the copy the backend
                packs once): ms per call (best of several), GMAC/s and W's GB/s per row count.

                --attention KEYS times the CPU's attention for a decoding step: one query for each of --streams
                sequences (default 16) against its cache of KEYS positions, the preset's heads (default gpt2-124m):
                µs per (sequence, head) of one call, the best of several, for each KEYS in the list.
                """;
    }

    @Override
    public int run(Args args) throws Exception {
        if (args.has("nproc") || args.has("dp")) return DataParallelBench.run(args);
        if (args.flag("serve")) return serve(args);
        if (args.has("matmul")) return matmul(args);
        if (args.has("attention")) return attention(args);
        if (args.has("model")) return savedModel(args);
        String preset = args.string("preset", "tiny");
        String device = args.string("device", "cpu");
        boolean json = args.flag("json");
        if (EncoderConfig.isPreset(preset)) return mlm(args, preset, device, json);
        GPTConfig cfg = GPTConfig.preset(preset);
        boolean large = cfg.nEmbd() >= 768;
        int batch = args.integer("batch", large ? 4 : 8);
        int seq = args.integer("seq", cfg.blockSize());
        int steps = args.integer("steps", large ? 2 : 5);
        int decode = args.integer("decode", 64);
        boolean finetune = args.flag("finetune");
        int rank = args.integer("lora-rank", 16);
        args.finish();
        if (steps < 1) throw new dev.cramjet.CramjetException("--steps must be at least 1, got " + steps);
        if (decode < 0) throw new dev.cramjet.CramjetException("--decode must be at least 0, got " + decode);
        if (finetune) return finetune(device, preset, cfg, batch, seq, steps, rank, json);

        try (Backend be = Backends.open(device)) {
            GPT model = new GPT(be, cfg, batch, seq, 1);
            AdamWOptimizer opt = new AdamWOptimizer(model.backend(), model.parameters(), AdamWOptimizer.Settings.defaults());
            int n = batch * seq;
            int[] x = randomTokens(cfg.vocabSize(), n, 1), y = randomTokens(cfg.vocabSize(), n, 2);
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

            Step train = trainStep(model, opt, x, y);
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

    /**
     * One training step (forward, backward, AdamW) on fixed tokens, dropout drawn from the step number; a GPU
     * replays the forward and backward as a CUDA graph.
     */
    private static Step trainStep(Model model, AdamWOptimizer opt, int[] x, int[] y) {
        Consumer<Runnable> repeat = Backends.repeater(model.backend());
        return s -> {
            model.train(s);
            model.zeroGrad();
            model.trainStep(x, null, y, 1, repeat);
            opt.step(1e-4f);
        };
    }

    /**
     * An encoder preset: masked-language-model training steps (the sparse head scoring the masked share of the
     * positions, Cramming's 25% or BERT's 15%) and forward passes, on random tokens; FLOPs per token as
     * {@link EncoderLearner#flopsPerToken(EncoderConfig, long, int, double)} counts them.
     */
    private static int mlm(Args args, String preset, String device, boolean json) {
        EncoderConfig cfg = EncoderConfig.preset(preset);
        boolean large = cfg.nEmbd() >= 768;
        int batch = args.integer("batch", large ? 16 : 32);
        int seq = args.integer("seq", Math.min(cfg.blockSize(), 128));
        int steps = args.integer("steps", large ? 2 : 5);
        double rate = args.number("mask-rate", cfg.preNorm() ? 0.25 : 0.15);
        args.finish();
        if (steps < 1) throw new dev.cramjet.CramjetException("--steps must be at least 1, got " + steps);
        if (!(rate > 0 && rate < 1)) throw new dev.cramjet.CramjetException("--mask-rate must be in (0, 1), got " + rate);
        try (Backend be = Backends.open(device)) {
            Encoder model = new Encoder(be, cfg, batch, seq, 1, Model.Options.TRAIN.sparse());
            AdamWOptimizer opt = new AdamWOptimizer(be, model.parameters(), AdamWOptimizer.Settings.defaults());
            SplittableRandom rng = new SplittableRandom(2);
            int n = batch * seq;
            int[] x = randomTokens(cfg.vocabSize(), n, 1), y = new int[n];
            for (int i = 0; i < n; i++) y[i] = rng.nextDouble() < rate ? rng.nextInt(cfg.vocabSize()) : -1;
            long params = model.parameterCount(false);
            double flopsPerToken = EncoderLearner.flopsPerToken(cfg, params, seq, rate);
            Map<String, Object> head = new LinkedHashMap<>();
            head.put("bench", "setup");
            head.put("device", be.describe());
            head.put("preset", preset);
            head.put("objective", "mlm");
            head.put("params", params);
            head.put("batch", (long) batch);
            head.put("seq", (long) seq);
            head.put("mask_rate", rate);
            head.put("steps", (long) steps);
            head.put("flops_per_token", flopsPerToken);
            emit(json, head, String.format(Locale.ROOT,
                    "device: %s%nmodel:  %s encoder, %d layers, d %d, %d heads, %s-norm, %s, vocab %d, %,d parameters without positions%n"
                            + "run:    masked-language modelling, %.0f%% masked (sparse head), batch %d × seq %d, %d timed steps after one warm-up",
                    be.describe(), preset, cfg.nLayer(), cfg.nEmbd(), cfg.nHead(), cfg.preNorm() ? "pre" : "post",
                    cfg.mlp().name().toLowerCase(Locale.ROOT), cfg.vocabSize(), params, 100 * rate, batch, seq, steps));
            double[] train = timeWithCpu(be, steps, trainStep(model, opt, x, y));
            model.eval();
            double[] forward = timeWithCpu(be, steps, s -> model.forward(x, y));
            double peak = be.peakFlops() / 1e9;
            String ceiling = be.name().equals("cpu") ? "the fp32 ceiling" : "the bf16 data-sheet peak";
            report(json, "mlm_train_step", n, train[0], flopsPerToken, peak, ceiling);
            report(json, "mlm_forward", n, forward[0], flopsPerToken / 3, peak, ceiling);
            if (be.name().equals("cpu")) {
                emit(json, Map.of("bench", "mlm_cpu_time", "train_cpu_seconds_per_step", train[1], "forward_cpu_seconds_per_step", forward[1],
                        "train_tokens_per_cpu_second", n / train[1]), String.format(Locale.ROOT,
                        "CPU time (all threads): train step %.2f s = %.0f tokens per CPU-second, forward %.2f s = %.0f tokens per CPU-second",
                        train[1], n / train[1], forward[1], n / forward[1]));
            }
            long hwm = ProcessStats.peakResidentBytes();
            emit(json, Map.of("bench", "memory", "vm_hwm_bytes", hwm, "backend_bytes", be.allocatedBytes()),
                    String.format(Locale.ROOT, "peak memory: %.2f GB resident (VmHWM), %.2f GB held by the backend", hwm / 1e9, be.allocatedBytes() / 1e9));
        }
        return 0;
    }

    /**
     * Full fine-tuning against LoRA on every attention and MLP matrix of a frozen base, each in a backend of its
     * own on the same random batch: seconds per step, tokens/s, backend bytes, and the process's peak RSS after it.
     */
    private static int finetune(String device, String preset, GPTConfig cfg, int batch, int seq, int steps, int rank, boolean json) {
        int n = batch * seq;
        int[] x = randomTokens(cfg.vocabSize(), n, 1), y = randomTokens(cfg.vocabSize(), n, 2);
        LoRA.Spec spec = new LoRA.Spec(rank, 2f * rank, java.util.EnumSet.allOf(LoRA.Target.class));
        double[] seconds = new double[2];
        long[] held = new long[2], peak = new long[2];
        String device0 = null;
        String[] names = {"lora", "full"};
        for (int k = 0; k < 2; k++) {
            Model.Options options = k == 0 ? Model.Options.TRAIN.lora(spec).training(Parameters.Group.ADAPTER) : Model.Options.TRAIN;
            try (Backend be = Backends.open(device)) {
                device0 = be.describe();
                GPT model = new GPT(be, cfg, batch, seq, 1, options);
                AdamWOptimizer opt = new AdamWOptimizer(be, model.parameters(), AdamWOptimizer.Settings.defaults());
                seconds[k] = time(be, steps, trainStep(model, opt, x, y));
                held[k] = be.allocatedBytes();
                peak[k] = ProcessStats.peakResidentBytes();
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("bench", "finetune");
                m.put("method", names[k]);
                m.put("preset", preset);
                m.put("batch", (long) batch);
                m.put("seq", (long) seq);
                m.put("trained_params", model.parameters().trainableCount());
                m.put("seconds_per_step", seconds[k]);
                m.put("tokens_per_s", n / seconds[k]);
                m.put("backend_bytes", held[k]);
                m.put("vm_hwm_bytes", peak[k]);
                emit(json, m, String.format(Locale.ROOT, "%-26s %,12d trained parameters: %8.1f ms/step %8.0f tokens/s, backend %.2f GB, peak RSS %.2f GB",
                        k == 0 ? "LoRA r=" + rank + " (attention + MLP)" : "full fine-tune", model.parameters().trainableCount(),
                        seconds[k] * 1e3, n / seconds[k], held[k] / 1e9, peak[k] / 1e9));
            }
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("bench", "finetune_ratio");
        r.put("device", device0);
        r.put("lora_speedup", seconds[1] / seconds[0]);
        r.put("lora_backend_fraction", (double) held[0] / held[1]);
        r.put("lora_rss_fraction", (double) peak[0] / peak[1]);
        emit(json, r, String.format(Locale.ROOT, "%s, %s batch %d × seq %d: LoRA steps %.2f× as fast, holds %.0f%% of the backend memory and peaks at %.0f%% of the resident memory of a full fine-tune",
                device0, preset, batch, seq, seconds[1] / seconds[0], 100.0 * held[0] / held[1], 100.0 * peak[0] / peak[1]));
        return 0;
    }

    /** n token ids drawn uniformly from a vocabulary of {@code vocab}. */
    private static int[] randomTokens(int vocab, int n, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = rng.nextInt(vocab);
        return ids;
    }

    /** `bench --serve`: the serving engine at several numbers of concurrent streams, per weight type. */
    private static int serve(Args args) throws InterruptedException {
        String preset = args.string("preset", "gpt2-124m"), device = args.string("device", "cpu");
        boolean json = args.flag("json");
        int prompt = args.integer("prompt-tokens", 64), tokens = args.integer("decode", 64), chunk = args.integer("chunk", Engine.CHUNK);
        String streamsArg = args.string("streams", "1,4,16,64"), weightsArg = args.string("weights", "fp32,int8");
        int repeats = args.integer("repeats", 1);
        args.finish();
        if (repeats < 1) throw new dev.cramjet.CramjetException("--repeats must be at least 1, got " + repeats);
        GPTConfig cfg = GPTConfig.preset(preset);
        if (prompt < 1 || tokens < 2 || prompt + tokens > cfg.blockSize()) {
            throw new dev.cramjet.CramjetException("--prompt-tokens " + prompt + " and --decode " + tokens
                    + " must be >= 1 and >= 2 and fit the context of " + cfg.blockSize());
        }
        int[] levels = positives("streams", streamsArg);
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
                // ratios[i][r]: level i over the single stream of repeat r (NaN without a one-stream level).
                double[][] ratios = new double[levels.length][repeats];
                for (int r = 0; r < repeats; r++) {
                    int repeat = r;
                    single[0] = single[1] = Double.NaN;
                    ServeBench.run(model, levels, prompt, tokens, chunk, l -> {
                        if (l.streams() == 1) { single[0] = l.aggregateTokensPerSecond(); single[1] = l.tokensPerCpuSecond(); }
                        int at = 0;
                        while (levels[at] != l.streams()) at++;
                        ratios[at][repeat] = Parallel.threads() > 1 ? l.aggregateTokensPerSecond() / single[0] : l.tokensPerCpuSecond() / single[1];
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
                if (repeats > 1) summarise(json, label, levels, ratios);
            }
        }
        return 0;
    }

    /**
     * After several repeats of the levels, each level's ratio to the same repeat's single stream — tokens/s, or per
     * CPU-second with one compute thread — as the median and range over the repeats: the machine's drift between
     * minutes moves the memory-bound single stream by a third, so one repeat's ratio says little.
     */
    private static void summarise(boolean json, String label, int[] levels, double[][] ratios) {
        String unit = Parallel.threads() > 1 ? "tokens/s" : "tokens per CPU-second";
        for (int i = 0; i < levels.length; i++) {
            double[] x = ratios[i].clone();
            Arrays.sort(x);
            double median = x.length % 2 == 1 ? x[x.length / 2] : (x[x.length / 2 - 1] + x[x.length / 2]) / 2;
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("bench", "serve_summary");
            m.put("weights", label);
            m.put("streams", (long) levels[i]);
            m.put("repeats", (long) x.length);
            m.put("over_single_stream_median", median);
            m.put("over_single_stream_min", x[0]);
            m.put("over_single_stream_max", x[x.length - 1]);
            emit(json, m, String.format(Locale.ROOT, "  %3d streams over one (%s), %d repeats: median %5.2f×, range %5.2f×–%5.2f×",
                    levels[i], unit, x.length, median, x[0], x[x.length - 1]));
        }
    }

    /** Generation speed of a saved model, weights as stored: one line per repeat. */
    private static int savedModel(Args args) throws IOException {
        java.nio.file.Path path = java.nio.file.Path.of(args.required("model"));
        int prompt = args.integer("prompt", PROMPT), decode = args.integer("decode", 128), repeats = args.integer("repeats", 3);
        String device = args.string("device", "cpu");
        boolean json = args.flag("json");
        args.finish();
        if (repeats < 1) throw new dev.cramjet.CramjetException("--repeats must be at least 1, got " + repeats);
        try (Backend be = Backends.open(device)) {
            GPT model = ModelFiles.load(be, path, 1, 1);
            String weights = model.parameter("h.0.mlp.fc.weight").value().dtype().name();
            for (int r = 0; r < repeats; r++) {
                DecodeBench b = DecodeBench.run(model, prompt, decode, 2 + r);
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("bench", "generate");
                m.put("model", path.toString());
                m.put("weights", weights);
                m.put("prompt_tokens", (long) prompt);
                m.put("prefill_tokens_per_s", b.prefillTokensPerSecond());
                m.put("decode_tokens", (long) decode);
                m.put("decode_tokens_per_s", b.decodeTokensPerSecond());
                emit(json, m, String.format(Locale.ROOT, "generate %s (%s weights): prefill %.0f tokens/s, decode %.1f tokens/s",
                        path, weights, b.prefillTokensPerSecond(), b.decodeTokensPerSecond()));
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
            DecodeBench b = DecodeBench.run(model, prompt, tokens, 2);
            double prefill = b.prefillTokensPerSecond(), decode = b.decodeTokensPerSecond();
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
    private static double time(Backend be, int steps, Step step) { return timeWithCpu(be, steps, step)[0]; }

    /**
     * Wall seconds and process CPU seconds (all threads) per step, after one warm-up. On a machine other jobs share,
     * wall time grows with their load; CPU time is what the work itself costs.
     */
    private static double[] timeWithCpu(Backend be, int steps, Step step) {
        step.run(0);
        be.synchronize();
        double cpu0 = ProcessStats.cpuSeconds();
        long t0 = System.nanoTime();
        for (int s = 1; s <= steps; s++) step.run(s);
        be.synchronize();
        return new double[] {(System.nanoTime() - t0) / 1e9 / steps, (ProcessStats.cpuSeconds() - cpu0) / steps};
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
        String label = what.endsWith("train_step") ? "train step (fwd+bwd+AdamW)" : "forward only              ";
        emit(json, m, String.format(Locale.ROOT, "%s: %8.1f ms/step %10.0f tokens/s %8.1f GFLOP/s%s", label,
                seconds * 1e3, tps, gflops, Double.isNaN(peak) ? "" : String.format(Locale.ROOT, " = %.1f%% of %s", 100 * gflops / peak, ceiling)));
    }

    /** --flag's value as positive integers separated by commas, or one clear error. */
    private static int[] positives(String flag, String value) {
        int[] v;
        try {
            v = java.util.Arrays.stream(value.split(",")).mapToInt(x -> Integer.parseInt(x.trim())).toArray();
        } catch (NumberFormatException e) {
            throw new dev.cramjet.CramjetException("--" + flag + " expects numbers separated by commas, got '" + value + "'");
        }
        for (int x : v) if (x < 1) throw new dev.cramjet.CramjetException("--" + flag + ": each value must be at least 1, got " + x);
        return v;
    }

    /**
     * `bench --matmul N,K`: the CPU's fp32 product of a few rows of x by a weight W [N,K] (unpacked, as a decoding
     * step's first read of a weight, or packed, as the later ones), best of repeated calls per row count: ms per
     * call, multiply-adds per second, and W's bytes per second — where the few-row products stand between
     * memory-bound (one row) and compute-bound.
     */
    private static int matmul(Args args) {
        int[] shape = positives("matmul", args.string("matmul", ""));
        int[] rows = positives("rows", args.string("rows", "1,2,4,8,15,16"));
        boolean json = args.flag("json"), packed = args.flag("packed");
        args.finish();
        if (shape.length != 2) throw new dev.cramjet.CramjetException("--matmul expects N,K (W's rows and columns), got " + shape.length + " numbers");
        int n = shape[0], k = shape[1];
        for (int m : rows) {
            double flops = CpuPeak.gemmGflops(m, n, k, packed), ms = 2e-6 * m * n * k / flops;
            Map<String, Object> r = new java.util.LinkedHashMap<>();
            r.put("bench", "matmul");
            r.put("rows", (long) m);
            r.put("n", (long) n);
            r.put("k", (long) k);
            r.put("packed", packed);
            r.put("ms", ms);
            r.put("gmac_per_s", flops / 2);
            r.put("weight_gb_per_s", 4e-6 * n * k / ms);
            emit(json, r, String.format(Locale.ROOT, "matmul %d × [%d, %d]%s: %.3f ms, %.1f GMAC/s, W read at %.1f GB/s",
                    m, n, k, packed ? " packed" : "", ms, flops / 2, 4e-6 * n * k / ms));
        }
        return 0;
    }

    /** `bench --attention KEYS`: a decoding step's attention per (sequence, head), for each cache length. */
    private static int attention(Args args) {
        int[] lengths = positives("attention", args.string("attention", ""));
        int streams = args.integer("streams", 16);
        GPTConfig cfg = GPTConfig.preset(args.string("preset", "gpt2-124m"));
        boolean json = args.flag("json");
        args.finish();
        if (streams < 1) throw new dev.cramjet.CramjetException("--streams must be at least 1, got " + streams);
        int heads = cfg.nHead(), hs = cfg.headDim();
        for (int keys : lengths) {
            double us = CpuPeak.decodeAttentionMicros(streams, keys, heads, hs);
            Map<String, Object> r = new java.util.LinkedHashMap<>();
            r.put("bench", "attention");
            r.put("streams", (long) streams);
            r.put("keys", (long) keys);
            r.put("heads", (long) heads);
            r.put("head_size", (long) hs);
            r.put("us_per_sequence_head", us);
            emit(json, r, String.format(Locale.ROOT, "attention, one query × %d sequences, %d keys, %d heads of %d: %.2f µs per (sequence, head)",
                    streams, keys, heads, hs, us));
        }
        return 0;
    }

    private static void emit(boolean json, Map<String, Object> m, String text) {
        System.out.println(json ? Json.write(m) : text);
        System.out.flush();
    }
}
