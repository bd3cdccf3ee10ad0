package dev.cramjet.engine.cuda;

import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;

import static dev.cramjet.engine.cuda.Checks.requireType;

/** The fused softmax–cross-entropy (loss.cu): one block per row, dlogits written in place. */
final class Losses {
    private final Gpu gpu;
    private final Kernels.Kernel crossEntropy;

    Losses(Gpu gpu) {
        this.gpu = gpu;
        crossEntropy = gpu.k.kernel("loss", "cross_entropy");
    }

    void crossEntropy(Tensor losses, Tensor logits, Tensor targets, int vocab, float gradScale) {
        String op = "crossEntropy";
        requireType(op, logits, DType.BF16);
        requireType(op, losses, DType.F32);
        requireType(op, targets, DType.I32);
        int n = logits.rows(), vp = logits.dim(-1);
        if (!(vocab > 0 && vocab <= vp)) throw new IllegalArgumentException(op + ": vocab " + vocab + " not in [1, " + vp + "]");
        if (!(losses.size() == n && targets.size() == n)) {
            throw new IllegalArgumentException(op + ": losses " + losses + ", targets " + targets + " for " + n + " rows");
        }
        try (var _ = gpu.prof.time("cross-entropy")) {
            gpu.k.begin(crossEntropy).ptr(gpu.ptr(losses)).ptr(gpu.ptr(logits)).ptr(gpu.ptr(targets)).i32(vocab).i32(vp)
                    .f32(gradScale).ptr(gpu.errorFlag).go(gpu.stream, n, 512);
        }
    }
}
