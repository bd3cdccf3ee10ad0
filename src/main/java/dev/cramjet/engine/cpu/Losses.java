package dev.cramjet.engine.cpu;

import dev.cramjet.engine.Tensor;
import jdk.incubator.vector.FloatVector;

import java.util.Arrays;

import static dev.cramjet.engine.cpu.Checks.*;
import static dev.cramjet.engine.cpu.Loops.*;

/** The fused softmax + cross-entropy, which leaves its gradient in the logits it read. */
final class Losses {
    private Losses() {}

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
}
