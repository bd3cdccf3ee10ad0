package dev.cramjet.engine.cpu;

import dev.cramjet.CramjetException;

import dev.cramjet.engine.AdamW;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.DecodeStep;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Glu;
import dev.cramjet.engine.Mask;
import dev.cramjet.engine.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static dev.cramjet.engine.cpu.Checks.*;
import static dev.cramjet.engine.cpu.Loops.GRAIN;

/**
 * The fp32 reference backend: every op over Java arrays, split over all cores with {@link Parallel}, inner loops on
 * the Vector API (the preferred species: 16 floats with AVX-512) with masked tails, so any size works. This class
 * owns memory and hands each op to its family — {@link Rows}, {@link Norms}, {@link Matmuls} ({@link Gemm},
 * {@link Q8}), {@link Activations}, {@link Attention} ({@link FlashAttention}), {@link Losses}, {@link Optim}. Scratch
 * buffers (per-thread partial sums, attention tiles, the pre-dropout projection) grow on first use and are reused
 * afterwards, so a training step allocates nothing. Not thread-safe: one op at a time.
 */
public final class CpuBackend implements Backend {
    private final List<CpuStorage> storages = new ArrayList<>();
    private long allocated;
    private final Norms norms = new Norms();
    private final Matmuls matmuls = new Matmuls();
    private final Attention attention = new Attention();
    private final Optim optim = new Optim();
    /** The measured fp32 ceiling, once per process (it takes about a second). */
    private static volatile double peak = Double.NaN;

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
        return model + ", " + Parallel.threads() + " threads, " + Loops.S.vectorBitSize() + "-bit vectors (" + Loops.L
                + " floats), int8 kernel " + Q8Native.STATUS + ", few-row fp32 kernel " + F32Native.STATUS;
    }

    @Override
    public DType computeType() { return DType.F32; }

    @Override
    public double peakFlops() {
        if (Double.isNaN(peak)) peak = CpuPeak.fmaPeakGflops() * 1e9;
        return peak;
    }

    // ---- memory ----------------------------------------------------------------------------------------------

    @Override
    public Tensor alloc(DType dtype, int... shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) throw new IllegalArgumentException("alloc: negative dimension in " + Arrays.toString(shape));
            n *= d;
        }
        if (n > Integer.MAX_VALUE - 16) {
            // Reached by a configuration too big for this backend (a model's parameters live in one buffer), so it
            // is the user's to change: one clear line, not a trace.
            throw new CramjetException(String.format(java.util.Locale.ROOT,
                    "the CPU backend holds at most %,d elements in one buffer, and this needs %,d (shape %s): "
                    + "choose a smaller model, batch or context", Integer.MAX_VALUE - 16, n, Arrays.toString(shape)));
        }
        if (dtype == DType.Q8_0 && (shape.length == 0 || shape[shape.length - 1] % Q8.BLOCK != 0)) {
            throw new IllegalArgumentException("alloc: a Q8_0 tensor's rows must be whole blocks of 32, got " + Arrays.toString(shape));
        }
        CpuStorage s = new CpuStorage(dtype, (int) n);
        storages.add(s);
        allocated += dtype.bytes(n);
        return new Tensor(s, 0, shape);
    }

    @Override
    public void upload(Tensor dst, float[] src) {
        written(dst);
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
            case Q8_0 -> {
                CpuStorage s = q8("upload", dst);
                Parallel.range(src.length, GRAIN, (from, to) -> Q8.quantize(src, from, s.q8, s.q8Scale, o + from, to - from));
            }
            case I32 -> throw new IllegalArgumentException("upload: float[] into I32 tensor " + dst);
        }
    }

    @Override
    public void upload(Tensor dst, int[] src) {
        written(dst);
        checkLength("upload", dst, src.length);
        System.arraycopy(src, 0, i32("upload", dst), off(dst), src.length);
    }

    @Override
    public void upload(Tensor dst, byte[] blocks) {
        written(dst);
        CpuStorage s = q8("upload", dst);
        if (blocks.length != dst.bytes()) throw new IllegalArgumentException("upload: " + blocks.length + " bytes for " + dst + " (" + dst.bytes() + " bytes)");
        Q8.fromBlocks(blocks, s.q8, s.q8Scale, off(dst), (int) dst.size());
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
            case Q8_0 -> {
                CpuStorage s = q8("download", src);
                Q8.dequantize(s.q8, s.q8Scale, o, dst.length, dst, 0);
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
    public void download(Tensor src, byte[] blocks) {
        CpuStorage s = q8("download", src);
        if (blocks.length != src.bytes()) throw new IllegalArgumentException("download: " + blocks.length + " bytes for " + src + " (" + src.bytes() + " bytes)");
        Q8.toBlocks(s.q8, s.q8Scale, off(src), (int) src.size(), blocks);
    }

    @Override
    public void zero(Tensor t) { fill(t, 0f); }

    @Override
    public void fill(Tensor t, float value) {
        written(t);
        CpuStorage s = storage("fill", t);
        int o = off(t), n = (int) t.size();
        switch (t.dtype()) {
            case F32 -> Arrays.fill(s.f32, o, o + n, value);
            case BF16 -> Arrays.fill(s.bf16, o, o + n, CpuStorage.toBf16(value));
            case I32 -> {
                if (value != (int) value) throw new IllegalArgumentException("fill: " + value + " into I32 tensor " + t);
                Arrays.fill(s.i32, o, o + n, (int) value);
            }
            case Q8_0 -> {
                float[] block = new float[Q8.BLOCK];
                Arrays.fill(block, value);
                for (int b = 0; b < n; b += Q8.BLOCK) Q8.quantize(block, 0, s.q8, s.q8Scale, o + b, Q8.BLOCK);
            }
        }
    }

    @Override
    public void copy(Tensor dst, Tensor src) {
        written(dst);
        if (dst.size() != src.size()) throw new IllegalArgumentException("copy: " + src + " into " + dst + " (sizes differ)");
        CpuStorage d = storage("copy", dst), s = storage("copy", src);
        int dOff = off(dst), sOff = off(src), n = (int) dst.size();
        DType from = src.dtype(), to = dst.dtype();
        if (from == DType.Q8_0 || to == DType.Q8_0) {
            copyQ8(dst, src);
        } else if (from == to) {
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

    /** Copies into or out of Q8_0 (set-up work: quantizing or expanding weights) through fp32, or block for block. */
    private void copyQ8(Tensor dst, Tensor src) {
        int n = (int) dst.size();
        if (src.dtype() == DType.I32 || dst.dtype() == DType.I32) {
            throw new IllegalArgumentException("copy: cannot convert " + src + " to " + dst);
        }
        if (src.dtype() == DType.Q8_0 && dst.dtype() == DType.Q8_0) {
            CpuStorage s = q8("copy", src), d = q8("copy", dst);
            System.arraycopy(s.q8, off(src), d.q8, off(dst), n);
            System.arraycopy(s.q8Scale, off(src) / Q8.BLOCK, d.q8Scale, off(dst) / Q8.BLOCK, n / Q8.BLOCK);
            return;
        }
        float[] x = new float[n];
        download(src, x);
        upload(dst, x);
    }

    @Override
    public void synchronize() {}

    @Override
    public long allocatedBytes() {
        long packed = 0;
        for (CpuStorage s : storages) packed += s.packedBytes();
        return allocated + packed;
    }

    @Override
    public void close() {
        for (CpuStorage s : storages) s.release();
        storages.clear();
        allocated = 0;
    }

    /**
     * Called by every op, before it runs, for each tensor it writes (null: none): its storage drops the packed weights
     * and cache panels it keeps ({@link CpuStorage#written}), so no op reads a copy older than what it copies.
     */
    private static void written(Tensor t) {
        if (t != null && t.storage instanceof CpuStorage s) s.written();
    }

    // ---- ops, by family ---------------------------------------------------------------------------------------

    @Override
    public void embedding(Tensor out, Tensor tokens, Tensor wte, Tensor wpe, int posOffset) {
        written(out);
        Rows.embedding(out, tokens, wte, wpe, posOffset);
    }

    @Override
    public void embeddingBackward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens) {
        written(dwte); written(dwpe);
        Rows.embeddingBackward(dwte, dwpe, dout, tokens);
    }

    @Override
    public void layerNorm(Tensor out, Tensor mean, Tensor rstd, Tensor in, Tensor weight, Tensor bias, float eps) {
        written(out); written(mean); written(rstd);
        norms.layerNorm(out, mean, rstd, in, weight, bias, eps);
    }

    @Override
    public void layerNormBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight,
                                  Tensor mean, Tensor rstd) {
        written(din); written(dweight); written(dbias);
        norms.layerNormBackward(din, dweight, dbias, dout, in, weight, mean, rstd);
    }

    @Override
    public void rmsNorm(Tensor out, Tensor rstd, Tensor in, Tensor weight, float eps) {
        written(out); written(rstd);
        norms.rmsNorm(out, rstd, in, weight, eps);
    }

    @Override
    public void rmsNormBackward(Tensor din, Tensor dweight, Tensor dout, Tensor in, Tensor weight, Tensor rstd) {
        written(din); written(dweight);
        norms.rmsNormBackward(din, dweight, dout, in, weight, rstd);
    }

    @Override
    public void matmul(Tensor out, Tensor in, Tensor weight, Tensor bias, Epilogue epilogue) {
        written(out);
        if (epilogue instanceof Epilogue.Gelu(Tensor pre)) written(pre);
        matmuls.matmul(out, in, weight, bias, epilogue);
    }

    @Override
    public void matmulBackward(Tensor din, Tensor dweight, Tensor dbias, Tensor dout, Tensor in, Tensor weight) {
        written(din); written(dweight); written(dbias);
        matmuls.matmulBackward(din, dweight, dbias, dout, in, weight);
    }

    @Override
    public void gelu(Tensor out, Tensor in) {
        written(out);
        Activations.gelu(out, in);
    }

    @Override
    public void geluBackward(Tensor din, Tensor pre, Tensor dout) {
        written(din);
        Activations.geluBackward(din, pre, dout);
    }

    @Override
    public void glu(Tensor out, Tensor in, Glu kind) {
        written(out);
        Activations.glu(out, in, kind);
    }

    @Override
    public void gluBackward(Tensor din, Tensor dout, Tensor in, Glu kind) {
        written(din);
        Activations.gluBackward(din, dout, in, kind);
    }

    @Override
    public void add(Tensor out, Tensor a, Tensor b) {
        written(out);
        Activations.add(out, a, b);
    }

    @Override
    public void scale(Tensor t, float s) {
        written(t);
        Activations.scale(t, s);
    }

    @Override
    public void rope(Tensor qkv, int heads, float theta, int posOffset) {
        written(qkv);
        attention.rope(qkv, heads, theta, posOffset);
    }

    @Override
    public void ropeBackward(Tensor dqkv, int heads, float theta) {
        written(dqkv);
        attention.ropeBackward(dqkv, heads, theta);
    }

    @Override
    public void attention(Tensor out, Tensor lse, Tensor qkv, int heads, Mask mask) {
        written(out); written(lse);
        attention.attention(out, lse, qkv, heads, mask);
    }

    @Override
    public void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor lse, int heads, Mask mask) {
        written(dqkv);
        attention.attentionBackward(dqkv, dout, qkv, out, lse, heads, mask);
    }

    @Override
    public void attentionCached(Tensor out, Tensor qkv, Tensor kCache, Tensor vCache, int pos, int heads) {
        cachesWritten(out, kCache, vCache);
        attention.attentionCached(out, qkv, kCache, vCache, pos, heads);
    }

    @Override
    public void attentionCached(Tensor out, Tensor qkv, Tensor kCache, Tensor vCache, DecodeStep step, int heads) {
        cachesWritten(out, kCache, vCache);
        attention.attentionCached(out, qkv, kCache, vCache, step, heads);
    }

    /** attentionCached writes out and the caches, and keeps the caches' panels current itself. */
    private static void cachesWritten(Tensor out, Tensor kCache, Tensor vCache) {
        written(out);
        if (kCache.storage instanceof CpuStorage s) s.cacheWritten();
        if (vCache.storage instanceof CpuStorage s) s.cacheWritten();
    }

    @Override
    public void dropout(Tensor out, Tensor in, float p, long seed) {
        written(out);
        Activations.dropout("dropout", out, in, p, seed);
    }

    @Override
    public void dropoutBackward(Tensor din, Tensor dout, float p, long seed) {
        written(din);
        Activations.dropout("dropoutBackward", din, dout, p, seed);
    }

    @Override
    public void pool(Tensor out, Tensor in, Tensor segments) {
        written(out);
        Rows.pool(out, in, segments);
    }

    @Override
    public void poolBackward(Tensor din, Tensor dout, Tensor segments) {
        written(din);
        Rows.poolBackward(din, dout, segments);
    }

    @Override
    public void crossEntropy(Tensor losses, Tensor logits, Tensor targets, int vocab, float gradScale) {
        written(losses); written(logits);
        Losses.crossEntropy(losses, logits, targets, vocab, gradScale);
    }

    @Override
    public void klDivergence(Tensor losses, Tensor student, Tensor teacher, int vocab, float temperature, float gradScale) {
        written(losses); written(student);
        Losses.klDivergence(losses, student, teacher, vocab, temperature, gradScale);
    }

    @Override
    public void cosineLoss(Tensor losses, Tensor da, Tensor a, Tensor b, float gradScale) {
        written(losses); written(da);
        Losses.cosineLoss(losses, da, a, b, gradScale);
    }

    @Override
    public void globalNorm(Tensor out, Tensor x) {
        written(out);
        optim.globalNorm(out, x);
    }

    @Override
    public void adamW(Tensor params, Tensor grads, Tensor m, Tensor v, Tensor master, Tensor gradNorm, AdamW hp) {
        written(params); written(grads); written(m); written(v); written(master);
        optim.adamW(params, grads, m, v, master, gradNorm, hp);
    }
}
