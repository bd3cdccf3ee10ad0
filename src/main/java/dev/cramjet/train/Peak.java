package dev.cramjet.train;

import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Tensor;

/**
 * The FLOP/s that MFU is measured against. On the CPU there is no datasheet figure worth quoting, so it is the
 * measured rate of a large matmul (512×1024 by 1024×1024) on this backend: what the machine can actually do for the
 * kind of work that dominates training. MFU then says how much of that the whole training step achieves.
 */
public final class Peak {
    private Peak() {}

    /** Best rate over a fraction of a second of matmuls (the first calls also warm up the JIT). */
    public static double measure(Backend be) {
        int m = 512, k = 1024, n = 1024;
        Tensor a = be.alloc(be.computeType(), m, k);
        Tensor w = be.alloc(be.computeType(), n, k);
        Tensor out = be.alloc(be.computeType(), m, n);
        be.fill(a, 0.5f);
        be.fill(w, 0.25f);
        double flops = 2.0 * m * n * k, best = 0;
        long deadline = System.nanoTime() + 400_000_000L;
        for (int i = 0; i < 3 || (System.nanoTime() < deadline && i < 200); i++) {
            long t0 = System.nanoTime();
            be.matmul(out, a, w, null, Epilogue.NONE);
            be.synchronize();
            best = Math.max(best, flops / ((System.nanoTime() - t0) / 1e9));
        }
        return best;
    }
}
