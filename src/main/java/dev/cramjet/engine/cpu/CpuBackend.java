package dev.cramjet.engine.cpu;

import dev.cramjet.Hash;
import dev.cramjet.engine.AdamW;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The fp32 reference backend: every op over Java arrays, split over all cores with {@link Parallel}, inner loops on
 * the Vector API (the preferred species: 16 floats with AVX-512) with masked tails, so any size works. Matrix
 * products go to {@link Gemm}; bias and epilogue are one extra pass over the output. Scratch buffers (per-thread
 * partial sums, attention tiles, the pre-dropout projection) grow on first use and are reused afterwards, so a
 * training step allocates nothing. Not thread-safe: one op at a time.
 */
public final class CpuBackend implements Backend {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Elements per chunk of a parallel elementwise loop: big enough to amortise the hand-off. */
    private static final int GRAIN = 4096;
    private static final float GELU_K = (float) Math.sqrt(2 / Math.PI);
    private static final float GELU_C = 0.044715f;
    /** Dropout hashes 64-bit lanes: floats are processed as many at a time as longs fit in a vector. */
    private static final VectorSpecies<Long> HS = LongVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Float> DS = VectorSpecies.of(float.class, VectorShape.forBitSize(HS.length() * 32));
    private static final LongVector HASH_IOTA = (LongVector) HS.iotaShuffle(0, 1, false).toVector();

    private final List<CpuStorage> storages = new ArrayList<>();
    private long allocated;
    private final FlashAttention flash = new FlashAttention();
    /** Per-thread partial column sums of the norm backwards. */
    private final float[][] partials = new float[Parallel.threads()][];
    private final double[] threadSums = new double[Parallel.threads()];
    /** The projection before dropout when a Residual epilogue drops out. */
    private float[] projection = new float[0];
    /** RoPE angle table: cos/sin of pos·θ^(−2i/hs) for pos &lt; ropePositions, i &lt; hs/2. */
    private float[] ropeCos = new float[0], ropeSin = new float[0];
    private int ropePositions, ropeHalf;
    private float ropeTheta;

    @Override
    public String name() { return "cpu"; }

