package dev.cramjet.engine.cuda;

import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;

import static dev.cramjet.engine.cuda.Checks.requireActivations;
import static dev.cramjet.engine.cuda.Checks.requireType;

/**
 * The distillation losses (distill.cu): the soft-target KL divergence at a temperature — one block per row, one
 * pass gathering both online softmaxes and the weighted logit gap, a second writing the gradient in place — and the
 * cosine distance of hidden-state rows.
 */
final class Distillation {
    private final Gpu gpu;
    private final Kernels.Kernel kl, cosine;

    Distillation(Gpu gpu) {
        this.gpu = gpu;
        kl = gpu.k.kernel("distill", "kl_divergence");
        cosine = gpu.k.kernel("distill", "cosine_loss");
    }

    void klDivergence(Tensor losses, Tensor student, Tensor teacher, int vocab, float temperature, float gradScale) {
        String op = "klDivergence";
        requireType(op, losses, DType.F32);
        requireActivations(op, student, teacher);
        int n = student.rows(), vp = student.dim(-1);
        if (!(teacher.size() == student.size() && teacher.dim(-1) == vp && losses.size() == n)) {
            throw new IllegalArgumentException(op + ": student " + student + ", teacher " + teacher + ", losses " + losses + " disagree");
        }
        if (!(vocab > 0 && vocab <= vp)) throw new IllegalArgumentException(op + ": vocab " + vocab + " not in [1, " + vp + "]");
        if (!(temperature > 0)) throw new IllegalArgumentException(op + ": temperature must be positive, got " + temperature);
        try (var _ = gpu.prof.time("distillation")) {
            gpu.k.begin(kl).ptr(gpu.ptr(losses)).ptr(gpu.ptr(student)).ptr(gpu.ptr(teacher)).i32(vocab).i32(vp)
                    .f32(temperature).f32(gradScale).go(gpu.stream, n, 512);
        }
    }

    void cosineLoss(Tensor losses, Tensor da, Tensor a, Tensor b, float gradScale) {
        String op = "cosineLoss";
        requireType(op, losses, DType.F32);
        requireActivations(op, a, b);
        if (da != null) requireActivations(op, da);
        int n = a.rows(), c = a.dim(-1);
        if (!(b.size() == a.size() && b.dim(-1) == c && losses.size() == n && (da == null || (da.size() == a.size() && da.dim(-1) == c)))) {
            throw new IllegalArgumentException(op + ": a " + a + ", b " + b + ", da " + da + ", losses " + losses + " disagree");
        }
        try (var _ = gpu.prof.time("distillation")) {
            gpu.k.begin(cosine).ptr(gpu.ptr(losses)).ptr(gpu.ptrOrNull(da)).ptr(gpu.ptr(a)).ptr(gpu.ptr(b)).i32(c).f32(gradScale)
                    .go(gpu.stream, n, 256);
        }
    }
}
