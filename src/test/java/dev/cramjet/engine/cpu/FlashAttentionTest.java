package dev.cramjet.engine.cpu;

import dev.cramjet.engine.DType;
import dev.cramjet.engine.DecodeStep;
import dev.cramjet.engine.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class FlashAttentionTest {
    /**
     * A decoding query takes its own path (keys in the vector lanes, read from the key and value panels) and must give the
     * tile path's bits: the training forward's last row, for key counts around the vector and tile sizes and head
     * sizes that are and are not whole vectors.
     */
    @Test
    void oneQueryEqualsTilePathBitForBit() {
        for (int hs : new int[] {8, 24, 64}) {
            for (int n : new int[] {1, 15, 16, 17, 63, 64, 65, 130}) oneQuery(hs, n);
        }
    }

    private static void oneQuery(int hs, int n) {
        int b = 2, heads = 2, c = heads * hs, tmax = n + 3;
        Random r = new Random(31L * n + hs);
        float[] qkv = new float[b * n * 3 * c];
        for (int i = 0; i < qkv.length; i++) qkv[i] = (float) (2 * r.nextGaussian());
        FlashAttention fa = new FlashAttention();
        float[] full = new float[b * n * c];
        fa.forward(qkv, 0, full, 0, new float[b * heads * n], 0, b, n, c, heads, true, null);
        // The caches hold each sequence's keys and values; the step's query is its last.
        float[] kc = new float[b * tmax * c], vc = new float[b * tmax * c], q = new float[b * 3 * c];
        for (int bi = 0; bi < b; bi++) {
            for (int j = 0; j < n; j++) {
                System.arraycopy(qkv, (bi * n + j) * 3 * c + c, kc, (bi * tmax + j) * c, c);
                System.arraycopy(qkv, (bi * n + j) * 3 * c + 2 * c, vc, (bi * tmax + j) * c, c);
            }
            System.arraycopy(qkv, (bi * n + n - 1) * 3 * c, q, bi * 3 * c, 3 * c);
        }
        // Half the positions, then the last one: the copies catch up on the positions they missed.
        FlashAttention.Panels keys = panels(true, kc, b, tmax, c, heads, n), values = panels(false, vc, b, tmax, c, heads, n);
        DecodeStep step = new DecodeStep(b);
        for (int bi = 0; bi < b; bi++) step.add(bi, n - 1, 1);
        float[] out = new float[b * c];
        fa.cached(q, 0, kc, 0, vc, 0, out, 0, tmax, c, heads, step, keys, values);
        for (int bi = 0; bi < b; bi++) {
            for (int i = 0; i < c; i++) {
                float want = full[(bi * n + n - 1) * c + i], got = out[bi * c + i];
                assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got),
                        "hs " + hs + ", " + n + " keys, sequence " + bi + ", column " + i + ": " + want + " vs " + got);
            }
        }
        // It is the panels that the path reads: doubling the values there alone doubles the output, and (past one
        // key, whose value is the output whatever its score) doubling the keys there alone changes it.
        float[] changed = new float[b * c];
        fa.cached(q, 0, kc, 0, vc, 0, changed, 0, tmax, c, heads, step, keys, panels(false, doubled(vc), b, tmax, c, heads, n));
        assertEquals(2 * out[0], changed[0], "hs " + hs + ", " + n + " keys: the value panels were not read");
        if (n == 1) return;
        fa.cached(q, 0, kc, 0, vc, 0, changed, 0, tmax, c, heads, step, panels(true, doubled(kc), b, tmax, c, heads, n), values);
        assertNotEquals(out[0], changed[0], "hs " + hs + ", " + n + " keys: the key panels were not read");
    }

    /** Panels of a cache holding n positions, written as a step would leave them: half, then the last position. */
    private static FlashAttention.Panels panels(boolean keys, float[] cache, int b, int tmax, int c, int heads, int n) {
        FlashAttention.Panels p = new FlashAttention.Panels(keys, 0, b, tmax, c, heads);
        for (int bi = 0; bi < b; bi++) {
            p.write(cache, 0, bi, 0, n / 2);
            p.write(cache, 0, bi, n - 1, n);
        }
        return p;
    }

    private static float[] doubled(float[] x) {
        float[] d = x.clone();
        for (int i = 0; i < d.length; i++) d[i] *= 2;
        return d;
    }

    /**
     * The panels count in allocatedBytes, grow with the positions written, and go when another op writes their
     * cache: the keys' when the key cache is written, the values' when the value cache is.
     */
    @Test
    void panelsAreCountedAndDroppedOnWrite() {
        try (CpuBackend cpu = new CpuBackend()) {
            int heads = 2, hs = 8, c = heads * hs, tmax = 200;
            Tensor kc = cpu.alloc(DType.F32, 1, tmax, c), vc = cpu.alloc(DType.F32, 1, tmax, c);
            Tensor qkv = cpu.alloc(DType.F32, 1, 1, 3 * c), out = cpu.alloc(DType.F32, 1, 1, c);
            // A key panel holds hs columns of TILE positions; a value panel TILE rows padded to a whole vector.
            long base = cpu.allocatedBytes(), keys = (long) heads * hs * FlashAttention.TILE * 4;
            long values = (long) heads * FlashAttention.padded(hs) * FlashAttention.TILE * 4;
            cpu.attentionCached(out, qkv, kc, vc, 0, heads);
            assertEquals(keys + values, cpu.allocatedBytes() - base, "one tile of positions per head");
            cpu.attentionCached(out, qkv, kc, vc, 64, heads);
            assertEquals(2 * (keys + values), cpu.allocatedBytes() - base, "grown to two tiles");
            cpu.upload(kc, new float[tmax * c]);
            assertEquals(2 * values, cpu.allocatedBytes() - base, "the key panels go when the key cache is written");
            cpu.upload(vc, new float[tmax * c]);
            assertEquals(0, cpu.allocatedBytes() - base, "the value panels go when the value cache is written");
        }
    }
}
