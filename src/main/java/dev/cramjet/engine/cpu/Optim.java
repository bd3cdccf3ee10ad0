package dev.cramjet.engine.cpu;

import dev.cramjet.engine.AdamW;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;
import jdk.incubator.vector.FloatVector;

import java.util.Arrays;

import static dev.cramjet.engine.cpu.Checks.*;
import static dev.cramjet.engine.cpu.Loops.*;

/**
 * The global gradient norm and the fused AdamW step. The norm sums per-thread partial sums of squares in double, in
 * thread order, so it does not depend on timing.
 */
final class Optim {
    private final double[] threadSums = new double[Parallel.threads()];

    void globalNorm(Tensor out, Tensor x) {
        String op = "globalNorm";
        requireCount(op, "out", out, 1);
        float[] a = f32(op, x);
        int o = off(x), n = (int) x.size();
        Arrays.fill(threadSums, 0);
        chunks(n, GRAIN, (thread, from, to) -> {
            double total = 0;
            for (int block = from; block < to; block += GRAIN) {
                int end = Math.min(to, block + GRAIN);
                total += sumSquaredDiff(a, o + block, end - block, 0f);
            }
            threadSums[thread] = total;
        });
        double s = 0;
        for (double v : threadSums) s += v;
        f32(op, out)[off(out)] = (float) Math.sqrt(s);
    }

    void adamW(Tensor params, Tensor grads, Tensor m, Tensor v, Tensor master, Tensor gradNorm, AdamW hp) {
        String op = "adamW";
        requireSame(op, grads, params);
        requireSame(op, m, params);
        requireSame(op, v, params);
        float[] g = f32(op, grads), mm = f32(op, m), vv = f32(op, v);
        float[] w;
        int wo;
        short[] bf = null;
        int bfo = 0;
        if (master == null) {
            w = f32(op, params);
            wo = off(params);
        } else {
            requireSame(op, master, params);
            if (params.dtype() != DType.BF16) throw new IllegalArgumentException(op + ": master copy given for " + params + " params (expects BF16)");
            w = f32(op, master);
            wo = off(master);
            bf = storage(op, params).bf16;
            bfo = off(params);
        }
        float clip = 1f;
        if (gradNorm != null) {
            requireCount(op, "gradNorm", gradNorm, 1);
            float norm = f32(op, gradNorm)[off(gradNorm)];
            clip = Math.min(1f, hp.maxGradNorm() / (norm + 1e-6f));
        }
        float b1 = hp.beta1(), b2 = hp.beta2(), lr = hp.lr(), eps = hp.eps(), wd = hp.weightDecay(), cl = clip;
        float bc1 = (float) (1 - StrictMath.pow(b1, hp.step())), bc2 = (float) (1 - StrictMath.pow(b2, hp.step()));
        int go = off(grads), mo = off(m), vo = off(v);
        short[] half = bf;
        int ho = bfo;
        elementwise((int) params.size(), (from, to) -> {
            int i = from;
            for (int bound = from + S.loopBound(to - from); i < bound; i += L) {
                FloatVector gv = FloatVector.fromArray(S, g, go + i).mul(cl);
                FloatVector mv = FloatVector.fromArray(S, mm, mo + i).mul(b1).add(gv.mul(1 - b1));
                FloatVector vv2 = FloatVector.fromArray(S, vv, vo + i).mul(b2).add(gv.mul(gv).mul(1 - b2));
                mv.intoArray(mm, mo + i);
                vv2.intoArray(vv, vo + i);
                FloatVector wv = FloatVector.fromArray(S, w, wo + i);
                FloatVector upd = mv.div(bc1).div(vv2.div(bc2).sqrt().add(eps)).add(wv.mul(wd));
                wv.sub(upd.mul(lr)).intoArray(w, wo + i);
            }
            for (; i < to; i++) {
                float gi = g[go + i] * cl;
                float mi = b1 * mm[mo + i] + (1 - b1) * gi, vi = b2 * vv[vo + i] + (1 - b2) * gi * gi;
                mm[mo + i] = mi;
                vv[vo + i] = vi;
                w[wo + i] -= lr * ((mi / bc1) / ((float) Math.sqrt(vi / bc2) + eps) + wd * w[wo + i]);
            }
            if (half != null) for (int j = from; j < to; j++) half[ho + j] = CpuStorage.toBf16(w[wo + j]);
        });
    }
}
