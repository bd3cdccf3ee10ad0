package dev.cramjet.engine.cpu;

import dev.cramjet.Hash;
import dev.cramjet.engine.Glu;
import dev.cramjet.engine.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import static dev.cramjet.engine.cpu.Checks.*;
import static dev.cramjet.engine.cpu.Loops.*;

/** Elementwise ops: GELU, the gated linear units, add, scale, and dropout with its counter-based masks. */
final class Activations {
    private Activations() {}

    /** Dropout hashes 64-bit lanes: floats are processed as many at a time as longs fit in a vector. */
    private static final VectorSpecies<Long> HS = LongVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Float> DS = VectorSpecies.of(float.class, VectorShape.forBitSize(HS.length() * 32));
    private static final LongVector HASH_IOTA = (LongVector) HS.iotaShuffle(0, 1, false).toVector();

    static void gelu(Tensor out, Tensor in) {
        String op = "gelu";
        requireSame(op, out, in);
        float[] x = f32(op, in), y = f32(op, out);
        int xo = off(in), yo = off(out);
        elementwise((int) in.size(), (from, to) -> {
            int i = from;
            for (int bound = from + S.loopBound(to - from); i < bound; i += L) {
                VectorMath.gelu(FloatVector.fromArray(S, x, xo + i)).intoArray(y, yo + i);
            }
            for (; i < to; i++) y[yo + i] = VectorMath.gelu(x[xo + i]);
        });
    }

    static void geluBackward(Tensor din, Tensor pre, Tensor dout) {
        String op = "geluBackward";
        requireSame(op, din, pre);
        requireSame(op, dout, pre);
        float[] dx = f32(op, din), x = f32(op, pre), g = f32(op, dout);
        int dxo = off(din), xo = off(pre), go = off(dout);
        elementwise((int) pre.size(), (from, to) -> {
            int i = from;
            for (int bound = from + S.loopBound(to - from); i < bound; i += L) {
                FloatVector xv = FloatVector.fromArray(S, x, xo + i);
                VectorMath.geluGrad(xv, VectorMath.geluGate(xv)).mul(FloatVector.fromArray(S, g, go + i))
                        .intoArray(dx, dxo + i);
            }
            for (; i < to; i++) dx[dxo + i] = VectorMath.geluGrad(x[xo + i]) * g[go + i];
        });
    }

    static void glu(Tensor out, Tensor in, Glu kind) {
        String op = "glu";
        int h = out.dim(-1), n = out.rows();
        requireSize(op, "in", in, 2L * n * h, 2 * h);
        float[] x = f32(op, in), y = f32(op, out);
        int xo = off(in), yo = off(out);
        rows(n, 2 * h, (from, to) -> {
            for (int r = from; r < to; r++) {
                int gi = xo + r * 2 * h, yi = yo + r * h;
                if (kind == Glu.SWIGLU) swigluRow(x, gi, h, y, yi);
                else gegluRow(x, gi, h, y, yi);
            }
        });
    }

    // One method per unit, so each inlines a single exp (see VectorMath's note on C2's inlining budget).

    /** y = silu(gate)·up over one row, gate at x[g..], up at x[g+h..]. */
    private static void swigluRow(float[] x, int g, int h, float[] y, int yi) {
        int i = 0;
        for (int bound = S.loopBound(h); i < bound; i += L) {
            FloatVector gate = FloatVector.fromArray(S, x, g + i);
            gate.mul(VectorMath.sigmoid(gate)).mul(FloatVector.fromArray(S, x, g + h + i)).intoArray(y, yi + i);
        }
        for (; i < h; i++) y[yi + i] = VectorMath.silu(x[g + i]) * x[g + h + i];
    }

    /** y = gelu(gate)·up over one row. */
    private static void gegluRow(float[] x, int g, int h, float[] y, int yi) {
        int i = 0;
        for (int bound = S.loopBound(h); i < bound; i += L) {
            VectorMath.gelu(FloatVector.fromArray(S, x, g + i)).mul(FloatVector.fromArray(S, x, g + h + i)).intoArray(y, yi + i);
        }
        for (; i < h; i++) y[yi + i] = VectorMath.gelu(x[g + i]) * x[g + h + i];
    }

    static void gluBackward(Tensor din, Tensor dout, Tensor in, Glu kind) {
        String op = "gluBackward";
        int h = dout.dim(-1), n = dout.rows();
        requireSize(op, "in", in, 2L * n * h, 2 * h);
        requireSame(op, din, in);
        float[] x = f32(op, in), dx = f32(op, din), g = f32(op, dout);
        int xo = off(in), dxo = off(din), go = off(dout);
        boolean silu = kind == Glu.SWIGLU;
        Parallel.range(n, (from, to) -> {
            for (int r = from; r < to; r++) {
                int gi = xo + r * 2 * h, di = dxo + r * 2 * h, oi = go + r * h;
                int i = 0;
                for (int bound = S.loopBound(h); i < bound; i += L) {
                    if (silu) swigluGrad(x, gi + i, h, g, oi + i, dx, di + i);
                    else gegluGrad(x, gi + i, h, g, oi + i, dx, di + i);
                }
                for (; i < h; i++) {
                    float gate = x[gi + i], up = x[gi + h + i];
                    if (silu) {
                        float sg = VectorMath.sigmoid(gate);
                        dx[di + i] = g[oi + i] * up * sg * (1 + gate * (1 - sg));
                        dx[di + h + i] = g[oi + i] * gate * sg;
                    } else {
                        dx[di + i] = g[oi + i] * up * VectorMath.geluGrad(gate);
                        dx[di + h + i] = g[oi + i] * VectorMath.gelu(gate);
                    }
                }
            }
        });
    }

