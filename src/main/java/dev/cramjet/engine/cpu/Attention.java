package dev.cramjet.engine.cpu;

import dev.cramjet.engine.DecodeStep;
import dev.cramjet.engine.Mask;
import dev.cramjet.engine.Tensor;
import jdk.incubator.vector.FloatVector;

import static dev.cramjet.engine.cpu.Checks.*;
import static dev.cramjet.engine.cpu.Loops.*;

/** Rotary position embedding and the attention ops, the latter computed by {@link FlashAttention}. */
final class Attention {
    private final FlashAttention flash = new FlashAttention();
    /** RoPE angle table: cos/sin of pos·θ^(−2i/hs) for pos &lt; ropePositions, i &lt; hs/2. */
    private float[] ropeCos = new float[0], ropeSin = new float[0];
    private int ropePositions, ropeHalf;
    private float ropeTheta;

    void rope(Tensor qkv, int heads, float theta, int posOffset) {
        rotate("rope", qkv, heads, theta, posOffset, 1f);
    }

    void ropeBackward(Tensor dqkv, int heads, float theta) {
        rotate("ropeBackward", dqkv, heads, theta, 0, -1f);
    }

    /** Rotates each (x_i, x_{i+hs/2}) pair of the q and k heads by sign·angle(pos, i). */
    private void rotate(String op, Tensor qkv, int heads, float theta, int posOffset, float sign) {
        float[] x = f32(op, qkv);
        if (qkv.rank() != 3 || qkv.dim(2) % 3 != 0) throw new IllegalArgumentException(op + ": qkv " + qkv + " is not [B,T,3C]");
        int t = qkv.dim(1), c = qkv.dim(2) / 3, n = qkv.rows();
        if (heads <= 0 || c % heads != 0 || (c / heads) % 2 != 0) {
            throw new IllegalArgumentException(op + ": " + heads + " heads do not split " + c + " channels into even head sizes");
        }
        int hs = c / heads, half = hs / 2, xo = off(qkv);
        ropeTable(theta, half, posOffset + t);
        float[] cs = ropeCos, sn = ropeSin;
        Parallel.range(n, (from, to) -> {
            for (int r = from; r < to; r++) {
                int table = (posOffset + r % t) * half;
                for (int head = 0; head < 2 * heads; head++) {     // q heads then k heads: contiguous
                    // (x1, x2) ← (x1·cos − x2·sin, x1·sin + x2·cos), x1 = x[a+i], x2 = x[a+half+i]
                    int a = xo + r * 3 * c + head * hs, bb = a + half;
                    int i = 0;
                    for (int bound = S.loopBound(half); i < bound; i += L) {
                        FloatVector cv = FloatVector.fromArray(S, cs, table + i);
                        FloatVector sv = FloatVector.fromArray(S, sn, table + i).mul(sign);
                        FloatVector x1 = FloatVector.fromArray(S, x, a + i), x2 = FloatVector.fromArray(S, x, bb + i);
                        x1.mul(cv).sub(x2.mul(sv)).intoArray(x, a + i);
                        x1.mul(sv).add(x2.mul(cv)).intoArray(x, bb + i);
                    }
                    for (; i < half; i++) {
                        float cv = cs[table + i], sv = sn[table + i] * sign, x1 = x[a + i], x2 = x[bb + i];
                        x[a + i] = x1 * cv - x2 * sv;
                        x[bb + i] = x1 * sv + x2 * cv;
                    }
                }
            }
        });
    }

    /** Makes sure the cos/sin table covers {@code positions} positions for (θ, hs/2); grows only. */
    private void ropeTable(float theta, int half, int positions) {
        if (theta == ropeTheta && half == ropeHalf && positions <= ropePositions) return;
        int p = Math.max(positions, theta == ropeTheta && half == ropeHalf ? 2 * ropePositions : positions);
        float[] cs = new float[p * half], sn = new float[p * half];
        for (int i = 0; i < half; i++) {
            double freq = StrictMath.pow(theta, -2.0 * i / (2 * half));
            for (int pos = 0; pos < p; pos++) {
                double angle = pos * freq;
                cs[pos * half + i] = (float) StrictMath.cos(angle);
                sn[pos * half + i] = (float) StrictMath.sin(angle);
            }
        }
        ropeCos = cs;
        ropeSin = sn;
        ropeTheta = theta;
        ropeHalf = half;
        ropePositions = p;
    }

    void attention(Tensor out, Tensor lse, Tensor qkv, int heads, Mask mask) {
        String op = "attention";
        int[] d = attentionDims(op, qkv, heads);
        int b = d[0], t = d[1], c = d[2];
        requireSize(op, "out", out, (long) b * t * c, c);
        requireCount(op, "lse", lse, (long) b * heads * t);
        flash.forward(f32(op, qkv), off(qkv), f32(op, out), off(out), f32(op, lse), off(lse), b, t, c, heads,
                mask.causal(), lengths(op, mask, b, t));
    }

