package dev.cramjet.engine.cuda;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Tensor;

import static dev.cramjet.engine.cuda.Checks.requireActivations;
import static dev.cramjet.engine.cuda.Checks.requireGradient;
import static dev.cramjet.engine.cuda.Checks.requireProbability;
import static dev.cramjet.engine.cuda.Checks.requireType;
import static dev.cramjet.engine.cuda.Checks.requireWeight;

/**
 * y = x·Wᵀ + b with its epilogue, and the backward. A bf16 weight is one cuBLASLt GEMM with bias, GELU (keeping
 * the pre-activation) or the residual add fused into its epilogue. A Q8_0 weight (frozen, inference):
 * <ul>
 * <li>up to {@link #GEMV_ROWS} rows of x (decoding) go to q8_gemv, which reads the int8 quants directly: the
 *     product is memory-bound there and the quants are half the bytes of a bf16 weight;</li>
 * <li>more rows (a prompt) expand W into a bf16 scratch once and take the bf16 route: the product is compute-bound,
 *     cuBLASLt's tensor cores are far faster than any int8-reading kernel on CUDA cores, and the expansion reads and
 *     writes W once, about 1/n of the GEMM's traffic. Each expanded weight is rounded to bf16, exactly as every bf16
 *     weight of this backend is. The scratch grows to the largest Q8_0 matrix (in bf16) and is reused.</li>
 * </ul>
 */
final class Matmuls {
    /** Most rows of x that the int8 GEMV takes (GEMV_ROWS in quant.cu). */
    static final int GEMV_ROWS = 8;

    private final Gpu gpu;
    private final Memory memory;
    private final Gpu.Scratch projection, expanded;
    private final Kernels.Kernel gelu, residualDropout, gemv;

    Matmuls(Gpu gpu, Memory memory) {
        this.gpu = gpu;
        this.memory = memory;
        projection = gpu.scratch("pre-dropout projection");
        expanded = gpu.scratch("expanded Q8_0 weight");
        gelu = gpu.k.kernel("elementwise", "gelu_forward");
        residualDropout = gpu.k.kernel("elementwise", "residual_dropout");
        gemv = gpu.k.kernel("quant", "q8_gemv");
    }

    /** y[n, oc] = x·Wᵀ + bias into the device buffer y, by whichever product the weight calls for. */
    @FunctionalInterface
    private interface Product {
        void into(long y);
    }

    void matmul(Tensor out, Tensor in, Tensor weight, Tensor bias, Epilogue epilogue) {
        String op = "matmul";
        int n = in.rows(), c = in.dim(-1), oc = weight.dim(0);
        requireActivations(op, out, in);
        requireWeight(op, weight);
        if (!(weight.rank() == 2 && weight.dim(1) == c && out.rows() == n && out.dim(-1) == oc)) {
            throw new IllegalArgumentException(op + ": out " + out + " = in " + in + " · weightᵀ " + weight + " (shapes disagree)");
        }
        if (bias != null) {
            requireType(op, bias, DType.BF16);
            if (bias.size() != oc) throw new IllegalArgumentException(op + ": bias " + bias + " for " + oc + " outputs");
        }
        long x = gpu.ptr(in), b = gpu.ptrOrNull(bias);
        try (var _ = gpu.prof.time("matmul")) {
            if (weight.dtype() == DType.Q8_0 && n <= GEMV_ROWS) {
                long w = gpu.ptr(weight);
                unfused(op, out, epilogue, n, oc, y -> gpu.k.begin(gemv).ptr(y).ptr(x).ptr(w).ptr(b).i32(n).i32(c).i32(oc)
                        .go(gpu.stream, (oc + 7) / 8, 256));
                return;
            }
            long w = gpu.ptr(weight);
            if (weight.dtype() == DType.Q8_0) {
                long bf16 = expanded.get(2L * oc * c);
                memory.dequantize(bf16, 1, w, (long) oc * c);
                w = bf16;
            }
            cublas(op, out, x, w, b, n, c, oc, epilogue);
        }
    }