    /** dgate = dout·up·silu'(gate), dup = dout·silu(gate), silu'(g) = σ(g)·(1 + g·(1 − σ(g))), for one vector. */
    private static void swigluGrad(float[] x, int g, int h, float[] dout, int o, float[] dx, int d) {
        FloatVector gate = FloatVector.fromArray(S, x, g), up = FloatVector.fromArray(S, x, g + h);
        FloatVector dy = FloatVector.fromArray(S, dout, o);
        FloatVector sg = VectorMath.sigmoid(gate);
        FloatVector dsilu = sg.mul(gate.mul(sg.neg().add(1f)).add(1f));
        dy.mul(up).mul(dsilu).intoArray(dx, d);
        dy.mul(gate.mul(sg)).intoArray(dx, d + h);
    }

    /** dgate = dout·up·gelu'(gate), dup = dout·gelu(gate), for one vector (one sigmoid serves both). */
    private static void gegluGrad(float[] x, int g, int h, float[] dout, int o, float[] dx, int d) {
        FloatVector gate = FloatVector.fromArray(S, x, g), up = FloatVector.fromArray(S, x, g + h);
        FloatVector dy = FloatVector.fromArray(S, dout, o);
        FloatVector s = VectorMath.geluGate(gate);
        dy.mul(up).mul(VectorMath.geluGrad(gate, s)).intoArray(dx, d);
        dy.mul(gate.mul(s)).intoArray(dx, d + h);
    }

    static void add(Tensor out, Tensor a, Tensor b) {
        String op = "add";
        requireSame(op, a, out);
        requireSame(op, b, out);
        float[] y = f32(op, out), x1 = f32(op, a), x2 = f32(op, b);
        int yo = off(out), ao = off(a), bo = off(b);
        elementwise((int) out.size(), (from, to) -> addInto(y, yo + from, x1, ao + from, x2, bo + from, to - from));
    }

    static void scale(Tensor t, float s) {
        float[] x = f32("scale", t);
        int o = off(t);
        elementwise((int) t.size(), (from, to) -> {
            int i = from;
            for (int bound = from + S.loopBound(to - from); i < bound; i += L) {
                FloatVector.fromArray(S, x, o + i).mul(s).intoArray(x, o + i);
            }
            for (; i < to; i++) x[o + i] *= s;
        });
    }

    /** y_i = keep_i ? x_i/(1−p) : 0 — dropout's forward and backward are the same map. */
    static void dropout(String op, Tensor out, Tensor in, float p, long seed) {
        requireSame(op, out, in);
        if (!(p >= 0 && p < 1)) throw new IllegalArgumentException(op + ": p " + p + " not in [0, 1)");
        float[] x = f32(op, in), y = f32(op, out);
        int xo = off(in), yo = off(out);
        float keepScale = 1 / (1 - p);
        long threshold = dropThreshold(p);
        elementwise((int) in.size(), (from, to) ->
                dropoutSpan(x, xo + from, null, 0, null, 0, y, yo + from, to - from, from, seed, threshold, keepScale));
    }

    /**
     * y_i = res_i + (keep(seed, base + i) ? (x_i + bias_i)·scale : 0) for i &lt; n; res and bias may be null (0).
     * The hash runs on 64-bit lanes (SplitMix64 needs 64-bit multiplies) and its mask is cast to as many floats.
     */
    static void dropoutSpan(float[] x, int xo, float[] bias, int bo, float[] res, int ro, float[] y, int yo,
                            int n, long base, long seed, long threshold, float scale) {
        int lanes = DS.length(), i = 0;
        for (int bound = DS.loopBound(n); i < bound; i += lanes) {
            LongVector z = HASH_IOTA.add(base + i).mul(Hash.GOLDEN).add(seed);
            z = z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 30)).mul(0xBF58476D1CE4E5B9L);
            z = z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 27)).mul(0x94D049BB133111EBL);
            z = z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 31));
            VectorMask<Float> keep = z.lanewise(VectorOperators.LSHR, 40).compare(VectorOperators.GE, threshold).cast(DS);
            FloatVector v = FloatVector.fromArray(DS, x, xo + i);
            if (bias != null) v = v.add(FloatVector.fromArray(DS, bias, bo + i));
            v = v.mul(scale).blend(0f, keep.not());
            if (res != null) v = v.add(FloatVector.fromArray(DS, res, ro + i));
            v.intoArray(y, yo + i);
        }
        for (; i < n; i++) {
            float v = keep(seed, base + i, threshold) ? (x[xo + i] + (bias == null ? 0 : bias[bo + i])) * scale : 0f;
            y[yo + i] = (res == null ? 0 : res[ro + i]) + v;
        }
    }

    /** {@link dev.cramjet.engine.Rng#keep} as an integer test: uniform ≥ p ⇔ top 24 hash bits ≥ ⌈p·2²⁴⌉ (both exact). */
    static long dropThreshold(float p) {
        return (long) Math.ceil((double) p * 0x1p24);
    }

    static boolean keep(long seed, long index, long threshold) {
        return (Hash.mix(seed + index * Hash.GOLDEN) >>> 40) >= threshold;
    }
}
