package dev.cramjet.cli;

import dev.cramjet.dist.CollectiveCheck;
import dev.cramjet.dist.Communicator;
import dev.cramjet.dist.Launch;
import dev.cramjet.dist.MpiCommunicator;
import dev.cramjet.dist.NcclCommunicator;
import dev.cramjet.dist.World;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.engine.cuda.CudaBackend;
import dev.cramjet.engine.cuda.LibraryFinder;
import dev.cramjet.engine.cuda.Parity;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.optim.AdamWOptimizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.function.Consumer;

/**
 * `cramjet selftest --device cuda`: the parity suite (every backend op against the CPU reference, then ten
 * training steps of a small GPT) as a table; exits 1 when any check fails. Needs no Maven or JUnit, so it runs
 * from the bundle on a bare GPU machine.
 */
public final class SelftestCommand implements Command {
    /** Per-step bound on |loss − cpu loss| / cpu loss for the training check. */
    static final double LOSS_BOUND = 2e-2;

    @Override
    public String summary() { return "check a device's ops against the CPU reference (parity suite)"; }

    @Override
    public String usage() {
        return """
                usage: cramjet selftest [--device cuda|cpu] [--seed N] [--steps N]
                       cramjet selftest --collectives [--device cuda|cpu]

                Runs every backend op on the device and on the CPU reference with the same random inputs and
                prints the relative error ‖out − ref‖/‖ref‖ of each output against its bound (1e-3 for fp32
                outputs, 1e-2 for bf16 ones, 0 for Q8_0 blocks, which must match bit for bit; NaN fails). Outputs an op must overwrite are filled with NaN first,
                so an element left unwritten fails too. Then trains the "micro" GPT for --steps steps (default 10)
                on both and compares the loss curves (within 2% per step). Exit status 1 if anything fails.

                --collectives runs every collective (all-reduce sum and mean, reduce-scatter and all-gather, in
                place and not, broadcast, barrier, the host reduction) in f32 and bf16 on the device's library
                and checks the exact results: NCCL on cuda (a world of one GPU, or the ranks torchrun or mpirun
                started), Open MPI on cpu (a world of one, or the ranks mpirun started). Each rank prints its own.
                """;
    }

    @Override
    public int run(Args args) {
        String device = args.string("device", "cuda");
        if (args.flag("collectives")) {
            args.finish();
            return collectives(device);
        }
        long seed = args.longValue("seed", 42);
        int steps = args.integer("steps", 10);
        args.finish();
        try (Backend reference = new CpuBackend(); Backend candidate = Backends.open(device)) {
            System.out.println("reference: " + reference.describe());
            System.out.println("device:    " + candidate.describe());
            List<Parity.Result> results = new ArrayList<>(new Parity(reference, candidate, seed).runOps());
            double[][] curves = trainingCurves(reference, candidate, steps, seed);
            results.addAll(lossChecks(curves));
            System.out.printf(Locale.ROOT, "%n%-46s %-16s %12s %10s  %s%n", "op", "output", "rel. error", "bound", "");
            int failed = 0;
            for (Parity.Result r : results) {
                if (!r.passed()) failed++;
                System.out.printf(Locale.ROOT, "%-46s %-16s %12.3e %10.0e  %s%n", r.op(), r.output(), r.relError(), r.bound(),
                        r.passed() ? "ok" : r.hasNaN() ? "FAIL (NaN/Inf)" : "FAIL");
            }
            if (steps > 0) {
                System.out.println("\nloss curves (cpu fp32 | " + device + "):");
                for (int s = 0; s < steps; s++) {
                    System.out.printf(Locale.ROOT, "  step %2d  %.5f | %.5f%n", s + 1, curves[0][s], curves[1][s]);
                }
            }
            System.out.printf(Locale.ROOT, "%nselftest: %d passed, %d failed%n", results.size() - failed, failed);
            return failed == 0 ? 0 : 1;
        }
    }

    /** `--collectives`: {@link CollectiveCheck} on the device's communication library; exit status 1 on a failure. */
    static int collectives(String device) {
        Launch launch = Launch.fromEnvironment();
        try (Backend be = Backends.open(device)) {
            Communicator comm = launch.distributed() ? World.connect(launch, be, 120)
                    : be instanceof CudaBackend cuda ? NcclCommunicator.single(cuda, LibraryFinder.system()) : new MpiCommunicator(be);
            String who = "rank " + comm.rank() + " of " + comm.size();
            List<CollectiveCheck.Result> results = CollectiveCheck.run(comm, be);
            // One write per rank: under mpirun the ranks share stdout, and separate writes interleave mid-line.
            StringBuilder out = new StringBuilder(who + ": " + comm.name() + " on " + be.describe() + "\n");
            int failed = 0;
            for (CollectiveCheck.Result r : results) {
                if (!r.passed()) failed++;
                out.append(String.format(Locale.ROOT, "%s: %-44s %s%n", who, r.check(), r.passed() ? "ok" : "FAIL: " + r.detail()));
            }
            out.append(String.format(Locale.ROOT, "%s: collectives %d passed, %d failed%n", who, results.size() - failed, failed));
            System.out.print(out);
            System.out.flush();
            comm.close();
            return failed == 0 ? 0 : 1;
        }
    }

    /**
     * Trains GPTConfig "micro" for {@code steps} AdamW steps on both backends from the same initialisation and the
     * same batches (a learnable next-token rule); returns the loss curves {reference, candidate}.
     */
    public static double[][] trainingCurves(Backend reference, Backend candidate, int steps, long seed) {
        GPTConfig cfg = GPTConfig.preset("micro");
        int batch = 4, seq = 32;
        Random data = new Random(seed);
        int[][] tokens = new int[steps][batch * seq], targets = new int[steps][batch * seq];
        for (int s = 0; s < steps; s++) {
            for (int i = 0; i < batch * seq; i++) {
                tokens[s][i] = data.nextInt(cfg.vocabSize());
                targets[s][i] = (tokens[s][i] * 7 + 3) % cfg.vocabSize();
            }
        }
        double[][] curves = new double[2][steps];
        Backend[] backends = {reference, candidate};
        for (int k = 0; k < 2; k++) {
            GPT model = new GPT(backends[k], cfg, batch, seq, seed);
            model.train(seed);
            AdamWOptimizer opt = new AdamWOptimizer(model.backend(), model.parameters(), AdamWOptimizer.Settings.defaults());
            Consumer<Runnable> device = Backends.repeater(backends[k]);  // from the third step on, a CUDA graph
            for (int s = 0; s < steps; s++) {
                model.zeroGrad();
                curves[k][s] = model.trainStep(tokens[s], null, targets[s], 1, device);
                opt.step(3e-3f);
            }
        }
        return curves;
    }

    /** One result per step: the candidate's loss relative to the reference's, within {@link #LOSS_BOUND}. */
    public static List<Parity.Result> lossChecks(double[][] curves) {
        List<Parity.Result> out = new ArrayList<>();
        for (int s = 0; s < curves[0].length; s++) {
            double rel = Math.abs(curves[1][s] - curves[0][s]) / Math.abs(curves[0][s]);
            boolean bad = Double.isNaN(curves[1][s]) || Double.isInfinite(curves[1][s]);
            out.add(new Parity.Result("train micro GPT", "loss step " + (s + 1), bad ? Double.NaN : rel, LOSS_BOUND, bad));
        }
        return out;
    }
}
