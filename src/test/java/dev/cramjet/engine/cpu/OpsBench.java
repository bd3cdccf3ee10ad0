package dev.cramjet.engine.cpu;

import dev.cramjet.engine.AdamW;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Mask;
import dev.cramjet.engine.Tensor;

import java.util.Random;

/**
 * Throughput of the CPU backend's ops at GPT-2-small shapes: GB/s for memory-bound ops (bytes each op must read and
 * write once), GFLOP/s for attention (causal: 2·T²·hs per head forward, 5·T²·hs backward, halved matrices counted).
 * Run: mvn -q -o test-compile && java --add-modules jdk.incubator.vector [-Dcramjet.threads=1]
 * -cp target/classes:target/test-classes dev.cramjet.engine.cpu.OpsBench [name filter]
 */
public final class OpsBench {
    private static final CpuBackend cpu = new CpuBackend();
    private static final Random rnd = new Random(1);
    private static String filter = "";

    public static void main(String[] args) {
        if (args.length > 0) filter = args[0];
        System.out.println(cpu.describe() + (Parallel.threads() == 1 ? ", timing CPU time of one thread" : ", wall time"));
        int b = 8, t = 256, c = 768, n = b * t, v = 50257, vp = 50304;
        Tensor x = rand(n, c), y = rand(n, c), z = rand(n, c);
        Tensor big = rand(n, 4 * c), big2 = rand(n, 4 * c);
        long act = (long) n * c * 4, act4 = 4 * act;

        bench("add [N,C]", 3 * act, () -> cpu.add(z, x, y));
        bench("scale [N,C]", 2 * act, () -> cpu.scale(z, 1.0001f));
        bench("gelu [N,4C]", 2 * act4, () -> cpu.gelu(big2, big));
        bench("geluBackward [N,4C]", 3 * act4, () -> cpu.geluBackward(big2, big, big2));
        bench("dropout p=0.1 [N,C]", 2 * act, () -> cpu.dropout(z, x, 0.1f, 5));
        Tensor mean = cpu.alloc(DType.F32, n), rstd = cpu.alloc(DType.F32, n), w = rand(c), bias = rand(c);
        bench("layerNorm [N,C]", 2 * act, () -> cpu.layerNorm(z, mean, rstd, x, w, bias, 1e-5f));
        Tensor dw = rand(c), db = rand(c);
        bench("layerNormBackward [N,C]", 4 * act, () -> cpu.layerNormBackward(z, dw, db, y, x, w, mean, rstd));
        bench("rmsNorm [N,C]", 2 * act, () -> cpu.rmsNorm(z, rstd, x, w, 1e-5f));
        bench("rmsNormBackward [N,C]", 4 * act, () -> cpu.rmsNormBackward(z, dw, y, x, w, rstd));
        Tensor tok = cpu.alloc(DType.I32, b, t);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = rnd.nextInt(v);
        cpu.upload(tok, ids);
        Tensor wte = rand(v, c), wpe = rand(1024, c);
        bench("embedding [N,C]", 3 * act, () -> cpu.embedding(z, tok, wte, wpe, 0));
        bench("embeddingBackward [N,C]", 5 * act, () -> cpu.embeddingBackward(wte, wpe, x, tok));
        Tensor qkv = rand(b, t, 3 * c);
        bench("rope [B,T,3C]", 2 * act * 2, () -> cpu.rope(qkv, 12, 10000f, 0));
        Tensor params = rand(n * c), grads = rand(n * c), m = rand(n * c), vv = cpu.alloc(DType.F32, n * c);
        Tensor norm = cpu.alloc(DType.F32, 1);
        bench("globalNorm [N·C]", act, () -> cpu.globalNorm(norm, grads));
        AdamW hp = new AdamW(1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1, 1f);
        bench("adamW [N·C]", 7 * act, () -> cpu.adamW(params, grads, m, vv, null, norm, hp));
        Tensor half = cpu.alloc(DType.BF16, n * c);
        bench("copy F32→BF16 [N·C]", act + act / 2, () -> cpu.copy(half, params));

        int rows = 4 * 256;
        Tensor logits = rand(rows, vp), losses = cpu.alloc(DType.F32, rows), targets = cpu.alloc(DType.I32, rows);
        int[] tg = new int[rows];
        for (int i = 0; i < rows; i++) tg[i] = rnd.nextInt(v);
        cpu.upload(targets, tg);
        float[] keep = new float[(int) logits.size()];
        cpu.download(logits, keep);
        bench("crossEntropy+grad [1024,Vp]", 2L * rows * vp * 4, () -> cpu.crossEntropy(losses, logits, targets, v, 1e-3f));

        for (int[] shape : new int[][]{{8, 256}, {2, 1024}}) {
            int bb = shape[0], tt = shape[1], heads = 12, hs = 64, cc = heads * hs;
            Tensor q = rand(bb, tt, 3 * cc), o = cpu.alloc(DType.F32, bb, tt, cc), lse = cpu.alloc(DType.F32, bb, heads, tt);
            Tensor dq = cpu.alloc(DType.F32, bb, tt, 3 * cc), dout = rand(bb, tt, cc);
            double flops = (double) bb * heads * tt * tt * hs;   // one causal T×T×hs matrix product = T²·hs flops
            benchFlops("attention T=" + tt + " B=" + bb + " H=12 hs=64", 2 * flops, () -> cpu.attention(o, lse, q, heads, Mask.CAUSAL));
            benchFlops("attentionBackward T=" + tt, 5 * flops, () -> cpu.attentionBackward(dq, dout, q, o, lse, heads, Mask.CAUSAL));
        }
    }