    @Override
    public String describe() {
        String model = "unknown CPU";
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    model = line.substring(line.indexOf(':') + 1).trim();
                    break;
                }
            }
        } catch (IOException | RuntimeException e) {
            model = System.getProperty("os.arch");
        }
        return model + ", " + Parallel.threads() + " threads, " + S.vectorBitSize() + "-bit vectors (" + L + " floats)";
    }

    @Override
    public DType computeType() { return DType.F32; }

    // ---- memory ----------------------------------------------------------------------------------------------

    @Override
    public Tensor alloc(DType dtype, int... shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) throw new IllegalArgumentException("alloc: negative dimension in " + Arrays.toString(shape));
            n *= d;
        }
        if (n > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("alloc: " + n + " elements exceed a Java array " + Arrays.toString(shape));
        }
        CpuStorage s = new CpuStorage(dtype, (int) n);
        storages.add(s);
        allocated += n * dtype.bytes;
        return new Tensor(s, 0, shape);
    }

    @Override
    public void upload(Tensor dst, float[] src) {
        checkLength("upload", dst, src.length);
        int o = off(dst);
        switch (dst.dtype()) {
            case F32 -> System.arraycopy(src, 0, f32("upload", dst), o, src.length);
            case BF16 -> {
                short[] h = storage("upload", dst).bf16;
                Parallel.range(src.length, GRAIN, (from, to) -> {
                    for (int i = from; i < to; i++) h[o + i] = CpuStorage.toBf16(src[i]);
                });
            }
            case I32 -> throw new IllegalArgumentException("upload: float[] into I32 tensor " + dst);
        }
    }

    @Override
    public void upload(Tensor dst, int[] src) {
        checkLength("upload", dst, src.length);
        System.arraycopy(src, 0, i32("upload", dst), off(dst), src.length);
    }

    @Override
    public void download(Tensor src, float[] dst) {
        checkLength("download", src, dst.length);
        int o = off(src);
        switch (src.dtype()) {
            case F32 -> System.arraycopy(f32("download", src), o, dst, 0, dst.length);
            case BF16 -> {
                short[] h = storage("download", src).bf16;
                Parallel.range(dst.length, GRAIN, (from, to) -> {
                    for (int i = from; i < to; i++) dst[i] = CpuStorage.fromBf16(h[o + i]);
                });
            }
            case I32 -> throw new IllegalArgumentException("download: I32 tensor " + src + " into float[]");
        }
    }

    @Override
    public void download(Tensor src, int[] dst) {
        checkLength("download", src, dst.length);
        System.arraycopy(i32("download", src), off(src), dst, 0, dst.length);
    }

    @Override
    public void zero(Tensor t) { fill(t, 0f); }

    @Override
    public void fill(Tensor t, float value) {
        CpuStorage s = storage("fill", t);
        int o = off(t), n = (int) t.size();
        switch (t.dtype()) {
            case F32 -> Arrays.fill(s.f32, o, o + n, value);
            case BF16 -> Arrays.fill(s.bf16, o, o + n, CpuStorage.toBf16(value));
            case I32 -> {
                if (value != (int) value) throw new IllegalArgumentException("fill: " + value + " into I32 tensor " + t);
                Arrays.fill(s.i32, o, o + n, (int) value);
            }
        }
    }

    @Override
    public void copy(Tensor dst, Tensor src) {
        if (dst.size() != src.size()) throw new IllegalArgumentException("copy: " + src + " into " + dst + " (sizes differ)");
        CpuStorage d = storage("copy", dst), s = storage("copy", src);
        int dOff = off(dst), sOff = off(src), n = (int) dst.size();
        DType from = src.dtype(), to = dst.dtype();
        if (from == to) {
            Object sa = from == DType.F32 ? s.f32 : from == DType.BF16 ? s.bf16 : s.i32;
            Object da = to == DType.F32 ? d.f32 : to == DType.BF16 ? d.bf16 : d.i32;
            System.arraycopy(sa, sOff, da, dOff, n);
        } else if (from == DType.F32 && to == DType.BF16) {
            Parallel.range(n, GRAIN, (lo, hi) -> {
                for (int i = lo; i < hi; i++) d.bf16[dOff + i] = CpuStorage.toBf16(s.f32[sOff + i]);
            });
        } else if (from == DType.BF16 && to == DType.F32) {
            Parallel.range(n, GRAIN, (lo, hi) -> {
                for (int i = lo; i < hi; i++) d.f32[dOff + i] = CpuStorage.fromBf16(s.bf16[sOff + i]);
            });
        } else {
            throw new IllegalArgumentException("copy: cannot convert " + src + " to " + dst);
        }
    }

    @Override
    public void synchronize() {}

    @Override
    public long allocatedBytes() { return allocated; }

    @Override
    public void close() {
        for (CpuStorage s : storages) s.release();
        storages.clear();
        allocated = 0;
    }

    // ---- embedding -------------------------------------------------------------------------------------------

    @Override
    public void embedding(Tensor out, Tensor tokens, Tensor wte, Tensor wpe, int posOffset) {
        String op = "embedding";
        int[] tok = i32(op, tokens);
        float[] o = f32(op, out), e = f32(op, wte), p = wpe == null ? null : f32(op, wpe);
        int t = tokens.dim(-1), n = (int) tokens.size(), c = wte.dim(-1), v = wte.dim(0);
        requireShape(op, "wte", wte, v, c);
        requireSize(op, "out", out, (long) n * c, c);
        if (wpe != null && (wpe.rank() != 2 || wpe.dim(1) != c || posOffset < 0 || posOffset + t > wpe.dim(0))) {
            throw new IllegalArgumentException(op + ": wpe " + wpe + " cannot cover positions [" + posOffset + ", "
                    + (posOffset + t) + ") of width " + c);
        }
        int tOff = off(tokens), oOff = off(out), eOff = off(wte), pOff = wpe == null ? 0 : off(wpe);
        checkTokens(op, tok, tOff, n, v);
        Parallel.range(n, (from, to) -> {
            for (int r = from; r < to; r++) {
                int dst = oOff + r * c, src = eOff + tok[tOff + r] * c;
                if (p == null) {
                    System.arraycopy(e, src, o, dst, c);
                } else {
                    addInto(o, dst, e, src, p, pOff + (posOffset + r % t) * c, c);
                }
            }
        });
    }

    @Override
    public void embeddingBackward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens) {
        String op = "embeddingBackward";
        int[] tok = i32(op, tokens);
        float[] dE = f32(op, dwte), dP = dwpe == null ? null : f32(op, dwpe), g = f32(op, dout);
        int t = tokens.dim(-1), n = (int) tokens.size(), c = dwte.dim(-1), v = dwte.dim(0);
        requireSize(op, "dout", dout, (long) n * c, c);
        if (dwpe != null && (dwpe.rank() != 2 || dwpe.dim(1) != c || dwpe.dim(0) < t)) {
            throw new IllegalArgumentException(op + ": dwpe " + dwpe + " cannot hold " + t + " positions of width " + c);
        }
        int tOff = off(tokens), eOff = off(dwte), pOff = dwpe == null ? 0 : off(dwpe), gOff = off(dout);
        checkTokens(op, tok, tOff, n, v);
        // Columns are split over threads, so rows sharing a token (or a position) never race.
        Parallel.range(c, L, (c0, c1) -> {
            for (int r = 0; r < n; r++) {
                int src = gOff + r * c;
                accumulate(dE, eOff + tok[tOff + r] * c + c0, g, src + c0, c1 - c0);
                if (dP != null) accumulate(dP, pOff + (r % t) * c + c0, g, src + c0, c1 - c0);
            }
        });
    }

    // ---- normalisation ---------------------------------------------------------------------------------------

    @Override
    public void layerNorm(Tensor out, Tensor mean, Tensor rstd, Tensor in, Tensor weight, Tensor bias, float eps) {
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
        Parallel.range(n, (from, to) -> {
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

    @Override
    public void layerNormBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight,
                                  Tensor mean, Tensor rstd) {
        String op = "layerNormBackward";
        int c = in.dim(-1), n = in.rows();
        float[] dx = f32(op, din), dw = f32(op, dweight), db = dbias == null ? null : f32(op, dbias);
        float[] g = f32(op, dout), x = f32(op, in), w = f32(op, weight), mu = f32(op, mean), rs = f32(op, rstd);
        requireSame(op, din, in);
        requireSame(op, dout, in);
        requireCount(op, "weight", weight, c);
        requireCount(op, "dweight", dweight, c);
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
                float a = VectorMath.sum(aSum), b = VectorMath.sum(bSum);
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
        reducePartials(n, dw, off(dweight), 0, c);
        if (db != null) reducePartials(n, db, off(dbias), c, c);
    }

    @Override
    public void rmsNorm(Tensor out, Tensor rstd, Tensor in, Tensor weight, float eps) {
        String op = "rmsNorm";
        int c = in.dim(-1), n = in.rows();
        float[] x = f32(op, in), y = f32(op, out), rs = f32(op, rstd), w = f32(op, weight);
        requireSame(op, out, in);
        requireCount(op, "rstd", rstd, n);
        requireCount(op, "weight", weight, c);
        int xo = off(in), yo = off(out), ro = off(rstd), wo = off(weight);
        Parallel.range(n, (from, to) -> {
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

    @Override
    public void rmsNormBackward(Tensor din, Tensor dweight, Tensor dout, Tensor in, Tensor weight, Tensor rstd) {
        String op = "rmsNormBackward";
        int c = in.dim(-1), n = in.rows();
        float[] dx = f32(op, din), dw = f32(op, dweight), g = f32(op, dout), x = f32(op, in), w = f32(op, weight);
        float[] rs = f32(op, rstd);
        requireSame(op, din, in);
        requireSame(op, dout, in);
        requireCount(op, "weight", weight, c);
        requireCount(op, "dweight", dweight, c);
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
                float b = VectorMath.sum(bSum);
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
        reducePartials(n, dw, off(dweight), 0, c);
    }

    // ---- matmul ----------------------------------------------------------------------------------------------

    @Override
    public void matmul(Tensor out, Tensor in, Tensor weight, Tensor bias, Epilogue epilogue) {
        String op = "matmul";
        int c = in.dim(-1), n = in.rows(), oc = weight.dim(0);
        float[] x = f32(op, in), w = f32(op, weight), y = f32(op, out), b = bias == null ? null : f32(op, bias);
        requireShape(op, "weight", weight, oc, c);
        requireSize(op, "out", out, (long) n * oc, oc);
        if (bias != null) requireCount(op, "bias", bias, oc);
        int xo = off(in), wo = off(weight), yo = off(out), bo = bias == null ? 0 : off(bias);
        switch (epilogue) {
            case Epilogue.None() -> {
                Gemm.nt(x, xo, w, wo, y, yo, n, oc, c, false);
                if (b != null) addRows(n, oc, y, yo, b, bo, y, yo);
            }
            case Epilogue.Gelu(Tensor pre) -> {
                float[] p = pre == null ? y : f32(op, pre);
                int po = pre == null ? yo : off(pre);
                if (pre != null) requireSame(op, pre, out);
                Gemm.nt(x, xo, w, wo, p, po, n, oc, c, false);
                boolean keepPre = pre != null;
                Parallel.range(n, (from, to) -> {
                    for (int r = from; r < to; r++) {
                        int pi = po + r * oc, yi = yo + r * oc;
                        int i = 0;
                        for (int bound = S.loopBound(oc); i < bound; i += L) biasGelu(p, pi + i, b, bo + i, keepPre, y, yi + i);
                        for (; i < oc; i++) {
                            float v = p[pi + i] + (b == null ? 0 : b[bo + i]);
                            if (keepPre) p[pi + i] = v;
                            y[yi + i] = gelu(v);
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
                    // out = residual + bias, then the GEMM accumulates x·Wᵀ on top: one pass besides the GEMM.
                    if (b != null) {
                        addRows(n, oc, res, ro, b, bo, y, yo);
                    } else if (res != y || ro != yo) {
                        System.arraycopy(res, ro, y, yo, n * oc);
                    }
                    Gemm.nt(x, xo, w, wo, y, yo, n, oc, c, true);
                } else {
                    if (projection.length < n * oc) projection = new float[n * oc];
                    float[] t = projection;
                    Gemm.nt(x, xo, w, wo, t, 0, n, oc, c, false);
                    float keepScale = 1 / (1 - p);
                    long threshold = dropThreshold(p);
                    Parallel.range(n, (from, to) -> {
                        for (int r = from; r < to; r++) {
                            int e = r * oc;
                            dropoutSpan(t, e, b, bo, res, ro + e, y, yo + e, oc, e, seed, threshold, keepScale);
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
        gelu(v).intoArray(y, yi);
    }

    @Override
    public void matmulBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight) {
        String op = "matmulBackward";
        int c = in.dim(-1), n = in.rows(), oc = weight.dim(0);
        float[] x = f32(op, in), w = f32(op, weight), g = f32(op, dout), dw = f32(op, dweight);
        requireShape(op, "weight", weight, oc, c);
        requireSame(op, dweight, weight);
        requireSize(op, "dout", dout, (long) n * oc, oc);
        int xo = off(in), wo = off(weight), go = off(dout);
        if (din != null) {
            requireSame(op, din, in);
            Gemm.nn(g, go, w, wo, f32(op, din), off(din), n, c, oc, false);
        }
        Gemm.tn(g, go, x, xo, dw, off(dweight), oc, c, n, true);
        if (dbias != null) {
            requireCount(op, "dbias", dbias, oc);
            float[] db = f32(op, dbias);
            int bo = off(dbias);
            Parallel.range(oc, L, (c0, c1) -> {
                for (int r = 0; r < n; r++) accumulate(db, bo + c0, g, go + r * oc + c0, c1 - c0);
            });
        }
    }

    // ---- activations -----------------------------------------------------------------------------------------

    @Override
    public void gelu(Tensor out, Tensor in) {
        String op = "gelu";
        requireSame(op, out, in);
        float[] x = f32(op, in), y = f32(op, out);
        int xo = off(in), yo = off(out);
        elementwise((int) in.size(), (from, to) -> {
            int i = from;
            for (int bound = from + S.loopBound(to - from); i < bound; i += L) {
                gelu(FloatVector.fromArray(S, x, xo + i)).intoArray(y, yo + i);
            }
            for (; i < to; i++) y[yo + i] = gelu(x[xo + i]);
        });
    }

    @Override
    public void geluBackward(Tensor din, Tensor pre, Tensor dout) {
        String op = "geluBackward";
        requireSame(op, din, pre);
        requireSame(op, dout, pre);
        float[] dx = f32(op, din), x = f32(op, pre), g = f32(op, dout);
        int dxo = off(din), xo = off(pre), go = off(dout);
        elementwise((int) pre.size(), (from, to) -> {
            int i = from;
            for (int bound = from + S.loopBound(to - from); i < bound; i += L) {
                geluGrad(FloatVector.fromArray(S, x, xo + i)).mul(FloatVector.fromArray(S, g, go + i))
                        .intoArray(dx, dxo + i);
            }
            for (; i < to; i++) dx[dxo + i] = geluGrad(x[xo + i]) * g[go + i];
        });
    }

    @Override
    public void swiglu(Tensor out, Tensor in) {
        String op = "swiglu";
        int h = out.dim(-1), n = out.rows();
        requireSize(op, "in", in, 2L * n * h, 2 * h);
        float[] x = f32(op, in), y = f32(op, out);
        int xo = off(in), yo = off(out);
        Parallel.range(n, (from, to) -> {
            for (int r = from; r < to; r++) {
                int gi = xo + r * 2 * h, yi = yo + r * h;
                int i = 0;
                for (int bound = S.loopBound(h); i < bound; i += L) swiglu(x, gi + i, h, y, yi + i);
                for (; i < h; i++) y[yi + i] = silu(x[gi + i]) * x[gi + h + i];
            }
        });
    }

    /** y = silu(gate)·up for one vector, gate at x[g..], up at x[g+h..]. */
    private static void swiglu(float[] x, int g, int h, float[] y, int yi) {
        FloatVector gate = FloatVector.fromArray(S, x, g);
        gate.mul(VectorMath.sigmoid(gate)).mul(FloatVector.fromArray(S, x, g + h)).intoArray(y, yi);
    }

    @Override
    public void swigluBackward(Tensor din, Tensor dout, Tensor in) {
        String op = "swigluBackward";
        int h = dout.dim(-1), n = dout.rows();
        requireSize(op, "in", in, 2L * n * h, 2 * h);
        requireSame(op, din, in);
        float[] x = f32(op, in), dx = f32(op, din), g = f32(op, dout);
        int xo = off(in), dxo = off(din), go = off(dout);
        Parallel.range(n, (from, to) -> {
            for (int r = from; r < to; r++) {
                int gi = xo + r * 2 * h, di = dxo + r * 2 * h, oi = go + r * h;
                int i = 0;
                for (int bound = S.loopBound(h); i < bound; i += L) swigluGrad(x, gi + i, h, g, oi + i, dx, di + i);
                for (; i < h; i++) {
                    float gate = x[gi + i], up = x[gi + h + i], sg = sigmoid(gate);
                    dx[di + i] = g[oi + i] * up * sg * (1 + gate * (1 - sg));
                    dx[di + h + i] = g[oi + i] * gate * sg;
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

    @Override
    public void add(Tensor out, Tensor a, Tensor b) {
        String op = "add";
        requireSame(op, a, out);
        requireSame(op, b, out);
        float[] y = f32(op, out), x1 = f32(op, a), x2 = f32(op, b);
        int yo = off(out), ao = off(a), bo = off(b);
        elementwise((int) out.size(), (from, to) -> addInto(y, yo + from, x1, ao + from, x2, bo + from, to - from));
    }

    @Override
    public void scale(Tensor t, float s) {
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

    // ---- attention -------------------------------------------------------------------------------------------

    @Override
    public void rope(Tensor qkv, int heads, float theta, int posOffset) {
        rotate("rope", qkv, heads, theta, posOffset, 1f);
    }

    @Override
    public void ropeBackward(Tensor dqkv, int heads, float theta) {
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

    @Override
    public void attention(Tensor out, Tensor lse, Tensor qkv, int heads) {
        String op = "attention";
        int[] d = attentionDims(op, qkv, heads);
        int b = d[0], t = d[1], c = d[2];
        requireSize(op, "out", out, (long) b * t * c, c);
        requireCount(op, "lse", lse, (long) b * heads * t);
        flash.forward(f32(op, qkv), off(qkv), f32(op, out), off(out), f32(op, lse), off(lse), b, t, c, heads);
    }

    @Override
    public void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor lse, int heads) {
        String op = "attentionBackward";
        int[] d = attentionDims(op, qkv, heads);
        int b = d[0], t = d[1], c = d[2];
        requireSame(op, dqkv, qkv);
        requireSize(op, "out", out, (long) b * t * c, c);
        requireSize(op, "dout", dout, (long) b * t * c, c);
        requireCount(op, "lse", lse, (long) b * heads * t);
        flash.backward(f32(op, dqkv), off(dqkv), f32(op, dout), off(dout), f32(op, qkv), off(qkv),
                f32(op, out), off(out), f32(op, lse), off(lse), b, t, c, heads);
    }

    @Override
    public void attentionCached(Tensor out, Tensor qkv, Tensor kCache, Tensor vCache, int pos, int heads) {
        String op = "attentionCached";
        int[] d = attentionDims(op, qkv, heads);
        int b = d[0], tn = d[1], c = d[2];
        requireSize(op, "out", out, (long) b * tn * c, c);
        if (kCache.rank() != 3 || kCache.dim(0) != b || kCache.dim(2) != c) {
            throw new IllegalArgumentException(op + ": kCache " + kCache + " is not [" + b + ", Tmax, " + c + "]");
        }
        requireSame(op, vCache, kCache);
        int tmax = kCache.dim(1);
        if (pos < 0 || pos + tn > tmax) {
            throw new IllegalArgumentException(op + ": positions [" + pos + ", " + (pos + tn) + ") exceed the cache of " + tmax);
        }
        float[] x = f32(op, qkv), kc = f32(op, kCache), vc = f32(op, vCache);
        int xo = off(qkv), ko = off(kCache), vo = off(vCache);
        for (int bi = 0; bi < b; bi++) {
            for (int i = 0; i < tn; i++) {
                int src = xo + (bi * tn + i) * 3 * c, dst = (bi * tmax + pos + i) * c;
                System.arraycopy(x, src + c, kc, ko + dst, c);
                System.arraycopy(x, src + 2 * c, vc, vo + dst, c);
            }
        }
        flash.cached(x, xo, kc, ko, vc, vo, f32(op, out), off(out), b, tn, tmax, c, heads, pos);
    }

    /** Validates qkv [B,T,3C] with C divisible by heads; returns {B, T, C}. */
    private static int[] attentionDims(String op, Tensor qkv, int heads) {
        if (qkv.rank() != 3 || qkv.dim(2) % 3 != 0) throw new IllegalArgumentException(op + ": qkv " + qkv + " is not [B,T,3C]");
        int c = qkv.dim(2) / 3;
        if (heads <= 0 || c % heads != 0) throw new IllegalArgumentException(op + ": " + heads + " heads do not divide C=" + c);
        return new int[]{qkv.dim(0), qkv.dim(1), c};
    }

    // ---- regularisation --------------------------------------------------------------------------------------

    @Override
    public void dropout(Tensor out, Tensor in, float p, long seed) {
        applyDropout("dropout", out, in, p, seed);
    }

    @Override
    public void dropoutBackward(Tensor din, Tensor dout, float p, long seed) {
        applyDropout("dropoutBackward", din, dout, p, seed);
    }

    /** y_i = keep_i ? x_i/(1−p) : 0 — forward and backward are the same map. */
    private void applyDropout(String op, Tensor out, Tensor in, float p, long seed) {
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
    private static void dropoutSpan(float[] x, int xo, float[] bias, int bo, float[] res, int ro, float[] y, int yo,
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

    /** {@link Rng#keep} as an integer test: uniform ≥ p ⇔ top 24 hash bits ≥ ⌈p·2²⁴⌉ (both sides exact). */
    static long dropThreshold(float p) {
        return (long) Math.ceil((double) p * 0x1p24);
    }

    static boolean keep(long seed, long index, long threshold) {
        return (Hash.mix(seed + index * Hash.GOLDEN) >>> 40) >= threshold;
    }

    // ---- loss ------------------------------------------------------------------------------------------------

    @Override
    public void crossEntropy(Tensor losses, Tensor logits, Tensor targets, int vocab, float gradScale) {
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

    // ---- optimiser -------------------------------------------------------------------------------------------

    @Override
    public void globalNorm(Tensor out, Tensor x) {
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

    @Override
    public void adamW(Tensor params, Tensor grads, Tensor m, Tensor v, Tensor master, Tensor gradNorm, AdamW hp) {
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

    // ---- vector helpers --------------------------------------------------------------------------------------

    /**
     * gelu(x) = 0.5·x·(1 + tanh u), u = √(2/π)·(x + 0.044715·x³), computed as x·σ(2u) since 0.5·(1 + tanh u) = σ(2u).
     */
    private static FloatVector gelu(FloatVector x) {
        FloatVector u2 = x.mul(x).mul(2 * GELU_K * GELU_C).add(2 * GELU_K).mul(x);
        return x.mul(VectorMath.sigmoid(u2));
    }

    /** gelu'(x) = σ(2u) + 2x·σ(2u)·(1 − σ(2u))·u',  u' = √(2/π)·(1 + 3·0.044715·x²). */
    private static FloatVector geluGrad(FloatVector x) {
        FloatVector x2 = x.mul(x);
        FloatVector s = VectorMath.sigmoid(x2.mul(2 * GELU_K * GELU_C).add(2 * GELU_K).mul(x));
        FloatVector du = x2.mul(3 * GELU_K * GELU_C).add(GELU_K);
        return s.neg().add(1f).mul(s).mul(du).mul(x.add(x)).add(s);
    }

    // Scalar twins of the vector functions for loop tails (the same formulas; StrictMath keeps them reproducible).
    // Tails run scalar rather than masked so each kernel inlines exp once: C2 boxes the vectors of an exp call it
    // could not inline within its budget, and every extra inlined copy brings that closer.

    private static float sigmoid(float x) {
        return 1 / (1 + (float) StrictMath.exp(-x));
    }

    private static float silu(float x) {
        return x * sigmoid(x);
    }

    private static float gelu(float x) {
        return x * sigmoid((2 * GELU_K * GELU_C * x * x + 2 * GELU_K) * x);
    }

    private static float geluGrad(float x) {
        float s = sigmoid((2 * GELU_K * GELU_C * x * x + 2 * GELU_K) * x);
        return (1 - s) * s * (3 * GELU_K * GELU_C * x * x + GELU_K) * (x + x) + s;
    }

    /** dst[d..] = a[ai..] + b[bi..] over n elements. */
    private static void addInto(float[] dst, int d, float[] a, int ai, float[] b, int bi, int n) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector.fromArray(S, a, ai + i).add(FloatVector.fromArray(S, b, bi + i)).intoArray(dst, d + i);
        }
        for (; i < n; i++) dst[d + i] = a[ai + i] + b[bi + i];
    }

    /** dst[d..] += src[s..] over n elements. */
    private static void accumulate(float[] dst, int d, float[] src, int s, int n) {
        addInto(dst, d, dst, d, src, s, n);
    }

    private static float sum(float[] x, int off, int n) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) acc = acc.add(FloatVector.fromArray(S, x, off + i));
        float s = VectorMath.sum(acc);
        for (; i < n; i++) s += x[off + i];
        return s;
    }

    /** Σ (x − c)² over [off, off+n). */
    private static float sumSquaredDiff(float[] x, int off, int n, float c) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector d = FloatVector.fromArray(S, x, off + i).sub(c);
            acc = d.fma(d, acc);
        }
        float s = VectorMath.sum(acc);
        for (; i < n; i++) s += (x[off + i] - c) * (x[off + i] - c);
        return s;
    }

    /** dst row r = src row r + bias, for n rows of width w. dst may be src. */
    private static void addRows(int n, int w, float[] src, int so, float[] bias, int bo, float[] dst, int dOff) {
        Parallel.range(n, (from, to) -> {
            for (int r = from; r < to; r++) addInto(dst, dOff + r * w, src, so + r * w, bias, bo, w);
        });
    }

    // ---- parallel helpers ------------------------------------------------------------------------------------

    /** Splits an elementwise loop over [0, n) into vector-aligned chunks across threads. */
    private static void elementwise(int n, Parallel.Range body) {
        Parallel.range(n, GRAIN, body);
    }

    @FunctionalInterface
    private interface Chunk {
        void run(int thread, int from, int to);
    }

    /** Like {@link Parallel#range(int, int, Parallel.Range)} but tells the body its thread (for per-thread scratch). */
    private static void chunks(int n, int grain, Chunk body) {
        int blocks = (n + grain - 1) / grain;
        int t = Math.max(1, Math.min(Parallel.threads(), blocks));
        if (t == 1) {
            body.run(0, 0, n);
            return;
        }
        Parallel.each(thread -> {
            if (thread >= t) return;
            int from = (int) ((long) blocks * thread / t) * grain;
            int to = Math.min(n, (int) ((long) blocks * (thread + 1) / t) * grain);
            body.run(thread, Math.min(from, n), to);
        });
    }

    private void ensurePartials(int width) {
        for (int i = 0; i < partials.length; i++) {
            if (partials[i] == null || partials[i].length < width) partials[i] = new float[width];
        }
    }

    /** dst[c] += Σ over the threads that had rows of partials[thread][from + c], for c &lt; width. */
    private void reducePartials(int n, float[] dst, int dOff, int from, int width) {
        int used = Math.max(1, Math.min(Parallel.threads(), n));
        Parallel.range(width, L, (c0, c1) -> {
            for (int t = 0; t < used; t++) accumulate(dst, dOff + c0, partials[t], from + c0, c1 - c0);
        });
    }

    // ---- validation ------------------------------------------------------------------------------------------

    private static CpuStorage storage(String op, Tensor t) {
        if (t == null) throw new IllegalArgumentException(op + ": missing tensor");
        if (!(t.storage instanceof CpuStorage s)) throw new IllegalArgumentException(op + ": " + t + " is not a CPU tensor");
        if (s.f32 == null && s.bf16 == null && s.i32 == null) throw new IllegalStateException(op + ": " + t + " used after close()");
        return s;
    }

    private static float[] f32(String op, Tensor t) {
        CpuStorage s = storage(op, t);
        if (s.dtype() != DType.F32) throw new IllegalArgumentException(op + ": expected an F32 tensor, got " + t);
        return s.f32;
    }

    private static int[] i32(String op, Tensor t) {
        CpuStorage s = storage(op, t);
        if (s.dtype() != DType.I32) throw new IllegalArgumentException(op + ": expected an I32 tensor, got " + t);
        return s.i32;
    }

    private static int off(Tensor t) { return (int) t.offset; }

    private static void checkLength(String op, Tensor t, int length) {
        if (t.size() != length) throw new IllegalArgumentException(op + ": array of " + length + " elements for " + t);
    }

    /** Same element count and row width: [B,T,C] and [N,C] views of one buffer are interchangeable. */
    private static void requireSame(String op, Tensor a, Tensor b) {
        if (a == null || a.size() != b.size() || a.dim(-1) != b.dim(-1)) {
            throw new IllegalArgumentException(op + ": shapes " + a + " and " + b + " must match");
        }
    }

    private static void requireShape(String op, String name, Tensor t, int... shape) {
        if (!Arrays.equals(t.shape(), shape)) {
            throw new IllegalArgumentException(op + ": " + name + " is " + t + ", expected " + Arrays.toString(shape));
        }
    }

    /** Checks the element count only: per-row statistics may be [N] or [B,T], vectors [C] or [1,C]. */
    private static void requireCount(String op, String name, Tensor t, long size) {
        if (t.size() != size) throw new IllegalArgumentException(op + ": " + name + " is " + t + ", expected " + size + " elements");
    }

    /** Checks element count and last dimension (so [B,T,C] and [N,C] both pass). */
    private static void requireSize(String op, String name, Tensor t, long size, int last) {
        if (t.size() != size || t.dim(-1) != last) {
            throw new IllegalArgumentException(op + ": " + name + " is " + t + ", expected " + size + " elements in rows of " + last);
        }
    }

    private static void checkTokens(String op, int[] tok, int off, int n, int vocab) {
        for (int i = 0; i < n; i++) {
            int id = tok[off + i];
            if (id < 0 || id >= vocab) throw new IllegalArgumentException(op + ": token " + id + " at " + i + " outside [0, " + vocab + ")");
        }
    }
}
