package dev.cramjet.engine.cpu;

import dev.cramjet.Lanes;
import dev.cramjet.engine.Tensor;
import jdk.incubator.vector.FloatVector;

import java.util.Arrays;

import static dev.cramjet.engine.cpu.Checks.*;
import static dev.cramjet.engine.cpu.Loops.*;

/**
 * The losses: the fused softmax + cross-entropy, which leaves its gradient in the logits it read, and the two of
 * distillation — the soft-target KL divergence at a temperature and the cosine distance of hidden states.
 */
final class Losses {
    private Losses() {}

    /** PyTorch's cosine_similarity floor on each norm. */
    private static final float COSINE_EPS = 1e-8f;

    static void crossEntropy(Tensor losses, Tensor logits, Tensor targets, int vocab, float gradScale) {
        String op = "crossEntropy";
        int vp = logits.dim(-1), n = logits.rows();
        float[] z = f32(op, logits), loss = f32(op, losses);
        int[] tg = i32(op, targets);
        if (vocab <= 0 || vocab > vp) throw new IllegalArgumentException(op + ": vocab " + vocab + " not in [1, " + vp + "]");
        requireCount(op, "losses", losses, n);
        requireCount(op, "targets", targets, n);
        int zo = off(logits), lo = off(losses), to = off(targets);
        for (int r = 0; r < n; r++) {
            if (tg[to + r] >= vocab) {
                throw new IllegalArgumentException(op + ": target " + tg[to + r] + " at row " + r + " is outside vocab " + vocab);
            }
        }
        Parallel.range(n, (from, until) -> {
            for (int r = from; r < until; r++) {
                int zi = zo + r * vp, target = tg[to + r];
                if (target < 0) {
                    loss[lo + r] = 0;
                    if (gradScale != 0) Arrays.fill(z, zi, zi + vp, 0f);
                    continue;
                }
                float mx = FlashAttention.Tile.max(z, zi, vocab);
                float zt = z[zi + target];
                float sum = FlashAttention.Tile.expShift(z, zi, vocab, mx, gradScale != 0);
                loss[lo + r] = mx + (float) StrictMath.log(sum) - zt;
                if (gradScale != 0) {
                    // z now holds exp(z − max): scale to gradScale·softmax, subtract the one-hot, clear padding.
                    float f = gradScale / sum;
                    int i = 0;
                    for (int bound = S.loopBound(vocab); i < bound; i += L) {
                        FloatVector.fromArray(S, z, zi + i).mul(f).intoArray(z, zi + i);
                    }
                    for (; i < vocab; i++) z[zi + i] *= f;
                    z[zi + target] -= gradScale;
                    Arrays.fill(z, zi + vocab, zi + vp, 0f);
                }
            }
        });
    }

    static void klDivergence(Tensor losses, Tensor student, Tensor teacher, int vocab, float temperature, float gradScale) {
        String op = "klDivergence";
        float[] zs = f32(op, student), zt = f32(op, teacher), loss = f32(op, losses);
        requireSame(op, student, teacher);
        int vp = student.dim(-1), n = student.rows();
        if (vocab <= 0 || vocab > vp) throw new IllegalArgumentException(op + ": vocab " + vocab + " not in [1, " + vp + "]");
        if (!(temperature > 0)) throw new IllegalArgumentException(op + ": temperature must be positive, got " + temperature);
        requireCount(op, "losses", losses, n);
        int so = off(student), to = off(teacher), lo = off(losses);
        float inv = 1 / temperature;
        Parallel.range(n, (from, until) -> {
            for (int r = from; r < until; r++) {
                int si = so + r * vp, ti = to + r * vp;
                // log p_j − log q_j = (t_j − s_j)/τ − (mt + ln St) + (ms + ln Ss), and Σ p_j = 1.
                float mt = FlashAttention.Tile.max(zt, ti, vocab) * inv, ms = FlashAttention.Tile.max(zs, si, vocab) * inv;
                float st = expSum(zt, ti, vocab, inv, mt), ss = expSum(zs, si, vocab, inv, ms);
                float cross = weightedDifference(zt, ti, zs, si, vocab, inv, mt);
                float kl = cross * inv / st + (ms + (float) StrictMath.log(ss)) - (mt + (float) StrictMath.log(st));
                loss[lo + r] = temperature * temperature * kl;
                if (gradScale == 0) continue;
                softGradient(zs, si, zt, ti, vocab, inv, ms, ss, mt, st, gradScale * temperature);
                Arrays.fill(zs, si + vocab, si + vp, 0f);
            }
        });
    }