    private static Tensor rand(int... shape) {
        Tensor t = cpu.alloc(DType.F32, shape);
        float[] f = new float[(int) t.size()];
        for (int i = 0; i < f.length; i++) f[i] = (float) rnd.nextGaussian();
        cpu.upload(t, f);
        return t;
    }

    /**
     * Best time of several runs after warm-up. With -Dcramjet.threads=1 the op runs on this thread alone and its
     * CPU time is measured instead of wall time, which stays meaningful on a machine shared with other jobs.
     */
    private static double time(Runnable op) {
        for (int i = 0; i < 5; i++) op.run();
        boolean cpuTime = Parallel.threads() == 1;
        double best = Double.MAX_VALUE;
        long end = System.nanoTime() + 1_000_000_000L;
        int runs = 0;
        while (runs < 5 || System.nanoTime() < end) {
            long t0 = cpuTime ? THREAD.getCurrentThreadCpuTime() : System.nanoTime();
            op.run();
            long t1 = cpuTime ? THREAD.getCurrentThreadCpuTime() : System.nanoTime();
            best = Math.min(best, (t1 - t0) * 1e-9);
            runs++;
        }
        return best;
    }

    private static final java.lang.management.ThreadMXBean THREAD = java.lang.management.ManagementFactory.getThreadMXBean();

    private static boolean skip(String name) { return !filter.isEmpty() && !name.contains(filter); }

    private static void bench(String name, long bytes, Runnable op) {
        if (skip(name)) return;
        double s = time(op);
        System.out.printf("%-40s %9.3f ms %8.1f GB/s     %s%n", name, s * 1e3, bytes / s / 1e9, allocated(op));
    }

    private static void benchFlops(String name, double flops, Runnable op) {
        if (skip(name)) return;
        double s = time(op);
        System.out.printf("%-40s %9.3f ms %8.1f GFLOP/s  %s%n", name, s * 1e3, flops / s / 1e9, allocated(op));
    }

    /**
     * Heap bytes one warm call allocates on this thread: a few dozen (lambda captures) is right; kilobytes mean C2
     * left a vector helper out of line and boxes its vectors. Only with -Dcramjet.threads=1 does this thread do all
     * the work.
     */
    private static String allocated(Runnable op) {
        if (Parallel.threads() != 1) return "";
        var mx = (com.sun.management.ThreadMXBean) THREAD;
        long id = Thread.currentThread().threadId(), before = mx.getThreadAllocatedBytes(id);
        for (int i = 0; i < 10; i++) op.run();
        return (mx.getThreadAllocatedBytes(id) - before) / 10 + " B/call";
    }
}
