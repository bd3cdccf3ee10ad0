package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.dist.Communicator;
import dev.cramjet.dist.DataParallel;
import dev.cramjet.dist.Launch;
import dev.cramjet.dist.Launcher;
import dev.cramjet.dist.World;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.engine.cpu.Parallel;
import dev.cramjet.io.Json;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.optim.AdamWOptimizer;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * `cramjet bench --nproc N` (CPU): data-parallel training steps of N ranks under mpirun against one process, on
 * this machine. Three runs, each its own JVM (a process's thread count is fixed when it starts):
 * <ol>
 * <li>one process on all cores, micro-batch B — the throughput to beat;</li>
 * <li>one process on cores/N threads, micro-batch B — one rank's work alone on its share of the cores;</li>
 * <li>N ranks on cores/N threads each, micro-batch B each (N·B per step) — step time split into compute
 *     (forward + backward), the gradient exchange (all-reduce or ZeRO-1's reduce-scatter and all-gather,
 *     waiting for the slower rank included) and the optimizer.</li>
 * </ol>
 * Run 3 ÷ run 2 is the cost of running N ranks side by side (the exchange, and the ranks competing for memory
 * bandwidth and caches); run 3's tokens/s ÷ run 1's is what data parallelism on one machine gives over one
 * process using all cores — on a CPU, nothing more than the cores it already had. `--dp` is one of the runs: it
 * times steps in the world this process was started in.
 */
final class DataParallelBench {
    private DataParallelBench() {}

    static int run(Args args) throws Exception {
        int nproc = args.integer("nproc", 0);
        boolean worker = args.flag("dp");
        String preset = args.string("preset", "tiny");
        int batch = args.integer("batch", 8);
        int steps = args.integer("steps", 5);
        boolean zero = args.flag("zero");
        args.finish();
        if (steps < 1) throw new CramjetException("--steps must be at least 1, got " + steps);
        if (worker) return worker(preset, batch, steps, zero);
        if (nproc < 2) throw new CramjetException("--nproc must be at least 2 (the ranks to compare with one process), got " + nproc);
        int cores = Runtime.getRuntime().availableProcessors(), share = Math.max(1, cores / nproc);
        List<String> dp = new ArrayList<>(List.of("bench", "--dp", "--preset", preset, "--batch", Integer.toString(batch),
                "--steps", Integer.toString(steps)));
        if (zero) dp.add("--zero");
        System.out.printf(Locale.ROOT, "data-parallel bench: %s, micro-batch %d per rank, %d timed steps after one warm-up; %d cores%n",
                preset, batch, steps, cores);
        Map<String, Object> all = child(cores, dp, 1), alone = child(share, dp, 1), ranks = child(share, dp, nproc);
        line("1 process,  " + cores + " thread(s)", all);
        line("1 process,  " + share + " thread(s)", alone);
        line(nproc + " ranks,    " + share + " thread(s) each", ranks);
        double t1 = number(alone, "seconds_per_step"), tn = number(ranks, "seconds_per_step");
        System.out.printf(Locale.ROOT, "%d ranks take %.2f× the step time of one rank alone on its %d thread(s) (ideal 1.00); "
                        + "the exchange is %.1f%% of their step; tokens/s %.2f× one process on all %d cores%n",
                nproc, tn / t1, share, 100 * number(ranks, "communication_s") / tn,
                number(ranks, "tokens_per_s") / number(all, "tokens_per_s"), cores);
        if (nproc * share > cores || cores < 2 * nproc) {
            System.out.println("note: with " + cores + " cores the ranks share the machine's memory bandwidth and caches, and"
                    + " mpirun's polling while a rank waits takes cycles from the other; on a GPU machine each rank has its own device");
        }
        return 0;
    }

    private static void line(String what, Map<String, Object> m) {
        System.out.printf(Locale.ROOT, "  %-28s %8.1f ms/step = compute %7.1f + exchange %6.1f + optimizer %5.1f ms; %8.0f tokens/s%n", what,
                1e3 * number(m, "seconds_per_step"), 1e3 * number(m, "compute_s"), 1e3 * number(m, "communication_s"),
                1e3 * number(m, "optimizer_s"), number(m, "tokens_per_s"));
    }

    private static double number(Map<String, Object> m, String key) { return ((Number) m.get(key)).doubleValue(); }

    /** Runs `bench --dp` with {@code threads} per process ({@code ranks} > 1: under mpirun); returns rank 0's figures. */
    private static Map<String, Object> child(int threads, List<String> dp, int ranks) throws Exception {
        List<String> cmd = new ArrayList<>(Launcher.javaCommand(Main.class.getName(), dp));
        cmd.add(1, "-Dcramjet.threads=" + threads);
        ProcessBuilder pb = new ProcessBuilder(ranks == 1 ? cmd : Launcher.mpirunCommand(ranks, cmd)).redirectErrorStream(true);
        pb.environment().putAll(Launcher.MPIRUN_ENV);
        Process p = pb.start();
        Map<String, Object> result = null;
        StringBuilder output = new StringBuilder();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String l; (l = r.readLine()) != null; ) {
                output.append(l).append('\n');
                if (l.startsWith("{\"bench\":\"dp_step\"")) result = Json.object(Json.parse(l, "bench --dp"), "bench --dp");
            }
        }
        if (p.waitFor() != 0 || result == null) throw new CramjetException("bench --dp with " + ranks + " rank(s) failed:\n" + output);
        return result;
    }

    /** One of the runs: times training steps of the preset in this process's world; rank 0 prints a JSON line. */
    private static int worker(String preset, int batch, int steps, boolean zero) {
        Launch launch = Launch.fromEnvironment();
        GPTConfig cfg = GPTConfig.preset(preset);
        int seq = cfg.blockSize(), n = batch * seq;
        try (Backend be = Backends.open("cpu")) {
            Communicator comm = World.connect(launch, be, 300);
            World world = World.unwatched(comm);
            GPT model = new GPT(be, cfg, batch, seq, 1);
            DataParallel dp = new DataParallel(world, be, model.parameters(), AdamWOptimizer.Settings.defaults(), zero);
            SplittableRandom rng = new SplittableRandom(1 + comm.rank());
            int[] x = new int[n], y = new int[n];
            for (int i = 0; i < n; i++) {
                x[i] = rng.nextInt(cfg.vocabSize());
                y[i] = rng.nextInt(cfg.vocabSize());
            }
            long compute = 0, optimizer = 0, t0 = 0;
            double comm0 = 0;
            for (int s = 0; s <= steps; s++) {
                if (s == 1) {
                    comm.barrier();
                    t0 = System.nanoTime();
                    compute = 0;
                    optimizer = 0;
                    comm0 = dp.communicationSeconds();
                }
                long a = System.nanoTime();
                model.train(s);
                model.zeroGrad();
                model.forward(x, y);
                model.backward(comm.size());
                long b = System.nanoTime();
                dp.gradNorm();
                double gathered = dp.communicationSeconds();
                long c = System.nanoTime();
                dp.update(1e-4f);
                long d = System.nanoTime();
                compute += b - a;
                optimizer += (d - c) - (long) ((dp.communicationSeconds() - gathered) * 1e9);  // ZeRO-1's all-gather is exchange
            }
            double total = (System.nanoTime() - t0) / 1e9 / steps;
            double exchange = (dp.communicationSeconds() - comm0) / steps;
            if (world.leader()) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("bench", "dp_step");
                m.put("ranks", (long) comm.size());
                m.put("threads", (long) Parallel.threads());
                m.put("zero", zero);
                m.put("seconds_per_step", total);
                m.put("compute_s", compute / 1e9 / steps);
                m.put("communication_s", exchange);
                m.put("optimizer_s", optimizer / 1e9 / steps);
                m.put("tokens_per_s", (double) n * comm.size() / total);
                System.out.println(Json.write(m));
            }
            world.close();
        }
        return 0;
    }
}
