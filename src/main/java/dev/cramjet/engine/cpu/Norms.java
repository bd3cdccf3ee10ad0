package dev.cramjet.engine.cpu;

import dev.cramjet.Lanes;
import dev.cramjet.engine.Tensor;
import jdk.incubator.vector.FloatVector;

import java.util.Arrays;

import static dev.cramjet.engine.cpu.Checks.*;
import static dev.cramjet.engine.cpu.Loops.*;

/**
 * LayerNorm and RMSNorm over the last dimension, forward and backward. A backward pass splits rows over threads;
 * each thread sums its rows' weight and bias gradients into its own partial row, and the partials are then summed
 * column-parallel in thread order and added to the gradient once, so the result does not depend on timing.
 */
final class Norms {
    /** Per-thread partial column sums of the backward passes: [dweight | dbias]. */
    private final float[][] partials = new float[Parallel.threads()][];

    void layerNorm(Tensor out, Tensor mean, Tensor rstd, Tensor in, Tensor weight, Tensor bias, float eps) {
        String op = "layerNorm";
        int c = in.dim(-1), n = in.rows();
        float[] x = f32(op, in), y = f32(op, out), mu = f32(op, mean), rs = f32(op, rstd), w = f32(op, weight);
        float[] bb = bias == null ? null : f32(op, bias);
        requireSame(op, out, in);
        requireCount(op, "mean", mean, n);
        requireCount(op, "rstd", rstd, n);
        requireCount(op, "weight", weight, c);
        if (bias != null) requireCount(op, "bias", bias, c);
        int xo = off(in), yo = off(out), mo = off(mean), ro = off(rstd), wo = off(weight), bo = bias == null ? 0 : off(bias);
        rows(n, c, (from, to) -> {
            for (int r = from; r < to; r++) {
                int xi = xo + r * c, yi = yo + r * c;
                float m = sum(x, xi, c) / c;
                float var = sumSquaredDiff(x, xi, c, m) / c;
                float s = (float) (1 / Math.sqrt(var + eps));
                mu[mo + r] = m;
                rs[ro + r] = s;
                int i = 0;
                for (int bound = S.loopBound(c); i < bound; i += L) {
                    FloatVector v = FloatVector.fromArray(S, x, xi + i).sub(m).mul(s);
                    FloatVector wv = FloatVector.fromArray(S, w, wo + i);
                    v = bb == null ? v.mul(wv) : v.fma(wv, FloatVector.fromArray(S, bb, bo + i));
                    v.intoArray(y, yi + i);
                }
                for (; i < c; i++) y[yi + i] = (x[xi + i] - m) * s * w[wo + i] + (bb == null ? 0 : bb[bo + i]);
            }
        });
    }