    void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor lse, int heads, Mask mask) {
        String op = "attentionBackward";
        int[] d = attentionDims(op, qkv, heads);
        int b = d[0], t = d[1], c = d[2];
        requireSame(op, dqkv, qkv);
        requireSize(op, "out", out, (long) b * t * c, c);
        requireSize(op, "dout", dout, (long) b * t * c, c);
        requireCount(op, "lse", lse, (long) b * heads * t);
        flash.backward(f32(op, dqkv), off(dqkv), f32(op, dout), off(dout), f32(op, qkv), off(qkv),
                f32(op, out), off(out), f32(op, lse), off(lse), b, t, c, heads, mask.causal(), lengths(op, mask, b, t));
    }

    /** B sequences of Tn rows each at one position: a step of B entries, sequence b's rows from b·Tn. */
    void attentionCached(Tensor out, Tensor qkv, Tensor kCache, Tensor vCache, int pos, int heads) {
        String op = "attentionCached";
        int[] d = attentionDims(op, qkv, heads);
        int b = d[0], tn = d[1], c = d[2];
        requireSize(op, "out", out, (long) b * tn * c, c);
        if (kCache.rank() != 3 || kCache.dim(0) != b || kCache.dim(2) != c) {
            throw new IllegalArgumentException(op + ": kCache " + kCache + " is not [" + b + ", Tmax, " + c + "]");
        }
        DecodeStep step = new DecodeStep(b);
        for (int bi = 0; bi < b; bi++) step.add(bi, pos, tn);
        attentionCached(out.reshape(b * tn, c), qkv.reshape(b * tn, 3 * c), kCache, vCache, step, heads);
    }

    /**
     * A decoding step's entries against the caches [S,Tmax,C]: each entry's keys and values into its sequence's
     * caches and their panels, then {@link FlashAttention#cached} for all of them at once.
     */
    void attentionCached(Tensor out, Tensor qkv, Tensor kCache, Tensor vCache, DecodeStep step, int heads) {
        String op = "attentionCached";
        if (kCache.rank() != 3) throw new IllegalArgumentException(op + ": kCache " + kCache + " is not [S, Tmax, C]");
        requireSame(op, vCache, kCache);
        int s = kCache.dim(0), tmax = kCache.dim(1), c = kCache.dim(2), n = step.rows();
        if (heads <= 0 || c % heads != 0) throw new IllegalArgumentException(op + ": " + heads + " heads do not divide C=" + c);
        if (qkv.dim(-1) != 3 * c || (long) qkv.rows() < n) throw new IllegalArgumentException(op + ": qkv " + qkv + " is not [>= " + n + ", " + 3 * c + "]");
        if (out.dim(-1) != c || (long) out.rows() < n) throw new IllegalArgumentException(op + ": out " + out + " is not [>= " + n + ", " + c + "]");
        float[] x = f32(op, qkv), kc = f32(op, kCache), vc = f32(op, vCache);
        int xo = off(qkv), ko = off(kCache), vo = off(vCache);
        FlashAttention.Panels keys = storage(op, kCache).panels(true, ko, s, tmax, c, heads);
        FlashAttention.Panels values = storage(op, vCache).panels(false, vo, s, tmax, c, heads);
        for (int e = 0; e < step.entries(); e++) {
            int seq = step.seq(e), pos = step.pos(e), count = step.count(e);
            if (seq >= s) throw new IllegalArgumentException(op + ": entry " + e + " is sequence " + seq + " of a cache of " + s);
            if (pos + count > tmax) {
                throw new IllegalArgumentException(op + ": positions [" + pos + ", " + (pos + count) + ") exceed the cache of " + tmax);
            }
            for (int i = 0; i < count; i++) {
                int src = xo + (step.first(e) + i) * 3 * c, dst = (seq * tmax + pos + i) * c;
                System.arraycopy(x, src + c, kc, ko + dst, c);
                System.arraycopy(x, src + 2 * c, vc, vo + dst, c);
            }
            keys.write(kc, ko, seq, pos, pos + count);
            values.write(vc, vo, seq, pos, pos + count);
        }
        flash.cached(x, xo, kc, ko, vc, vo, f32(op, out), off(out), tmax, c, heads, step, keys, values);
    }

    /** Validates qkv [B,T,3C] with C divisible by heads; returns {B, T, C}. */
    private static int[] attentionDims(String op, Tensor qkv, int heads) {
        if (qkv.rank() != 3 || qkv.dim(2) % 3 != 0) throw new IllegalArgumentException(op + ": qkv " + qkv + " is not [B,T,3C]");
        int c = qkv.dim(2) / 3;
        if (heads <= 0 || c % heads != 0) throw new IllegalArgumentException(op + ": " + heads + " heads do not divide C=" + c);
        return new int[]{qkv.dim(0), qkv.dim(1), c};
    }

    /** The mask's valid lengths as a host array of B values in [1, T], or null when every sequence is whole. */
    private static int[] lengths(String op, Mask mask, int b, int t) {
        if (mask.lengths() == null) return null;
        requireCount(op, "mask lengths", mask.lengths(), b);
        int[] all = i32(op, mask.lengths());
        int o = off(mask.lengths());
        int[] len = java.util.Arrays.copyOfRange(all, o, o + b);
        for (int i = 0; i < b; i++) {
            if (len[i] < 1 || len[i] > t) throw new IllegalArgumentException(op + ": length " + len[i] + " of sequence " + i + " not in [1, " + t + "]");
        }
        return len;
    }
}
