package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.data.Batch;
import dev.cramjet.dist.ScalePlan;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.io.Json;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.optim.AdamWOptimizer;
import dev.cramjet.train.Budget;
import dev.cramjet.train.GptLearner;
import dev.cramjet.train.Planner;
import dev.cramjet.train.TrainData;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/** `cramjet plan`: a compute-optimal model size and token count for a budget on this device. */
public final class PlanCommand implements Command {
    @Override
    public String summary() { return "propose a compute-optimal model for a budget on this device, or a layout for N GPUs"; }

    @Override
    public String usage() {
        return """
                usage: cramjet plan --data DIR --budget 6h [--context 256] [--batch 16] [--device cpu] [--bench 20s]
                                    [--corpus-tokens N]

                Measures this device's training throughput with a short benchmark (about --bench long, default 20s),
                then proposes the model that spends the budget near compute-optimally: about 20 training tokens per
                parameter (Chinchilla). If that needs more than 4 passes over DIR's training tokens, the data is
                scarce and the plan takes a larger model on fewer tokens instead; it says how many epochs either
                way. --corpus-tokens N plans for a corpus of N training tokens instead of DIR's (DIR still gives
                the vocabulary): what the budget buys before the data is collected. Prints the plan and the config
                to train it (save it and pass it to cramjet train --config).

                usage: cramjet plan --gpus N --interconnect nvlink|ib|pcie [--model gpt2-124m] [--gpu h100]
                                    [--layers L --heads H --width D --context T] [--batch 16]
                                    [--tokens-per-step 524288] [--mfu 0.4]

                The layout for data-parallel training of a preset model (reshaped by --layers, --heads, --width,
                --context) on N GPUs (--gpu h100, h200, h800, a100, b200, l4), from a cost model (nothing is
                measured): compute per step at the assumed MFU of the GPU's dense bf16 peak, the gradient
                exchange's bytes over the link's bandwidth, memory per GPU with replicated and with ZeRO-1
                sharded optimizer state, and which to use. Each figure is printed with its formula and
                assumptions; docs/SCALING.md explains them.""";
    }

    @Override
    public int run(Args args) throws Exception {
        if (args.has("gpus")) return scaleOut(args);
        Path data = Path.of(args.required("data"));
        double seconds = Budget.parseDuration(args.required("budget"), "--budget");
        int context = args.integer("context", 256);
        int batch = args.integer("batch", 16);
        String device = args.string("device", "cpu");
        double bench = Budget.parseDuration(args.string("bench", "20s"), "--bench");
        String assumed = args.string("corpus-tokens", null);
        long corpusTokens = assumed == null ? 0 : Budget.parseCount(assumed, "--corpus-tokens");
        args.finish();
        if (assumed != null && corpusTokens < 1) throw new CramjetException("--corpus-tokens must be positive, got " + assumed);
        if (context < 8 || batch < 1) throw new CramjetException("--context must be at least 8 and --batch at least 1");

        try (TrainData td = TrainData.open(data); Backend be = Backends.open(device)) {
            td.checkFits(batch, context, false);
            int vocab = td.tokenizer.vocabSize();
            long tokens = corpusTokens > 0 ? corpusTokens : td.train.tokens();
            System.out.printf(Locale.ROOT, "device: %s%ndata: %,d training tokens%s, vocabulary %d%n", be.describe(), tokens,
                    corpusTokens > 0 ? " (--corpus-tokens; " + data + " has " + String.format(Locale.ROOT, "%,d", td.train.tokens()) + ")" : "", vocab);
            // Measure at a mid-sized shape, plan, then measure again at the planned shape and plan once more:
            // small models use the device less well, so the second figure is the one that holds.
            int k = 6;
            Planner.Plan plan = null;
            for (int round = 0; round < 2; round++) {
                double flops = throughput(be, k, vocab, context, batch, bench / 2);
                plan = Planner.plan(flops, seconds, tokens, vocab, context);
                System.out.printf(Locale.ROOT, "measured %.1f GFLOP/s training a %d-layer, width-%d model%n", flops / 1e9, k, 64 * k);
                if (plan.layers() == k) break;
                k = plan.layers();
            }
            System.out.println("plan for " + Budget.formatDuration(seconds) + ": " + plan.describe());
            Map<String, Object> cfg = new LinkedHashMap<>();
            cfg.put("data", data.toString());
            cfg.put("model", "small");
            cfg.put("layers", (long) plan.layers());
            cfg.put("heads", (long) plan.heads());
            cfg.put("width", (long) plan.width());
            cfg.put("context", (long) context);
            cfg.put("batch", (long) batch);
            cfg.put("lr", plan.lr());
            cfg.put("budget", Budget.formatDuration(seconds));
            System.out.println("\nconfig (cramjet train --config FILE):");
            System.out.print(Json.pretty(cfg));
            return 0;
        }
    }

    /** `plan --gpus N`: the data-parallel layout and its expected step time and memory, from {@link ScalePlan}. */
    private static int scaleOut(Args args) {
        int gpus = args.integer("gpus", 1);
        ScalePlan.Interconnect link = ScalePlan.Interconnect.of(args.required("interconnect"));
        String preset = args.string("model", "gpt2-124m");
        ScalePlan.Gpu gpu = ScalePlan.Gpu.of(args.string("gpu", "h100"));
        int batch = args.integer("batch", 16);
        Map<String, Object> shape = new LinkedHashMap<>();
        for (String[] k : new String[][] {{"layers", "n_layer"}, {"heads", "n_head"}, {"width", "n_embd"}, {"context", "block_size"}}) {
            int v = args.integer(k[0], 0);
            if (v > 0) shape.put(k[1], (long) v);
        }
        long tokens = args.longValue("tokens-per-step", 524288);
        double mfu = Double.parseDouble(args.string("mfu", "0.4"));
        args.finish();
        GPTConfig model = GPTConfig.preset(preset).with(shape, "plan");
        ScalePlan.Plan plan = ScalePlan.plan(new ScalePlan.Inputs(model, gpus, link, gpu, tokens, batch, mfu));
        System.out.println("plan for " + preset + " on " + gpus + " GPU" + (gpus > 1 ? "s" : "") + " (a cost model: every figure is computed, none measured)");
        for (String line : ScalePlan.describe(plan)) System.out.println("  " + line);
        return 0;
    }

    /** Sustained training FLOP/s of the k-th planner shape: a few warm-up steps, then steps for about {@code seconds}. */
    static double throughput(Backend be, int k, int vocab, int context, int batch, double seconds) {
        GPTConfig c = GPTConfig.gpt2(k, k, 64 * k, vocab, context);
        GPT model = new GPT(be, c, batch, context, 1);
        GptLearner learner = new GptLearner(model, new AdamWOptimizer(model.backend(), model.parameters(), AdamWOptimizer.Settings.defaults()));
        Batch b = new Batch(batch, context);
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < b.tokens.length; i++) { b.tokens[i] = r.nextInt(vocab); b.targets[i] = r.nextInt(vocab); }
        long steps = 0, t0 = 0;
        for (int i = 0; ; i++) {
            if (i == 2) t0 = System.nanoTime();
            learner.zeroGrad();
            learner.trainMicroBatch(b, i, 1);
            learner.gradNorm();
            learner.step(1e-4);
            if (i >= 2) steps++;
            if (i >= 4 && System.nanoTime() - t0 > seconds * 1e9) break;
        }
        double perSecond = steps * (double) b.tokens.length / ((System.nanoTime() - t0) / 1e9);
        return perSecond * learner.flopsPerToken();
    }
}
