package dev.cramjet.engine.cpu;

import dev.cramjet.engine.DType;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Q8_0 weights: the quantization rule bit for bit on hand-made rows, the stored block layout, and every op that
 * reads int8 weights against the same op on the dequantized fp32 weights.
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
    void matmulOnInt8WeightsEqualsMatmulOnTheirValues() {
        // Few rows (decoding) and many rows (a prompt), an output width that leaves a partial 64-row panel, and
        // every epilogue; the fp32 reference multiplies the dequantized weights.
        int c = 96, oc = 83;
        float[] w = random(oc * c);
        Tensor q = cpu.alloc(DType.Q8_0, oc, c);
        cpu.upload(q, w);
        float[] deq = new float[oc * c];
        cpu.download(q, deq);
        Tensor wf = cpu.alloc(DType.F32, oc, c), bias = tensor(random(oc), oc);
        cpu.upload(wf, deq);
        for (int n : new int[] {1, 3, 15, 16, 37, 70}) {
            Tensor x = tensor(random(n * c), n, c), res = tensor(random(n * oc), n, oc);
            for (Epilogue e : new Epilogue[] {Epilogue.NONE, new Epilogue.Gelu(null), new Epilogue.Residual(res, 0f, 0),
                    new Epilogue.Residual(res, 0.25f, 99)}) {
                Tensor a = cpu.alloc(DType.F32, n, oc), b = cpu.alloc(DType.F32, n, oc);
                cpu.matmul(a, x, q, bias, e);
                cpu.matmul(b, x, wf, bias, e);
                CpuBackendTest.assertClose("Q8_0 matmul n=" + n + " " + e, read(b), read(a), 1e-5);
            }
        }
    }

    @Test
    void rowsOfADecodeStepGetTheBitsTheyHaveAlone() {
        // Below FEW_ROWS (a decode step of that many sequences) each row sums as it would alone, in the four-row
        // blocks and past them, over a million multiply-adds so the team splits W's rows.
        int k = 768, n = 331;
        byte[] q = new byte[n * k];
        float[] d = new float[n * k / Q8.BLOCK];
        Q8.quantize(random(n * k), 0, q, d, 0, n * k);
        for (int m : new int[] {5, 16, Q8.FEW_ROWS - 1}) {
            float[] x = random(m * k), c = new float[m * n], one = new float[n];
            Q8.nt(x, 0, q, d, 0, c, 0, m, n, k, false);
            for (int i = 0; i < m; i++) {
                Q8.nt(x, i * k, q, d, 0, one, 0, 1, n, k, false);
                for (int j = 0; j < n; j++) assertEquals(one[j], c[i * n + j], m + " rows: (" + i + "," + j + ")");
            }
        }
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