    /** The bf16 route: the epilogue fused into cuBLASLt where it can be, else a GEMM and then a kernel. */
    private void cublas(String op, Tensor out, long x, long w, long b, int n, int c, int oc, Epilogue epilogue) {
        Product gemm = y -> linear(y, x, w, b, n, c, oc);
        switch (epilogue) {
            case Epilogue.Gelu(Tensor pre) when pre != null && oc % 8 == 0 -> {
                checkPre(op, pre, out);
                boolean fused = gpu.lt.gemm(gpu.stream, gpu.workspace, CublasLt.OP_T, CublasLt.OP_N, oc, n, c, w, c, x, c,
                        CublasLt.R_16BF, false, 0, gpu.ptr(out), oc, CublasLt.R_16BF,
                        b != 0 ? CublasLt.EPILOGUE_GELU_AUX_BIAS : CublasLt.EPILOGUE_GELU_AUX, b, gpu.ptr(pre));
                if (!fused) unfused(op, out, epilogue, n, oc, gemm);
            }
            case Epilogue.Residual(Tensor residual, float p, long seed) when p == 0 -> {
                checkResidual(op, residual, out);
                // out = residual + y as the GEMM's beta·C (C may be out itself)
                boolean ok = gpu.lt.gemm(gpu.stream, gpu.workspace, CublasLt.OP_T, CublasLt.OP_N, oc, n, c, w, c, x, c,
                        CublasLt.R_16BF, true, gpu.ptr(residual), gpu.ptr(out), oc, CublasLt.R_16BF,
                        b != 0 ? CublasLt.EPILOGUE_BIAS : CublasLt.EPILOGUE_DEFAULT, b, 0);
                if (!ok) throw noAlgorithm(op, n, c, oc);
            }
            default -> unfused(op, out, epilogue, n, oc, gemm);
        }
    }

    /**
     * The epilogue as its own pass after the product: GELU reads y from the pre-activation (or out itself), the
     * residual add with dropout reads the projection scratch.
     */
    private void unfused(String op, Tensor out, Epilogue epilogue, int n, int oc, Product product) {
        switch (epilogue) {
            case Epilogue.None() -> product.into(gpu.ptr(out));
            case Epilogue.Gelu(Tensor pre) -> {
                if (pre != null) checkPre(op, pre, out);
                long y = pre != null ? gpu.ptr(pre) : gpu.ptr(out);
                product.into(y);
                gpu.k.begin(gelu).ptr(gpu.ptr(out)).ptr(y).i64(out.size()).go(gpu.stream, gpu.grid8(out.size()), 256);
            }
            case Epilogue.Residual(Tensor residual, float p, long seed) -> {
                checkResidual(op, residual, out);
                requireProbability(op, p);
                long y = projection.get(2L * n * oc);
                product.into(y);
                gpu.k.begin(residualDropout).ptr(gpu.ptr(out)).ptr(gpu.ptr(residual)).ptr(y).i64(out.size()).f32(p).i64(seed)
                        .go(gpu.stream, gpu.grid8(out.size()), 256);
            }
        }
    }

    private static void checkPre(String op, Tensor pre, Tensor out) {
        requireType(op, pre, DType.BF16);
        if (pre.size() != out.size()) throw new IllegalArgumentException(op + ": gelu pre-activation " + pre + " for out " + out);
    }

    private static void checkResidual(String op, Tensor residual, Tensor out) {
        requireType(op, residual, DType.BF16);
        if (!residual.sameShape(out)) throw new IllegalArgumentException(op + ": residual " + residual + " for out " + out);
    }

    /** y[n, oc] = x[n, c]·wᵀ (+ bias), all bf16 row-major: in cuBLAS's column-major terms D(oc×n) = Wᵀ·X. */
    private void linear(long y, long x, long w, long bias, int n, int c, int oc) {
        boolean ok = gpu.lt.gemm(gpu.stream, gpu.workspace, CublasLt.OP_T, CublasLt.OP_N, oc, n, c, w, c, x, c,
                CublasLt.R_16BF, false, 0, y, oc, CublasLt.R_16BF, bias != 0 ? CublasLt.EPILOGUE_BIAS : CublasLt.EPILOGUE_DEFAULT,
                bias, 0);
        if (!ok) throw noAlgorithm("matmul", n, c, oc);
    }

    static CramjetException noAlgorithm(String op, int n, int c, int oc) {
        return new CramjetException(op + ": cuBLASLt has no algorithm for [" + n + "×" + c + "]·[" + oc + "×" + c
                + "]ᵀ (check that the tensors are 16-byte aligned views)");
    }

