package dev.cramjet.engine.cuda;

import dev.cramjet.engine.AdamW;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;

import static dev.cramjet.engine.cuda.Checks.requireType;
import static dev.cramjet.engine.cuda.Checks.type;

/** The global gradient norm (two deterministic passes) and the fused AdamW step (optim.cu). */
final class Optim {
    private final Gpu gpu;
    private final Kernels.Kernel normFinish;
    private final Kernels.Kernel[] sumSquares;
    /** Indexed [params type][grads type]. */
    private final Kernels.Kernel[][] adamw;

    Optim(Gpu gpu) {
        this.gpu = gpu;
        normFinish = gpu.k.kernel("optim", "norm_finish");
        sumSquares = gpu.perType("optim", "sum_squares_");
        adamw = new Kernels.Kernel[][] {gpu.perType("optim", "adamw_f32_"), gpu.perType("optim", "adamw_bf16_")};
    }

    void globalNorm(Tensor out, Tensor x) {
        requireType("globalNorm", out, DType.F32);
        if (out.size() != 1) throw new IllegalArgumentException("globalNorm: out " + out + " must hold one value");
        try (var _ = gpu.prof.time("optimizer")) {
            int blocks = gpu.grid8(x.size());
            long partial = gpu.partials(4L * blocks);
            gpu.k.begin(sumSquares[type("globalNorm", x)]).ptr(partial).ptr(gpu.ptr(x)).i64(x.size())
                    .go(gpu.stream, blocks, 256);
            gpu.k.begin(normFinish).ptr(gpu.ptr(out)).ptr(partial).i32(blocks).go(gpu.stream, 1, 256);
        }
    }

    void adamW(Tensor params, Tensor grads, Tensor m, Tensor v, Tensor master, Tensor gradNorm, AdamW hp) {
        String op = "adamW";
        long n = params.size();
        if (!(grads.size() == n && m.size() == n && v.size() == n)) {
            throw new IllegalArgumentException(op + ": grads " + grads + ", m " + m + ", v " + v + " for params " + params);
        }
        requireType(op, m, DType.F32);
        requireType(op, v, DType.F32);
        if (master != null) {
            requireType(op, master, DType.F32);
            if (master.size() != n) throw new IllegalArgumentException(op + ": master " + master + " for params " + params);
        } else if (params.dtype() != DType.F32) {
            throw new IllegalArgumentException(op + ": BF16 params " + params + " need an F32 master copy");
        }
        if (gradNorm != null) requireType(op, gradNorm, DType.F32);
        float bc1 = (float) (1 - Math.pow(hp.beta1(), hp.step())), bc2 = (float) (1 - Math.pow(hp.beta2(), hp.step()));
        try (var _ = gpu.prof.time("optimizer")) {
            gpu.k.begin(adamw[type(op, params)][type(op, grads)]).ptr(gpu.ptr(params)).ptr(gpu.ptr(grads))
                    .ptr(gpu.ptr(m)).ptr(gpu.ptr(v)).ptr(gpu.ptrOrNull(master)).ptr(gpu.ptrOrNull(gradNorm)).i64(n)
                    .f32(hp.lr()).f32(hp.beta1()).f32(hp.beta2()).f32(hp.eps()).f32(hp.weightDecay()).f32(bc1).f32(bc2)
                    .f32(hp.maxGradNorm()).go(gpu.stream, gpu.grid1(n), 256);
        }
    }
}
