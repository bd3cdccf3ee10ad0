package dev.cramjet.engine.cuda;

import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;

import static dev.cramjet.engine.cuda.Checks.requireActivations;
import static dev.cramjet.engine.cuda.Checks.requireGradient;
import static dev.cramjet.engine.cuda.Checks.requireStats;
import static dev.cramjet.engine.cuda.Checks.requireType;

/**
 * LayerNorm and RMSNorm (norm.cu), one warp per row. The backward passes sum the parameter gradients per block into
 * partials that {@link Gpu#finishColumns} adds up in a fixed order; a frozen parameter (null gradient) gets no
 * partials, and with no parameter gradients at all every row gets its own warp instead of a grid-stride share.
 */
final class Norms {
    private final Gpu gpu;
    private final Kernels.Kernel layerNorm, layerNormBackward, rmsNorm, rmsNormBackward;

    Norms(Gpu gpu) {
        this.gpu = gpu;
        layerNorm = gpu.k.kernel("norm", "layernorm_forward");
        layerNormBackward = gpu.k.kernel("norm", "layernorm_backward");
        rmsNorm = gpu.k.kernel("norm", "rmsnorm_forward");
        rmsNormBackward = gpu.k.kernel("norm", "rmsnorm_backward");
    }

    void layerNorm(Tensor out, Tensor mean, Tensor rstd, Tensor in, Tensor weight, Tensor bias, float eps) {
        String op = "layerNorm";
        int n = in.rows(), c = in.dim(-1);
        requireActivations(op, out, in, weight);
        requireStats(op, n, mean, rstd);
        if (bias != null) requireType(op, bias, DType.BF16);
        try (var _ = gpu.prof.time("layernorm")) {
            gpu.k.begin(layerNorm).ptr(gpu.ptr(out)).ptr(gpu.ptr(mean)).ptr(gpu.ptr(rstd)).ptr(gpu.ptr(in))
                    .ptr(gpu.ptr(weight)).ptr(gpu.ptrOrNull(bias)).i32(n).i32(c).f32(eps).go(gpu.stream, (n + 7) / 8, 256);
        }
    }

    void layerNormBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight,
                           Tensor mean, Tensor rstd) {
        String op = "layerNormBackward";
        int n = in.rows(), c = in.dim(-1);
        requireActivations(op, din, dout, in, weight);
        requireStats(op, n, mean, rstd);
        if (dweight != null) requireGradient(op, "dweight", dweight, c);
        if (dbias != null) requireGradient(op, "dbias", dbias, c);
        boolean params = dweight != null || dbias != null;
        try (var _ = gpu.prof.time("layernorm")) {
            int blocks = blocks(n, params);
            long w = 0, b = 0;
            if (params) {
                long partial = gpu.partials(8L * blocks * c);
                w = dweight != null ? partial : 0;
                b = dbias != null ? partial + 4L * blocks * c : 0;
            }
            gpu.k.begin(layerNormBackward).ptr(gpu.ptr(din)).ptr(w).ptr(b).ptr(gpu.ptr(dout)).ptr(gpu.ptr(in))
                    .ptr(gpu.ptr(weight)).ptr(gpu.ptr(mean)).ptr(gpu.ptr(rstd)).i32(n).i32(c)
                    .go(gpu.stream, blocks, 1, 256, 1, params ? 8 * c : 0);
            if (dweight != null) gpu.finishColumns(dweight, w, blocks, c);
            if (dbias != null) gpu.finishColumns(dbias, b, blocks, c);
        }
    }

    void rmsNorm(Tensor out, Tensor rstd, Tensor in, Tensor weight, float eps) {
        String op = "rmsNorm";
        int n = in.rows(), c = in.dim(-1);
        requireActivations(op, out, in, weight);
        requireStats(op, n, rstd);
        try (var _ = gpu.prof.time("layernorm")) {
            gpu.k.begin(rmsNorm).ptr(gpu.ptr(out)).ptr(gpu.ptr(rstd)).ptr(gpu.ptr(in)).ptr(gpu.ptr(weight)).i32(n).i32(c)
                    .f32(eps).go(gpu.stream, (n + 7) / 8, 256);
        }
    }

    void rmsNormBackward(Tensor din, Tensor dweight, Tensor dout, Tensor in, Tensor weight, Tensor rstd) {
        String op = "rmsNormBackward";
        int n = in.rows(), c = in.dim(-1);
        requireActivations(op, din, dout, in, weight);
        requireStats(op, n, rstd);
        if (dweight != null) requireGradient(op, "dweight", dweight, c);
        try (var _ = gpu.prof.time("layernorm")) {
            int blocks = blocks(n, dweight != null);
            long partial = dweight != null ? gpu.partials(4L * blocks * c) : 0;
            gpu.k.begin(rmsNormBackward).ptr(gpu.ptr(din)).ptr(partial).ptr(gpu.ptr(dout)).ptr(gpu.ptr(in))
                    .ptr(gpu.ptr(weight)).ptr(gpu.ptr(rstd)).i32(n).i32(c)
                    .go(gpu.stream, blocks, 1, 256, 1, dweight != null ? 4 * c : 0);
            if (dweight != null) gpu.finishColumns(dweight, partial, blocks, c);
        }
    }

    /**
     * Blocks of 8 warps for n rows: with parameter gradients about two per multiprocessor (each block's partial
     * costs a row of the reduction), without them one warp per row.
     */
    private int blocks(int n, boolean params) {
        int all = (n + 7) / 8;
        return Math.max(1, params ? Math.min(all, 2 * gpu.sms) : all);
    }
}
