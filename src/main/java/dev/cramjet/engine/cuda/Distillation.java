package dev.cramjet.engine.cuda;

import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;

import java.util.function.ToLongFunction;

/**
 * The distillation losses (distill.cu): the soft-target KL divergence at a temperature — one block per row, one
 * pass gathering both online softmaxes and the weighted logit gap, a second writing the gradient in place — and the
 * cosine distance of hidden-state rows.
 */
final class Distillation {
    private final Kernels k;
    private final Profiler prof;
    private final long stream;
    private final ToLongFunction<Tensor> ptr;
    private final Kernels.Kernel kl, cosine;

    /** @param ptr a tensor's device address (checking that it belongs to the backend) */
    Distillation(Kernels k, Profiler prof, long stream, ToLongFunction<Tensor> ptr) {
        this.k = k;
        this.prof = prof;
        this.stream = stream;
        this.ptr = ptr;
        kl = k.kernel("distill", "kl_divergence");
        cosine = k.kernel("distill", "cosine_loss");
    }

    void klDivergence(Tensor losses, Tensor student, Tensor teacher, int vocab, float temperature, float gradScale) {
        String op = "klDivergence";
        require(op, losses, DType.F32);
        require(op, student, DType.BF16);
        require(op, teacher, DType.BF16);
        int n = student.rows(), vp = student.dim(-1);
        if (!(teacher.size() == student.size() && teacher.dim(-1) == vp && losses.size() == n)) {
            throw new IllegalArgumentException(op + ": student " + student + ", teacher " + teacher + ", losses " + losses + " disagree");
        }
        if (!(vocab > 0 && vocab <= vp)) throw new IllegalArgumentException(op + ": vocab " + vocab + " not in [1, " + vp + "]");
        if (!(temperature > 0)) throw new IllegalArgumentException(op + ": temperature must be positive, got " + temperature);
        try (var _ = prof.time("distillation")) {
            k.begin(kl).ptr(ptr.applyAsLong(losses)).ptr(ptr.applyAsLong(student)).ptr(ptr.applyAsLong(teacher)).i32(vocab).i32(vp)
                    .f32(temperature).f32(gradScale).go(stream, n, 512);
        }
    }

    void cosineLoss(Tensor losses, Tensor da, Tensor a, Tensor b, float gradScale) {
        String op = "cosineLoss";
        require(op, losses, DType.F32);
        require(op, a, DType.BF16);
        require(op, b, DType.BF16);
        int n = a.rows(), c = a.dim(-1);
        if (!(b.size() == a.size() && b.dim(-1) == c && losses.size() == n && (da == null || (da.size() == a.size() && da.dim(-1) == c)))) {
            throw new IllegalArgumentException(op + ": a " + a + ", b " + b + ", da " + da + ", losses " + losses + " disagree");
        }
        if (da != null) require(op, da, DType.BF16);
        try (var _ = prof.time("distillation")) {
            k.begin(cosine).ptr(ptr.applyAsLong(losses)).ptr(da == null ? 0 : ptr.applyAsLong(da)).ptr(ptr.applyAsLong(a))
                    .ptr(ptr.applyAsLong(b)).i32(c).f32(gradScale).go(stream, n, 256);
        }
    }

    private static void require(String op, Tensor t, DType type) {
        if (t.dtype() != type) throw new IllegalArgumentException(op + ": " + t + " must be " + type + " on the CUDA backend");
    }
}
