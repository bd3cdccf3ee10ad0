package dev.cramjet.cli;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.engine.cuda.Parity;

import java.util.List;
import java.util.Locale;

/**
 * `cramjet selftest --device cuda`: the parity suite (every backend op against the CPU reference, then ten
 * training steps of a small GPT) as a table; exits 1 when any check fails. Needs no Maven or JUnit, so it runs
 * from the bundle on a bare GPU machine.
 */
public final class SelftestCommand implements Command {
    @Override
    public String summary() { return "check a device's ops against the CPU reference (parity suite)"; }

    @Override
    public String usage() {
        return """
                usage: cramjet selftest [--device cuda|cpu] [--seed N] [--steps N]

                Runs every backend op on the device and on the CPU reference with the same random inputs and
                prints the relative error ‖out − ref‖/‖ref‖ of each output against its bound (1e-3 for fp32
                outputs, 1e-2 for bf16 ones; NaN fails). Outputs an op must overwrite are filled with NaN first,
                so an element left unwritten fails too. Then trains the "micro" GPT for --steps steps (default 10)
                on both and compares the loss curves (within 2% per step). Exit status 1 if anything fails.
                """;
    }

    @Override
    public int run(Args args) {
        String device = args.string("device", "cuda");
        long seed = args.longValue("seed", 42);
        int steps = args.integer("steps", 10);
        args.finish();
        try (Backend reference = new CpuBackend(); Backend candidate = Backends.open(device)) {
            System.out.println("reference: " + reference.describe());
            System.out.println("device:    " + candidate.describe());
            Parity parity = new Parity(reference, candidate, seed);
            parity.runOps();
            double[][] curves = steps > 0 ? parity.trainingCurves(steps) : new double[2][0];
            List<Parity.Result> results = parity.results();
            System.out.printf(Locale.ROOT, "%n%-34s %-16s %12s %10s  %s%n", "op", "output", "rel. error", "bound", "");
            int failed = 0;
            for (Parity.Result r : results) {
                if (!r.passed()) failed++;
                System.out.printf(Locale.ROOT, "%-34s %-16s %12.3e %10.0e  %s%n", r.op(), r.output(), r.relError(), r.bound(),
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
}
