package dev.cramjet.engine.cuda;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Mask;
import dev.cramjet.engine.Tensor;

import static dev.cramjet.engine.cuda.Checks.requireActivations;
import static dev.cramjet.engine.cuda.Checks.requireType;

/**
 * Rotary position embedding (rope.cu) and flash attention (attention.cu), causal or bidirectional, over sequences
 * of per-sequence valid lengths: the mask's lengths stay on the device, and the kernels skip keys past them, give
 * padded queries zero rows and padded positions zero gradients. Training and prompts run on the tensor cores
 * (head sizes that are multiples of 16); decoding from a KV cache runs one thread per query. The attention module
 * is compiled once per head size, so per-thread rows live in registers.
 */
final class Attention {
    /** Query (or key) rows per block: ROWS in attention.cu. */
    private static final int ROWS = 64;
    /** Threads of a tensor-core attention block: TC_THREADS in attention.cu (four warps of 16 rows). */
    private static final int TC_THREADS = 128;

    private final Gpu gpu;
    private final Kernels.Kernel rope;
    private final Gpu.Scratch rowDots;
    private final HeadKernels[] heads = new HeadKernels[17];

    Attention(Gpu gpu) {
        this.gpu = gpu;
        rope = gpu.k.kernel("rope", "rope");
        rowDots = gpu.scratch("attention D");
    }

    void rope(Tensor qkv, int heads, float theta, int posOffset) { rotate("rope", qkv, heads, theta, posOffset, 1f); }

    void ropeBackward(Tensor dqkv, int heads, float theta) { rotate("ropeBackward", dqkv, heads, theta, 0, -1f); }

    private void rotate(String op, Tensor qkv, int heads, float theta, int posOffset, float direction) {
        requireType(op, qkv, DType.BF16);
        int c = qkv.dim(-1) / 3, t = qkv.dim(-2);
        if (!(qkv.dim(-1) == 3 * c && heads > 0 && c % heads == 0 && (c / heads) % 2 == 0)) {
            throw new IllegalArgumentException(op + ": qkv " + qkv + " with " + heads + " heads needs an even head size");
        }
        long rows = qkv.rows();
        try (var _ = gpu.prof.time("elementwise")) {
            gpu.k.begin(rope).ptr(gpu.ptr(qkv)).i64(rows).i32(t).i32(c).i32(heads).f32(theta).i32(posOffset).f32(direction)
                    .go(gpu.stream, gpu.grid1(rows * c), 256);
        }
    }

    /** The attention kernels compiled for one head size (the module is built with -DHEAD_SIZE=hs). */
    private record HeadKernels(Kernels.Kernel forward, Kernels.Kernel dot, Kernels.Kernel keysValues,
                               Kernels.Kernel queries, Kernels.Kernel decode, Kernels.Kernel cacheWrite) {}

    /**
     * The kernels for head size c/heads, after checking it is one they support: a multiple of 16 up to 128 for
     * the tensor cores ({@code decoding} false), a multiple of 8 up to 128 for decoding from a KV cache.
     */
    private HeadKernels kernels(String op, int c, int heads, boolean decoding) {
        int hs = heads > 0 ? c / heads : 0, multiple = decoding ? 8 : 16;
        if (heads <= 0 || c % heads != 0 || hs % multiple != 0 || hs == 0 || hs > 128) {
            throw new CramjetException(op + ": head size " + c + "/" + heads + " = " + (c / (double) heads)
                    + " is not supported by the CUDA attention kernels (a multiple of " + multiple + ", at most 128)");
        }
        HeadKernels a = this.heads[hs / 8];
        if (a == null) {
            String define = "HEAD_SIZE=" + hs;
            a = new HeadKernels(gpu.k.kernel("attention", "attention_forward_tc", define),
                    gpu.k.kernel("attention", "attention_backward_dot", define),
                    gpu.k.kernel("attention", "attention_backward_kv_tc", define),
                    gpu.k.kernel("attention", "attention_backward_q_tc", define),
                    gpu.k.kernel("attention", "attention_decode", define),
                    gpu.k.kernel("attention", "kv_cache_write", define));
            this.heads[hs / 8] = a;
        }
        return a;
    }

    /** The device address of the mask's lengths (I32 [B]), or 0 when every sequence is whole. */
    private long lengths(String op, Mask mask, int b) {
        Tensor len = mask.lengths();
        if (len == null) return 0;
        if (len.size() != b) throw new IllegalArgumentException(op + ": mask lengths " + len + " for a batch of " + b);
        return gpu.ptr(len);
    }

