package dev.cramjet.engine.cpu;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** The native few-row fp32 kernel: how it is refused, and that it gives Gemm's Java bits (GemmTest covers the rest). */
class F32NativeTest {
    @Test
    void fallsBackToJavaWhenAskedOrWithoutACompiler(@TempDir Path cache) {
        String[] why = new String[1];
        assertNull(F32Native.load(Map.of("CRAMJET_F32", "java", "CRAMJET_CACHE", cache.toString()), "/nohome", why));
        assertEquals("asked for", why[0]);
        assertNull(F32Native.load(Map.of("CC", cache.resolve("no-such-cc").toString(), "CRAMJET_CACHE", cache.toString()), "/nohome", why));
        assertTrue(why[0].startsWith("no C compiler") || why[0].startsWith("the CPU has no") || why[0].startsWith("no /proc"), why[0]);
    }

    @Test
    void givesTheJavaKernelsBitsAtEveryRowCountOffsetAndTail() {
        // Every tile height (1–8 rows), without prefetches (below 4 rows) and with, two tiles and more; a column tail
        // inside each half of a panel; one K block, two (800 = 2 × 400) and three; A and C at offsets, accumulating or
        // not; the team splits the larger products by panels. The reference is the unpacked product, all Java.
        Assumptions.assumeTrue(F32Native.KERNEL != null, "no native fp32 kernel here: " + F32Native.STATUS);
        SplittableRandom rnd = new SplittableRandom(11);
        for (int[] s : new int[][] {{40, 768}, {301, 800}, {57, 1537}, {3000, 96}}) {
            int n = s[0], k = s[1], aOff = 5, cOff = 3;
            float[] b = random(n * k, rnd);
            Gemm.Packed packed = Gemm.pack(b, 0, n, k);
            for (int m : new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 31, F32Native.ROWS}) {
                for (boolean accumulate : new boolean[] {false, true}) {
                    float[] a = random(aOff + m * k, rnd), java = random(cOff + m * n + 4, rnd), nat = java.clone();
                    Gemm.nt(a, aOff, b, 0, java, cOff, m, n, k, accumulate);
                    Gemm.nt(a, aOff, b, 0, packed, nat, cOff, m, n, k, accumulate);
                    assertArrayEquals(java, nat, m + "x" + n + "x" + k + " accumulate=" + accumulate);
                }
            }
        }
    }

    private static float[] random(int n, SplittableRandom rnd) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextDouble() * 2 - 1);
        return x;
    }
}