    void layerNormBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight,
                                  Tensor mean, Tensor rstd) {
        String op = "layerNormBackward";
        int c = in.dim(-1), n = in.rows();
        float[] dx = f32(op, din), dw = dweight == null ? null : f32(op, dweight), db = dbias == null ? null : f32(op, dbias);
        float[] g = f32(op, dout), x = f32(op, in), w = f32(op, weight), mu = f32(op, mean), rs = f32(op, rstd);
        requireSame(op, din, in);
        requireSame(op, dout, in);
        requireCount(op, "weight", weight, c);
        if (dweight != null) requireCount(op, "dweight", dweight, c);
        if (dbias != null) requireCount(op, "dbias", dbias, c);
        requireCount(op, "mean", mean, n);
        requireCount(op, "rstd", rstd, n);
        int dxo = off(din), go = off(dout), xo = off(in), wo = off(weight), mo = off(mean), ro = off(rstd);
        ensurePartials(2 * c);
        chunks(n, 1, (thread, from, to) -> {
            float[] part = partials[thread];
            Arrays.fill(part, 0, 2 * c, 0f);
            for (int r = from; r < to; r++) {
                int xi = xo + r * c, gi = go + r * c, di = dxo + r * c;
                float m = mu[mo + r], s = rs[ro + r];
                // dxhat = dout·w; din += (dxhat − mean(dxhat) − xhat·mean(dxhat·xhat))·rstd
                FloatVector aSum = FloatVector.zero(S), bSum = FloatVector.zero(S);
                int i = 0;
                for (int bound = S.loopBound(c); i < bound; i += L) {
                    FloatVector gv = FloatVector.fromArray(S, g, gi + i);
                    FloatVector xh = FloatVector.fromArray(S, x, xi + i).sub(m).mul(s);
                    FloatVector dn = gv.mul(FloatVector.fromArray(S, w, wo + i));
                    aSum = aSum.add(dn);
                    bSum = dn.fma(xh, bSum);
                    gv.fma(xh, FloatVector.fromArray(S, part, i)).intoArray(part, i);
                    gv.add(FloatVector.fromArray(S, part, c + i)).intoArray(part, c + i);
                }
                float a = Lanes.sum(aSum), b = Lanes.sum(bSum);
                for (int j = i; j < c; j++) {
                    float xh = (x[xi + j] - m) * s, dn = g[gi + j] * w[wo + j];
                    a += dn;
                    b += dn * xh;
                    part[j] += g[gi + j] * xh;
                    part[c + j] += g[gi + j];
                }
                float ma = a / c, mb = b / c;
                i = 0;
                for (int bound = S.loopBound(c); i < bound; i += L) {
                    FloatVector xh = FloatVector.fromArray(S, x, xi + i).sub(m).mul(s);
                    FloatVector dn = FloatVector.fromArray(S, g, gi + i).mul(FloatVector.fromArray(S, w, wo + i));
                    dn.sub(ma).sub(xh.mul(mb)).mul(s).add(FloatVector.fromArray(S, dx, di + i)).intoArray(dx, di + i);
                }
                for (; i < c; i++) {
                    float xh = (x[xi + i] - m) * s, dn = g[gi + i] * w[wo + i];
                    dx[di + i] += (dn - ma - xh * mb) * s;
                }
            }
        });
        if (dw != null) reducePartials(n, dw, off(dweight), 0, c);
        if (db != null) reducePartials(n, db, off(dbias), c, c);
    }

    void rmsNorm(Tensor out, Tensor rstd, Tensor in, Tensor weight, float eps) {
        String op = "rmsNorm";
        int c = in.dim(-1), n = in.rows();
        float[] x = f32(op, in), y = f32(op, out), rs = f32(op, rstd), w = f32(op, weight);
        requireSame(op, out, in);
        requireCount(op, "rstd", rstd, n);
        requireCount(op, "weight", weight, c);
        int xo = off(in), yo = off(out), ro = off(rstd), wo = off(weight);
        rows(n, c, (from, to) -> {
            for (int r = from; r < to; r++) {
                int xi = xo + r * c, yi = yo + r * c;
                float s = (float) (1 / Math.sqrt(sumSquaredDiff(x, xi, c, 0f) / c + eps));
                rs[ro + r] = s;
                int i = 0;
                for (int bound = S.loopBound(c); i < bound; i += L) {
                    FloatVector.fromArray(S, x, xi + i).mul(s).mul(FloatVector.fromArray(S, w, wo + i)).intoArray(y, yi + i);
                }
                for (; i < c; i++) y[yi + i] = x[xi + i] * s * w[wo + i];
            }
        });
    }

    void rmsNormBackward(Tensor din, Tensor dweight, Tensor dout, Tensor in, Tensor weight, Tensor rstd) {
        String op = "rmsNormBackward";
        int c = in.dim(-1), n = in.rows();
        float[] dx = f32(op, din), dw = dweight == null ? null : f32(op, dweight), g = f32(op, dout), x = f32(op, in);
        float[] w = f32(op, weight);
        float[] rs = f32(op, rstd);
        requireSame(op, din, in);
        requireSame(op, dout, in);
        requireCount(op, "weight", weight, c);
        if (dweight != null) requireCount(op, "dweight", dweight, c);
        requireCount(op, "rstd", rstd, n);
        int dxo = off(din), go = off(dout), xo = off(in), wo = off(weight), ro = off(rstd);
        ensurePartials(c);
        chunks(n, 1, (thread, from, to) -> {
            float[] part = partials[thread];
            Arrays.fill(part, 0, c, 0f);
            for (int r = from; r < to; r++) {
                int xi = xo + r * c, gi = go + r * c, di = dxo + r * c;
                float s = rs[ro + r];
                // xhat = x·rstd, dxhat = dout·w; din += rstd·(dxhat − xhat·mean(dxhat·xhat))
                FloatVector bSum = FloatVector.zero(S);
                int i = 0;
                for (int bound = S.loopBound(c); i < bound; i += L) {
                    FloatVector gv = FloatVector.fromArray(S, g, gi + i);
                    FloatVector xh = FloatVector.fromArray(S, x, xi + i).mul(s);
                    bSum = gv.mul(FloatVector.fromArray(S, w, wo + i)).fma(xh, bSum);
                    gv.fma(xh, FloatVector.fromArray(S, part, i)).intoArray(part, i);
                }
                float b = Lanes.sum(bSum);
                for (int j = i; j < c; j++) {
                    float xh = x[xi + j] * s;
                    b += g[gi + j] * w[wo + j] * xh;
                    part[j] += g[gi + j] * xh;
                }
                float mb = b / c;
                i = 0;
                for (int bound = S.loopBound(c); i < bound; i += L) {
                    FloatVector xh = FloatVector.fromArray(S, x, xi + i).mul(s);
                    FloatVector dn = FloatVector.fromArray(S, g, gi + i).mul(FloatVector.fromArray(S, w, wo + i));
                    dn.sub(xh.mul(mb)).mul(s).add(FloatVector.fromArray(S, dx, di + i)).intoArray(dx, di + i);
                }
                for (; i < c; i++) dx[di + i] += (g[gi + i] * w[wo + i] - x[xi + i] * s * mb) * s;
            }
        });
        if (dw != null) reducePartials(n, dw, off(dweight), 0, c);
    }

    private void ensurePartials(int width) {
        for (int i = 0; i < partials.length; i++) {
            if (partials[i] == null || partials[i].length < width) partials[i] = new float[width];
        }
    }

    /**
     * dst[c] += Σ over the threads that had rows of partials[thread][from + c], for c &lt; width: the partials are
     * summed in thread order first (into thread 0's) and added to dst once, so a call adds its whole contribution
     * in one addition per element (see {@link Loops#addRowSum}).
     */
    private void reducePartials(int n, float[] dst, int dOff, int from, int width) {
        int used = Math.max(1, Math.min(Parallel.threads(), n));
        Parallel.range(width, L, (c0, c1) -> {
            for (int t = 1; t < used; t++) accumulate(partials[0], from + c0, partials[t], from + c0, c1 - c0);
            accumulate(dst, dOff + c0, partials[0], from + c0, c1 - c0);
        });
    }
}
