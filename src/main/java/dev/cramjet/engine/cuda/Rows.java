package dev.cramjet.engine.cuda;

import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;

import static dev.cramjet.engine.cuda.Checks.requireActivations;
import static dev.cramjet.engine.cuda.Checks.requireType;
import static dev.cramjet.engine.cuda.Checks.type;

/**
 * Ops that move whole rows (rows.cu): the embedding lookup from a bf16 or Q8_0 table and its scatter-add, and
 * pooling runs of rows. Token ids and segments live on the device, so their range is checked by the kernels and
 * reported at the next synchronising call.
 */
final class Rows {
    private final Gpu gpu;
    private final Kernels.Kernel forwardBf16, forwardQ8, poolForward, poolBackward;
    private final Kernels.Kernel[] backward;

    Rows(Gpu gpu) {
        this.gpu = gpu;
        forwardBf16 = gpu.k.kernel("rows", "embedding_forward_bf16");
        forwardQ8 = gpu.k.kernel("rows", "embedding_forward_q8");
        backward = gpu.perType("rows", "embedding_backward_");
        poolForward = gpu.k.kernel("rows", "pool_forward");
        poolBackward = gpu.k.kernel("rows", "pool_backward");
    }

    void embedding(Tensor out, Tensor tokens, Tensor wte, Tensor wpe, int posOffset) {
        String op = "embedding";
        int n = (int) tokens.size(), t = tokens.dim(-1), c = wte.dim(-1), v = wte.dim(0);
        requireType(op, tokens, DType.I32);
        requireType(op, out, DType.BF16);
        if (wte.dtype() != DType.BF16 && wte.dtype() != DType.Q8_0) {
            throw new IllegalArgumentException(op + ": wte " + wte + " must be BF16 or Q8_0 on the CUDA backend");
        }
        if (wte.rank() != 2 || out.size() != (long) n * c || out.dim(-1) != c) {
            throw new IllegalArgumentException(op + ": out " + out + " for tokens " + tokens + " and wte " + wte);
        }
        if (wpe != null) {
            requireType(op, wpe, DType.BF16);
            if (!(wpe.dim(-1) == c && posOffset >= 0 && posOffset + t <= wpe.dim(0))) {
                throw new IllegalArgumentException(op + ": positions [" + posOffset + ", " + (posOffset + t)
                        + ") outside wpe " + wpe);
            }
        }
        try (var _ = gpu.prof.time("embedding")) {
            gpu.k.begin(wte.dtype() == DType.Q8_0 ? forwardQ8 : forwardBf16).ptr(gpu.ptr(out)).ptr(gpu.ptr(tokens))
                    .ptr(gpu.ptr(wte)).ptr(gpu.ptrOrNull(wpe)).i32(t).i32(c).i32(v).i32(posOffset).ptr(gpu.errorFlag)
                    .go(gpu.stream, n, Gpu.rowThreads(c, 8));
        }
    }

    void embeddingBackward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens) {
        String op = "embeddingBackward";
        if (dwte == null && dwpe == null) return;  // both tables frozen
        requireType(op, tokens, DType.I32);
        requireType(op, dout, DType.BF16);
        int n = (int) tokens.size(), t = tokens.dim(-1), b = n / t, c = dout.dim(-1);
        if (dout.size() != (long) n * c) {
            throw new IllegalArgumentException(op + ": dout " + dout + " for tokens " + tokens);
        }
        try (var _ = gpu.prof.time("embedding")) {
            if (dwte != null) {
                if (dwte.rank() != 2 || dwte.dim(1) != c) {
                    throw new IllegalArgumentException(op + ": dwte " + dwte + " is not [V, " + c + "]");
                }
                gpu.k.begin(backward[type(op, dwte)]).ptr(gpu.ptr(dwte)).ptr(gpu.ptr(dout)).ptr(gpu.ptr(tokens))
                        .i32(c).i32(dwte.dim(0)).go(gpu.stream, n, Gpu.rowThreads(c, 1));
            }
            if (dwpe != null) {
                if (!(dwpe.dim(-1) == c && dwpe.dim(0) >= t)) {
                    throw new IllegalArgumentException(op + ": dwpe " + dwpe + " cannot hold " + t + " positions of width " + c);
                }
                gpu.columnSums(dwpe, gpu.ptr(dout), b, t * c);  // dwpe[t] += Σ_b dout[b, t]
            }
        }
    }

    void pool(Tensor out, Tensor in, Tensor segments) {
        int c = checkPool("pool", in, out, segments);
        try (var _ = gpu.prof.time("embedding")) {
            gpu.k.begin(poolForward).ptr(gpu.ptr(out)).ptr(gpu.ptr(in)).ptr(gpu.ptr(segments)).i32(in.rows()).i32(c)
                    .ptr(gpu.errorFlag).go(gpu.stream, out.rows(), Gpu.rowThreads(c, 8));
        }
    }

    void poolBackward(Tensor din, Tensor dout, Tensor segments) {
        int c = checkPool("poolBackward", din, dout, segments);
        try (var _ = gpu.prof.time("embedding")) {
            gpu.cu.memset8(gpu.ptr(din), (byte) 0, din.bytes(), gpu.stream);  // rows in no segment get 0
            gpu.k.begin(poolBackward).ptr(gpu.ptr(din)).ptr(gpu.ptr(dout)).ptr(gpu.ptr(segments)).i32(din.rows()).i32(c)
                    .ptr(gpu.errorFlag).go(gpu.stream, dout.rows(), Gpu.rowThreads(c, 1));
        }
    }

    /**
     * Checks rows [N,C] and pooled [S,C] (BF16) and segments I32 [S,2]; returns C. Whether each segment lies inside
     * the rows is checked on the device.
     */
    private static int checkPool(String op, Tensor rows, Tensor pooled, Tensor segments) {
        requireActivations(op, rows, pooled);
        requireType(op, segments, DType.I32);
        int c = rows.dim(-1), s = pooled.rows();
        if (segments.rank() != 2 || segments.dim(1) != 2 || segments.dim(0) != s) {
            throw new IllegalArgumentException(op + ": segments " + segments + " is not [" + s + ", 2]");
        }
        if (pooled.dim(-1) != c) throw new IllegalArgumentException(op + ": " + pooled + " is not " + c + " wide like " + rows);
        return c;
    }
}