    /** din = dout·W (overwritten), dweight += doutᵀ·in, dbias += Σ_rows dout; each null one is skipped. */
    void matmulBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight) {
        String op = "matmulBackward";
        int n = in.rows(), c = in.dim(-1), oc = weight.dim(0);
        requireActivations(op, dout, in, weight);
        if (!(dout.rows() == n && dout.dim(-1) == oc && weight.dim(-1) == c)) {
            throw new IllegalArgumentException(op + ": dout " + dout + ", in " + in + ", weight " + weight + " (shapes disagree)");
        }
        try (var _ = gpu.prof.time("matmul")) {
            if (din != null) {
                requireType(op, din, DType.BF16);
                if (din.size() != in.size()) throw new IllegalArgumentException(op + ": din " + din + " for in " + in);
                // din[n, c] = dout[n, oc]·W[oc, c]: column-major D(c×n) = W(c×oc)·dout(oc×n).
                boolean ok = gpu.lt.gemm(gpu.stream, gpu.workspace, CublasLt.OP_N, CublasLt.OP_N, c, n, oc, gpu.ptr(weight), c,
                        gpu.ptr(dout), oc, CublasLt.R_16BF, false, 0, gpu.ptr(din), c, CublasLt.R_16BF,
                        CublasLt.EPILOGUE_DEFAULT, 0, 0);
                if (!ok) throw noAlgorithm(op, n, oc, c);
            }
            if (dweight != null) {
                requireGradient(op, "dweight", dweight, (long) oc * c);
                // dW[oc, c] += doutᵀ·in: column-major D(c×oc) += X(c×n)·doutᵀ(n×oc).
                int type = dweight.dtype() == DType.F32 ? CublasLt.R_32F : CublasLt.R_16BF;
                boolean ok = gpu.lt.gemm(gpu.stream, gpu.workspace, CublasLt.OP_N, CublasLt.OP_T, c, oc, n, gpu.ptr(in), c,
                        gpu.ptr(dout), oc, CublasLt.R_16BF, true, gpu.ptr(dweight), gpu.ptr(dweight), c, type,
                        CublasLt.EPILOGUE_DEFAULT, 0, 0);
                if (!ok) throw noAlgorithm(op, c, n, oc);
            }
            if (dbias != null) {
                requireGradient(op, "dbias", dbias, oc);
                gpu.columnSums(dbias, gpu.ptr(dout), n, oc);
            }
        }
    }

    /**
     * The measured bf16 GEMM ceiling: FLOP/s of a {@code size}³ cuBLASLt GEMM (bf16 in and out, fp32 compute), the
     * best of {@code reps} timed runs after a warm-up. Allocates three size² bf16 matrices for the duration.
     */
    double gemmCeilingFlops(int size, int reps) {
        Driver cu = gpu.cu;
        long bytes = 2L * size * size;
        long a = cu.malloc(bytes), b = cu.malloc(bytes), d = cu.malloc(bytes);
        long start = cu.createEvent(), end = cu.createEvent();
        try {
            cu.memset16(a, Bf16.round(0.01f), (long) size * size, gpu.stream);
            cu.memset16(b, Bf16.round(0.01f), (long) size * size, gpu.stream);
            double best = Double.MAX_VALUE;
            for (int r = -1; r < reps; r++) {
                cu.record(start, gpu.stream);
                boolean ok = gpu.lt.gemm(gpu.stream, gpu.workspace, CublasLt.OP_T, CublasLt.OP_N, size, size, size, a, size,
                        b, size, CublasLt.R_16BF, false, 0, d, size, CublasLt.R_16BF, CublasLt.EPILOGUE_DEFAULT, 0, 0);
                if (!ok) throw noAlgorithm("gemm ceiling", size, size, size);
                cu.record(end, gpu.stream);
                cu.eventSynchronize(end);
                if (r >= 0) best = Math.min(best, cu.elapsedMillis(start, end));
            }
            return 2.0 * size * size * (double) size / (best * 1e-3);
        } finally {
            cu.synchronize(gpu.stream);
            cu.free(a);
            cu.free(b);
            cu.free(d);
            cu.destroyEvent(start);
            cu.destroyEvent(end);
        }
    }
}
