package dev.cramjet.engine.cpu;

import dev.cramjet.engine.DType;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Q8_0 weights: the quantization rules (weights, and activations for the product) bit for bit on hand-made rows,
 * the stored block layout, every op that reads int8 weights against the same op on the dequantized fp32 weights,
 * and the native product against the Java one.
 */
class Q8Test {
    private final CpuBackend cpu = new CpuBackend();
    private final Random rnd = new Random(3);

    @AfterEach
    void close() { cpu.close(); }

    @Test
    void quantizesByGgmlsRule() {
        // Block 0: max |x| = 127 → d = 1 exactly, so q = round(x) half away from zero: ±0.5 → ±1 and ±2.5 → ±3
        // (Math.round would give 0 for −0.5, rint 2 for 2.5). Block 1: max |x| = 2.54 → d = 0.02, stored as fp16
        // 0x251F = 0.0200042724609375, while q uses 1/d of the fp32 d: 1 → 50, −2.54 → −127. Then a zero block.
        float[] x = new float[96];
        float[] block0 = {127f, 0.5f, -0.5f, 2.5f, -2.5f, 1.49f, -126.6f};
        System.arraycopy(block0, 0, x, 0, block0.length);
        x[32] = -2.54f;
        x[33] = 1f;
        Tensor q = cpu.alloc(DType.Q8_0, 3, 32);
        cpu.upload(q, x);
        byte[] blocks = new byte[3 * 34];
        cpu.download(q, blocks);
        assertEquals(0x00, blocks[0] & 0xFF, "d = 1.0 is fp16 0x3C00, little-endian");
        assertEquals(0x3C, blocks[1] & 0xFF);
        int[] expect0 = {127, 1, -1, 3, -3, 1, -127};
        for (int i = 0; i < expect0.length; i++) assertEquals(expect0[i], blocks[2 + i], "block 0 q[" + i + "]");
        short half = Float.floatToFloat16(2.54f / 127);
        assertEquals(0x251F, half & 0xFFFF, "fp16 of d");
        assertEquals((byte) half, blocks[34]);
        assertEquals((byte) (half >> 8), blocks[35]);
        assertEquals(-127, blocks[36]);
        assertEquals(50, blocks[37]);
        for (int i = 68; i < 102; i++) assertEquals(0, blocks[i], "zero block byte " + i);

        float[] back = new float[96];
        cpu.download(q, back);
        assertEquals(-3f, back[4]);
        assertEquals(Float.float16ToFloat(half) * 50, back[33]);
        assertEquals(0f, back[70]);

        // Raw blocks upload back to the same values, and F32 → Q8_0 → F32 copies agree with upload/download.
        Tensor again = cpu.alloc(DType.Q8_0, 3, 32);
        cpu.upload(again, blocks);
        float[] viaBlocks = new float[96];
        cpu.download(again, viaBlocks);
        assertArrayEquals(back, viaBlocks);
        Tensor f = cpu.alloc(DType.F32, 3, 32), g = cpu.alloc(DType.F32, 3, 32), viaCopy = cpu.alloc(DType.Q8_0, 3, 32);
        cpu.upload(f, x);
        cpu.copy(viaCopy, f);
        cpu.copy(g, viaCopy);
        float[] copied = new float[96];
        cpu.download(g, copied);
        assertArrayEquals(back, copied);
        assertEquals(3 * 3 * 34, cpu.allocatedBytes() - 2 * 96 * 4L, "Q8_0 takes 34 bytes per 32 values");
    }

    @Test
    void rowsMustBeWholeBlocks() {
        assertThrows(IllegalArgumentException.class, () -> cpu.alloc(DType.Q8_0, 3, 40));
        Tensor q = cpu.alloc(DType.Q8_0, 4, 64);
        assertThrows(IllegalArgumentException.class, () -> cpu.download(q.view(16, 32), new float[32]));
    }

    @Test
    void quantizesActivationsByTheProductsRule() {
        // Block 0: max |x| = 127 → 127/max = 1, so q = rint(x), ties to even: ±0.5 → 0, 1.5 → 2, ±2.5 → ±2. Block 1:
        // max 63.5 → d = 0.5, 127/max = 2: 0.75 → 1.5 → 2, 1.25 → 2.5 → 2, −0.3 → −0.6 → −1. Then a zero block.
        // The rows start at x[8], as a view into a tensor would.
        float[] x = new float[104];
        float[] block0 = {127f, 0.5f, -0.5f, 1.5f, 2.5f, -2.5f, -126.6f};
        System.arraycopy(block0, 0, x, 8, block0.length);
        x[40] = -63.5f;
        x[41] = 0.75f;
        x[42] = 1.25f;
        x[43] = -0.3f;
        byte[] q = new byte[96];
        float[] d = new float[3];
        Q8.quantizeRows(x, 8, 96, q, d);
        int[] expect0 = {127, 0, 0, 2, 2, -2, -127};
        for (int i = 0; i < expect0.length; i++) assertEquals(expect0[i], q[i], "block 0 q[" + i + "]");
        assertEquals(1f, d[0]);
        assertEquals(0.5f, d[1]);
        assertArrayEquals(new byte[] {-127, 2, 2, -1}, java.util.Arrays.copyOfRange(q, 32, 36));
        for (int i = 36; i < 96; i++) assertEquals(0, q[i], "q[" + i + "]");
        assertEquals(0f, d[2]);
    }