    void attention(Tensor out, Tensor lse, Tensor qkv, int heads, Mask mask) {
        String op = "attention";
        requireActivations(op, out, qkv);
        requireType(op, lse, DType.F32);
        int b = qkv.dim(0), t = qkv.dim(1), c = qkv.dim(2) / 3;
        if (!(qkv.rank() == 3 && out.size() == (long) b * t * c && lse.size() == (long) b * heads * t)) {
            throw new IllegalArgumentException(op + ": out " + out + ", lse " + lse + " for qkv " + qkv + " and " + heads + " heads");
        }
        HeadKernels hk = kernels(op, c, heads, false);
        long len = lengths(op, mask, b);
        try (var _ = gpu.prof.time("attention")) {
            gpu.k.begin(hk.forward()).ptr(gpu.ptr(out)).ptr(gpu.ptr(lse)).ptr(gpu.ptr(qkv)).ptr(len).i32(mask.causal() ? 1 : 0)
                    .i32(t).i32(c).i32(heads).ptr(gpu.errorFlag).go(gpu.stream, (t + ROWS - 1) / ROWS, b * heads, TC_THREADS, 1, 0);
        }
    }

    void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor lse, int heads, Mask mask) {
        String op = "attentionBackward";
        requireActivations(op, dqkv, dout, qkv, out);
        requireType(op, lse, DType.F32);
        int b = qkv.dim(0), t = qkv.dim(1), c = qkv.dim(2) / 3;
        if (!(dqkv.size() == qkv.size() && dout.size() == (long) b * t * c && out.size() == dout.size()
                && lse.size() == (long) b * heads * t)) {
            throw new IllegalArgumentException(op + ": dqkv " + dqkv + ", dout " + dout + ", out " + out + ", lse " + lse
                    + " for qkv " + qkv);
        }
        HeadKernels hk = kernels(op, c, heads, false);
        long rows = (long) b * t * heads, len = lengths(op, mask, b);
        int causal = mask.causal() ? 1 : 0;
        try (var _ = gpu.prof.time("attention")) {
            long d = rowDots.get(4L * rows);
            gpu.k.begin(hk.dot()).ptr(d).ptr(gpu.ptr(dout)).ptr(gpu.ptr(out)).i32(b).i32(t).i32(c).i32(heads)
                    .go(gpu.stream, (int) ((rows + 7) / 8), 256);
            for (Kernels.Kernel pass : new Kernels.Kernel[] {hk.keysValues(), hk.queries()}) {
                gpu.k.begin(pass).ptr(gpu.ptr(dqkv)).ptr(gpu.ptr(qkv)).ptr(gpu.ptr(dout)).ptr(gpu.ptr(lse)).ptr(d).ptr(len)
                        .i32(causal).i32(t).i32(c).i32(heads).ptr(gpu.errorFlag)
                        .go(gpu.stream, (t + ROWS - 1) / ROWS, b * heads, TC_THREADS, 1, 0);
            }
        }
    }

    void attentionCached(Tensor out, Tensor qkv, Tensor kCache, Tensor vCache, int pos, int heads) {
        String op = "attentionCached";
        requireActivations(op, out, qkv, kCache, vCache);
        int b = qkv.dim(0), tn = qkv.dim(1), c = qkv.dim(2) / 3, tmax = kCache.dim(1);
        if (!(kCache.sameShape(vCache) && kCache.dim(0) == b && kCache.dim(2) == c && pos >= 0 && pos + tn <= tmax)) {
            throw new IllegalArgumentException(op + ": caches " + kCache + " cannot take positions [" + pos + ", "
                    + (pos + tn) + ") of qkv " + qkv);
        }
        if (out.size() != (long) b * tn * c) throw new IllegalArgumentException(op + ": out " + out + " for qkv " + qkv);
        HeadKernels hk = kernels(op, c, heads, true);
        long q = gpu.ptr(qkv), stride = 3L * c;
        try (var _ = gpu.prof.time("attention")) {
            gpu.k.begin(hk.cacheWrite()).ptr(gpu.ptr(kCache)).ptr(gpu.ptr(vCache)).ptr(q).i32(b).i32(tn).i32(tmax).i32(c)
                    .i32(pos).go(gpu.stream, gpu.grid1((long) b * tn * c), 256);
            // Causal over the cache: query i at position pos + i sees cache positions [0, pos + i].
            gpu.k.begin(hk.decode()).ptr(gpu.ptr(out)).ptr(0).ptr(q).ptr(gpu.ptr(kCache)).ptr(gpu.ptr(vCache)).ptr(0)
                    .i32(1).i32(tn).i32(pos + tn).i64(stride).i64(tn * stride).i64(c).i64((long) tmax * c).i32(c).i32(heads)
                    .i32(pos).ptr(gpu.errorFlag).go(gpu.stream, (tn + ROWS - 1) / ROWS, b * heads, ROWS, 1, 0);
        }
    }
}
