package dev.cramjet.engine.cpu;

import dev.cramjet.engine.DType;
import dev.cramjet.engine.Tensor;

import java.util.Arrays;

import static dev.cramjet.engine.cpu.Checks.*;
import static dev.cramjet.engine.cpu.Loops.*;

/**
 * Ops that move whole rows: the embedding lookup and its scatter-add, and pooling runs of rows (gathering single
 * rows is its special case). Backward passes split columns over threads, so rows that land on the same row of the
 * gradient (a repeated token, a shared position) never race and the sums keep their order; each gradient row gets
 * its rows' sum in one addition.
 */
final class Rows {
    private Rows() {}

    static void embedding(Tensor out, Tensor tokens, Tensor wte, Tensor wpe, int posOffset) {
        String op = "embedding";
        int[] tok = i32(op, tokens);
        float[] o = f32(op, out), p = wpe == null ? null : f32(op, wpe);
        int t = tokens.dim(-1), n = (int) tokens.size(), c = wte.dim(-1), v = wte.dim(0);
        requireShape(op, "wte", wte, v, c);
        requireSize(op, "out", out, (long) n * c, c);
        if (wpe != null && (wpe.rank() != 2 || wpe.dim(1) != c || posOffset < 0 || posOffset + t > wpe.dim(0))) {
            throw new IllegalArgumentException(op + ": wpe " + wpe + " cannot cover positions [" + posOffset + ", "
                    + (posOffset + t) + ") of width " + c);
        }
        int tOff = off(tokens), oOff = off(out), eOff = off(wte), pOff = wpe == null ? 0 : off(wpe);
        checkTokens(op, tok, tOff, n, v);
        if (wte.dtype() == DType.Q8_0) {
            CpuStorage e = q8(op, wte);
            rows(n, c, (from, to) -> {
                for (int r = from; r < to; r++) {
                    int dst = oOff + r * c;
                    Q8.dequantize(e.q8, e.q8Scale, eOff + tok[tOff + r] * c, c, o, dst);
                    if (p != null) accumulate(o, dst, p, pOff + (posOffset + r % t) * c, c);
                }
            });
            return;
        }
        float[] e = f32(op, wte);
        rows(n, c, (from, to) -> {
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

    static void embeddingBackward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens) {
        String op = "embeddingBackward";
        if (dwte == null && dwpe == null) return;
        int[] tok = i32(op, tokens);
        float[] dE = dwte == null ? null : f32(op, dwte), dP = dwpe == null ? null : f32(op, dwpe), g = f32(op, dout);
        int t = tokens.dim(-1), n = (int) tokens.size(), c = dout.dim(-1);
        requireSize(op, "dout", dout, (long) n * c, c);
        if (dwte != null && dwte.dim(-1) != c) throw new IllegalArgumentException(op + ": dwte " + dwte + " is not " + c + " wide");
        if (dwpe != null && (dwpe.rank() != 2 || dwpe.dim(1) != c || dwpe.dim(0) < t)) {
            throw new IllegalArgumentException(op + ": dwpe " + dwpe + " cannot hold " + t + " positions of width " + c);
        }
        int tOff = off(tokens), eOff = dwte == null ? 0 : off(dwte), pOff = dwpe == null ? 0 : off(dwpe), gOff = off(dout);
        if (dwte != null) checkTokens(op, tok, tOff, n, dwte.dim(0));
        int[] rows = dwte == null ? null : GROUPS.get().byToken(tok, tOff, n, dwte.dim(0));
        // Each row of dwte (dwpe) gets the sum of its token's (position's) rows of dout in row order, added once.
        Parallel.range(c, L, (c0, c1) -> {
            if (dE != null) {
                for (int k = 0; k < n; ) {
                    int id = tok[tOff + rows[k]], end = k + 1;
                    while (end < n && tok[tOff + rows[end]] == id) end++;
                    addRowSum(dE, eOff + id * c + c0, g, gOff + c0, c, rows, k, end, c1 - c0);
                    k = end;
                }
            }
            if (dP != null) {
                for (int p = 0; p < t; p++) addRowSum(dP, pOff + p * c + c0, g, gOff + p * c + c0, t * c, null, 0, n / t, c1 - c0);
            }
        });
    }

    /** Per-thread scratch of the embedding backward pass: the rows grouped by token. */
    private static final ThreadLocal<Groups> GROUPS = ThreadLocal.withInitial(Groups::new);

    private static final class Groups {
        private int[] counts = new int[0], order = new int[0];

        /** The rows [0, n) sorted by token, stably (a counting sort): each token's rows are adjacent, in row order. */
        int[] byToken(int[] tok, int tOff, int n, int vocab) {
            if (counts.length < vocab + 1) counts = new int[vocab + 1];
            if (order.length < n) order = new int[n];
            Arrays.fill(counts, 0, vocab + 1, 0);
            for (int r = 0; r < n; r++) counts[tok[tOff + r] + 1]++;
            for (int i = 0; i < vocab; i++) counts[i + 1] += counts[i];
            for (int r = 0; r < n; r++) order[counts[tok[tOff + r]]++] = r;
            return order;
        }
    }

    /** Validates segments [S,2] against n rows; returns their host array offset. */
    private static int segments(String op, Tensor segments, int[] seg, int s, int n) {
        if (segments.rank() != 2 || segments.dim(1) != 2 || segments.dim(0) != s) {
            throw new IllegalArgumentException(op + ": segments " + segments + " is not [" + s + ", 2]");
        }
        int so = off(segments);
        for (int i = 0; i < s; i++) {
            int first = seg[so + 2 * i], count = seg[so + 2 * i + 1];
            if (count < 1 || first < 0 || (long) first + count > n) {
                throw new IllegalArgumentException(op + ": segment " + i + " = rows [" + first + ", " + ((long) first + count)
                        + ") is empty or outside [0, " + n + ")");
            }
        }
        return so;
    }

    static void pool(Tensor out, Tensor in, Tensor segments) {
        String op = "pool";
        int c = in.dim(-1), n = in.rows(), s = out.rows();
        float[] x = f32(op, in), y = f32(op, out);
        int[] seg = i32(op, segments);
        requireSize(op, "out", out, (long) s * c, c);
        int so = segments(op, segments, seg, s, n), xo = off(in), yo = off(out);
        Parallel.range(s, (from, to) -> {
            for (int i = from; i < to; i++) {
                int first = seg[so + 2 * i], count = seg[so + 2 * i + 1], yi = yo + i * c;
                System.arraycopy(x, xo + first * c, y, yi, c);
                for (int r = 1; r < count; r++) accumulate(y, yi, x, xo + (first + r) * c, c);
                if (count > 1) scaleSpan(y, yi, c, 1f / count);
            }
        });
    }

    static void poolBackward(Tensor din, Tensor dout, Tensor segments) {
        String op = "poolBackward";
        int c = din.dim(-1), n = din.rows(), s = dout.rows();
        float[] dx = f32(op, din), g = f32(op, dout);
        int[] seg = i32(op, segments);
        requireSize(op, "dout", dout, (long) s * c, c);
        int so = segments(op, segments, seg, s, n), dxo = off(din), go = off(dout);
        Parallel.range(c, L, (c0, c1) -> {
            for (int r = 0; r < n; r++) Arrays.fill(dx, dxo + r * c + c0, dxo + r * c + c1, 0f);
            for (int i = 0; i < s; i++) {
                int first = seg[so + 2 * i], count = seg[so + 2 * i + 1];
                float f = 1f / count;
                for (int r = 0; r < count; r++) {
                    int di = dxo + (first + r) * c;
                    for (int j = c0; j < c1; j++) dx[di + j] += g[go + i * c + j] * f;
                }
            }
        });
    }

    private static void scaleSpan(float[] x, int off, int n, float f) {
        for (int i = 0; i < n; i++) x[off + i] *= f;
    }
}