    @Test
    void matmulOnInt8WeightsEqualsMatmulOnTheirValues() {
        // Few rows (decoding) and many rows (a prompt), an output width not a multiple of anything, and every
        // epilogue; the fp32 reference multiplies the dequantized weights by the dequantized quantized input.
        int c = 96, oc = 83;
        float[] w = random(oc * c);
        Tensor q = cpu.alloc(DType.Q8_0, oc, c);
        cpu.upload(q, w);
        float[] deq = new float[oc * c];
        cpu.download(q, deq);
        Tensor wf = cpu.alloc(DType.F32, oc, c), bias = tensor(random(oc), oc);
        cpu.upload(wf, deq);
        for (int n : new int[] {1, 3, 15, 16, 37, 70}) {
            float[] xv = random(n * c);
            Tensor x = tensor(xv, n, c), xr = tensor(quantized(xv), n, c), res = tensor(random(n * oc), n, oc);
            for (Epilogue e : new Epilogue[] {Epilogue.NONE, new Epilogue.Gelu(null), new Epilogue.Residual(res, 0f, 0),
                    new Epilogue.Residual(res, 0.25f, 99)}) {
                Tensor a = cpu.alloc(DType.F32, n, oc), b = cpu.alloc(DType.F32, n, oc);
                cpu.matmul(a, x, q, bias, e);
                cpu.matmul(b, xr, wf, bias, e);
                CpuBackendTest.assertClose("Q8_0 matmul n=" + n + " " + e, read(b), read(a), 1e-5);
            }
        }
    }

    @Test
    void nativeAndJavaKernelsGiveTheSameBitsAndARowTheBitsItHasAlone() {
        // Row counts from decoding one sequence to a prompt, an odd output width, rows of 25 blocks (a full group of
        // 16 and a partial one) and of 3, products large enough that the team splits W's rows; accumulating too.
        Assumptions.assumeTrue(Q8Native.KERNEL != null, "no native int8 kernel here: " + Q8Native.STATUS);
        for (int k : new int[] {800, 96}) {
            int n = 37;
            CpuStorage w = weights(n, k);
            for (int m : new int[] {1, 3, 16, 33, 100}) {
                float[] x = random(m * k), init = random(m * n);
                for (boolean acc : new boolean[] {false, true}) {
                    CpuStorage nat = out(init), java = out(init), one = new CpuStorage(DType.F32, n);
                    Q8.nt(Q8Native.KERNEL, x, 0, w, 0, nat, 0, m, n, k, acc);
                    Q8.nt(null, x, 0, w, 0, java, 0, m, n, k, acc);
                    assertArrayEquals(java.f32, nat.f32, "k=" + k + " m=" + m + " accumulate=" + acc);
                    for (int i = 0; i < m; i += 7) {
                        System.arraycopy(init, i * n, one.f32, 0, n);
                        Q8.nt(x, i * k, w, 0, one, 0, 1, n, k, acc);
                        for (int j = 0; j < n; j++) assertEquals(nat.f32[i * n + j], one.f32[j], m + " rows: (" + i + "," + j + ")");
                    }
                }
            }
        }
    }

    /** Random weights [n,k] quantized into a Q8_0 storage. */
    private CpuStorage weights(int n, int k) {
        CpuStorage w = new CpuStorage(DType.Q8_0, n * k);
        Q8.quantize(random(n * k), 0, w.q8, w.q8Scale, 0, n * k);
        return w;
    }

    private static CpuStorage out(float[] init) {
        CpuStorage c = new CpuStorage(DType.F32, init.length);
        System.arraycopy(init, 0, c.f32, 0, init.length);
        return c;
    }

    /** x as the product sees it: quantized per block, then d·q. */
    private static float[] quantized(float[] x) {
        byte[] q = new byte[x.length];
        float[] d = new float[x.length / Q8.BLOCK], y = new float[x.length];
        Q8.quantizeRows(x, 0, x.length, q, d);
        Q8.dequantize(q, d, 0, x.length, y, 0);
        return y;
    }

    @Test
    void embeddingReadsInt8Rows() {
        int v = 7, c = 64, b = 2, t = 3;
        Tensor q = cpu.alloc(DType.Q8_0, v, c), f = cpu.alloc(DType.F32, v, c), wpe = tensor(random(t * c), t, c);
        cpu.upload(q, random(v * c));
        cpu.copy(f, q);
        Tensor tokens = cpu.alloc(DType.I32, b, t);
        cpu.upload(tokens, new int[] {6, 0, 3, 3, 1, 5});
        Tensor a = cpu.alloc(DType.F32, b, t, c), e = cpu.alloc(DType.F32, b, t, c);
        for (Tensor pos : new Tensor[] {null, wpe}) {
            cpu.embedding(a, tokens, q, pos, 0);
            cpu.embedding(e, tokens, f, pos, 0);
            assertArrayEquals(read(e), read(a));
        }
    }

    private float[] random(int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian();
        return x;
    }

    private Tensor tensor(float[] v, int... shape) {
        Tensor t = cpu.alloc(DType.F32, shape);
        cpu.upload(t, v);
        return t;
    }

    private double[] read(Tensor t) {
        float[] f = new float[(int) t.size()];
        cpu.download(t, f);
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }
}
