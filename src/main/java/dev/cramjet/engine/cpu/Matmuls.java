package dev.cramjet.engine.cpu;

import dev.cramjet.engine.DType;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Tensor;
import jdk.incubator.vector.FloatVector;

import static dev.cramjet.engine.cpu.Checks.*;
import static dev.cramjet.engine.cpu.Loops.*;

/**
 * y = x·Wᵀ + b with its epilogue, and the backward. The product is {@link Gemm} for fp32 weights and {@link Q8}
 * for int8 ones; bias and epilogue are one extra pass over the output either way, the same code for both.
 */
final class Matmuls {
    /**
     * Products of fewer rows than this read an fp32 weight that nothing writes packed once ({@link CpuStorage#packed})
     * — decode steps, one sequence or many, and prompt chunks: the panels are one sequential stream of the weight,
     * which a few-row product reads at memory speed. Packing B costs about PACK_COST (16) multiply-adds per element
     * of B, a quarter of a 64-row product and under 3% from here on; a training batch has more rows, and a packed
     * copy would only add its weights' memory again. Larger products still read a copy that smaller ones made
     * ({@link CpuStorage#kept}: a server's long prompt steps), which gives the same bits as packing per call.
     */
    private static final int PACKED_ROWS = 512;
    /** The projection before dropout when a Residual epilogue drops out. */
    private CpuStorage projection = new CpuStorage(DType.F32, 0);

    /** dst's floats from dOff (+)= x·Wᵀ for the op's x and W: the product part of a matmul, whichever type W has. */
    @FunctionalInterface
    private interface Product {
        void into(CpuStorage dst, int dOff, boolean accumulate);
    }

    void matmul(Tensor out, Tensor in, Tensor weight, Tensor bias, Epilogue epilogue) {
        String op = "matmul";
        int c = in.dim(-1), n = in.rows(), oc = weight.dim(0);
        float[] x = f32(op, in), y = f32(op, out), b = bias == null ? null : f32(op, bias);
        CpuStorage ys = storage(op, out);
        requireShape(op, "weight", weight, oc, c);
        requireSize(op, "out", out, (long) n * oc, oc);
        if (bias != null) requireCount(op, "bias", bias, oc);
        int xo = off(in), wo = off(weight), yo = off(out), bo = bias == null ? 0 : off(bias);
        Product product;
        if (weight.dtype() == DType.Q8_0) {
            CpuStorage w = q8(op, weight);
            product = (dst, dOff, acc) -> Q8.nt(x, xo, w, wo, dst, dOff, n, oc, c, acc);
        } else {
            float[] w = f32(op, weight);
            CpuStorage ws = storage(op, weight);
            Gemm.Packed packed = n >= PACKED_ROWS ? ws.kept(wo, oc, c) : ws.packed(wo, oc, c);
            product = (dst, dOff, acc) -> Gemm.nt(x, xo, w, wo, packed, dst.f32, dOff, n, oc, c, acc);
        }
        switch (epilogue) {
            case Epilogue.None() -> {
                product.into(ys, yo, false);
                if (b != null) addRows(n, oc, y, yo, b, bo, y, yo);
            }
            case Epilogue.Gelu(Tensor pre) -> {
                float[] p = pre == null ? y : f32(op, pre);
                int po = pre == null ? yo : off(pre);
                if (pre != null) requireSame(op, pre, out);
                product.into(pre == null ? ys : storage(op, pre), po, false);
                boolean keepPre = pre != null;
                rows(n, oc, (from, to) -> {
                    for (int r = from; r < to; r++) {
                        int pi = po + r * oc, yi = yo + r * oc;
                        int i = 0;
                        for (int bound = S.loopBound(oc); i < bound; i += L) biasGelu(p, pi + i, b, bo + i, keepPre, y, yi + i);
                        for (; i < oc; i++) {
                            float v = p[pi + i] + (b == null ? 0 : b[bo + i]);
                            if (keepPre) p[pi + i] = v;
                            y[yi + i] = VectorMath.gelu(v);
                        }
                    }
                });
            }
            case Epilogue.Residual(Tensor residual, float p, long seed) -> {
                requireSame(op, residual, out);
                float[] res = f32(op, residual);
                int ro = off(residual);
                if (!(p >= 0 && p < 1)) throw new IllegalArgumentException(op + ": dropout " + p + " not in [0, 1)");
                if (p == 0) {
                    // out = residual + bias, then the product accumulates x·Wᵀ on top: one pass besides the GEMM.
                    if (b != null) {
                        addRows(n, oc, res, ro, b, bo, y, yo);
                    } else if (res != y || ro != yo) {
                        System.arraycopy(res, ro, y, yo, n * oc);
                    }
                    product.into(ys, yo, true);
                } else {
                    if (projection.size() < (long) n * oc) projection = new CpuStorage(DType.F32, n * oc);
                    float[] t = projection.f32;
                    product.into(projection, 0, false);
                    float keepScale = 1 / (1 - p);
                    long threshold = Activations.dropThreshold(p);
                    Parallel.range(n, (from, to) -> {
                        for (int r = from; r < to; r++) {
                            int e = r * oc;
                            Activations.dropoutSpan(t, e, b, bo, res, ro + e, y, yo + e, oc, e, seed, threshold, keepScale);
                        }
                    });
                }
            }
        }
    }

    /** y = gelu(p + bias) for one vector; p + bias is stored back into p when it is the kept pre-activation. */
    private static void biasGelu(float[] p, int pi, float[] b, int bi, boolean keepPre, float[] y, int yi) {
        FloatVector v = FloatVector.fromArray(S, p, pi);
        if (b != null) {
            v = v.add(FloatVector.fromArray(S, b, bi));
            if (keepPre) v.intoArray(p, pi);
        }
        VectorMath.gelu(v).intoArray(y, yi);
    }

    void matmulBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight) {
        String op = "matmulBackward";
        int c = in.dim(-1), n = in.rows(), oc = weight.dim(0);
        float[] x = f32(op, in), w = f32(op, weight), g = f32(op, dout);
        requireShape(op, "weight", weight, oc, c);
        requireSize(op, "dout", dout, (long) n * oc, oc);
        int xo = off(in), wo = off(weight), go = off(dout);
        if (din != null) {
            requireSame(op, din, in);
            Gemm.nn(g, go, w, wo, f32(op, din), off(din), n, c, oc, false);
        }
        if (dweight != null) {
            requireSame(op, dweight, weight);
            Gemm.tn(g, go, x, xo, f32(op, dweight), off(dweight), oc, c, n, true);
        }
        if (dbias != null) {
            requireCount(op, "dbias", dbias, oc);
            float[] db = f32(op, dbias);
            int bo = off(dbias);
            Parallel.range(oc, L, (c0, c1) -> addRowSum(db, bo + c0, g, go + c0, oc, null, 0, n, c1 - c0));
        }
    }
}