    /** Σ exp(x_j·inv − shift) over [off, off + n). */
    private static float expSum(float[] x, int off, int n, float inv, float shift) {
        FloatVector sum = FloatVector.zero(S);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            sum = sum.add(Lanes.exp(FloatVector.fromArray(S, x, off + i).mul(inv).sub(shift)));
        }
        float total = Lanes.sum(sum);
        for (; i < n; i++) total += (float) StrictMath.exp(x[off + i] * inv - shift);
        return total;
    }

    /** Σ exp(t_j·inv − shift)·(t_j − s_j): the teacher's unnormalised probabilities weighting the logit gap. */
    private static float weightedDifference(float[] t, int to, float[] s, int so, int n, float inv, float shift) {
        FloatVector sum = FloatVector.zero(S);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector tv = FloatVector.fromArray(S, t, to + i);
            sum = Lanes.exp(tv.mul(inv).sub(shift)).fma(tv.sub(FloatVector.fromArray(S, s, so + i)), sum);
        }
        float total = Lanes.sum(sum);
        for (; i < n; i++) total += (float) StrictMath.exp(t[to + i] * inv - shift) * (t[to + i] - s[so + i]);
        return total;
    }

    /** s_j ← scale·(q_j − p_j), q = exp(s·inv − ms)/ss, p = exp(t·inv − mt)/st. */
    private static void softGradient(float[] s, int so, float[] t, int to, int n, float inv, float ms, float ss, float mt,
                                     float st, float scale) {
        float fq = scale / ss, fp = scale / st;
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector q = Lanes.exp(FloatVector.fromArray(S, s, so + i).mul(inv).sub(ms));
            FloatVector p = Lanes.exp(FloatVector.fromArray(S, t, to + i).mul(inv).sub(mt));
            q.mul(fq).sub(p.mul(fp)).intoArray(s, so + i);
        }
        for (; i < n; i++) {
            s[so + i] = fq * (float) StrictMath.exp(s[so + i] * inv - ms) - fp * (float) StrictMath.exp(t[to + i] * inv - mt);
        }
    }

    static void cosineLoss(Tensor losses, Tensor da, Tensor a, Tensor b, float gradScale) {
        String op = "cosineLoss";
        float[] x = f32(op, a), y = f32(op, b), loss = f32(op, losses), g = da == null ? null : f32(op, da);
        requireSame(op, a, b);
        if (da != null) requireSame(op, da, a);
        int c = a.dim(-1), n = a.rows();
        requireCount(op, "losses", losses, n);
        int ao = off(a), bo = off(b), lo = off(losses), go = da == null ? 0 : off(da);
        Parallel.range(n, (from, until) -> {
            for (int r = from; r < until; r++) {
                int ai = ao + r * c, bi = bo + r * c;
                float ab = FlashAttention.Tile.dot(x, ai, y, bi, c);
                float na = (float) Math.sqrt(FlashAttention.Tile.dot(x, ai, x, ai, c));
                float nb = (float) Math.sqrt(FlashAttention.Tile.dot(y, bi, y, bi, c));
                float ca = Math.max(na, COSINE_EPS), cb = Math.max(nb, COSINE_EPS);
                float cos = ab / (ca * cb);
                loss[lo + r] = 1 - cos;
                if (g == null) continue;
                // ∂(1 − cos)/∂a = cos·a/‖a‖² − b/(‖a‖‖b‖); the first term vanishes where the norm is clamped.
                float fa = na < COSINE_EPS ? 0f : gradScale * cos / (na * na), fb = -gradScale / (ca * cb);
                int gi = go + r * c, i = 0;
                for (int bound = S.loopBound(c); i < bound; i += L) {
                    FloatVector.fromArray(S, x, ai + i).mul(fa).add(FloatVector.fromArray(S, y, bi + i).mul(fb)).intoArray(g, gi + i);
                }
                for (; i < c; i++) g[gi + i] = fa * x[ai + i] + fb * y[bi + i];
            }
        });
    }
}
