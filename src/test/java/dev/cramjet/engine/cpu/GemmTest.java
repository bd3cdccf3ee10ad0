package dev.cramjet.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class GemmTest {
    /** Shapes with every kind of tail: sizes 1, rows not a multiple of 6, columns not of the panel width, K blocks. */
    private static final int[][] SHAPES = {
            {1, 1, 1}, {1, 7, 3}, {5, 1, 9}, {6, 32, 1}, {7, 33, 5}, {13, 65, 17}, {97, 31, 130}, {12, 64, 64},
            {31, 100, 385}, {64, 1030, 40}, {130, 70, 800}, {2, 300, 257}, {300, 2, 11}, {61, 129, 96},
    };

    private enum Variant { NT, NN, TN }

    @Test
    void ntMatchesReference() { checkAll(Variant.NT); }

    @Test
    void nnMatchesReference() { checkAll(Variant.NN); }

    @Test
    void tnMatchesReference() { checkAll(Variant.TN); }

    private static void checkAll(Variant v) {
        SplittableRandom rnd = new SplittableRandom(42 + v.ordinal());
        for (int[] s : SHAPES) {
            for (boolean accumulate : new boolean[] {false, true}) check(v, s[0], s[1], s[2], accumulate, rnd);
        }
    }

    private static void check(Variant v, int m, int n, int k, boolean accumulate, SplittableRandom rnd) {
        int aOff = rnd.nextInt(5), bOff = rnd.nextInt(5), cOff = rnd.nextInt(5);
        float[] a = random(aOff + m * k + 3, rnd), b = random(bOff + n * k + 2, rnd), c = random(cOff + m * n + 4, rnd);
        float[] c0 = c.clone();
        switch (v) {
            case NT -> Gemm.nt(a, aOff, b, bOff, c, cOff, m, n, k, accumulate);
            case NN -> Gemm.nn(a, aOff, b, bOff, c, cOff, m, n, k, accumulate);
            case TN -> Gemm.tn(a, aOff, b, bOff, c, cOff, m, n, k, accumulate);
        }
        // A(i,p) = a[aOff + i·ars + p·acs], B(p,j) = b[bOff + p·brs + j·bcs], per the variant's layouts.
        int ars = v == Variant.TN ? 1 : k, acs = v == Variant.TN ? m : 1;
        int brs = v == Variant.NT ? 1 : n, bcs = v == Variant.NT ? k : 1;
        double tol = 1e-5 * Math.sqrt(k) + 1e-6;
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double ref = accumulate ? c0[cOff + i * n + j] : 0, mag = Math.abs(ref);
                for (int p = 0; p < k; p++) {
                    double x = a[aOff + i * ars + p * acs], y = b[bOff + p * brs + j * bcs];
                    ref += x * y;
                    mag += Math.abs(x * y);
                }
                String where = v + " " + m + "x" + n + "x" + k + " acc=" + accumulate + " at (" + i + "," + j + ")";
                assertEquals(ref, c[cOff + i * n + j], tol * mag, where);
            }
        }
        for (int i = 0; i < cOff; i++) assertEquals(c0[i], c[i], "C before its offset was written");
        for (int i = cOff + m * n; i < c.length; i++) assertEquals(c0[i], c[i], "C past its end was written");
    }

    @Test
    void largeProductsSplitAcrossThreadsAgree() {
        // Over a million multiply-adds each, so they run on the team: split by rows, by columns, and nt with few rows.
        SplittableRandom rnd = new SplittableRandom(7);
        check(Variant.NT, 200, 300, 70, false, rnd);
        check(Variant.NN, 7, 3000, 60, true, rnd);
        check(Variant.TN, 50, 1100, 40, false, rnd);
        check(Variant.TN, 1100, 40, 30, true, rnd);
        check(Variant.NT, 3, 2001, 200, true, rnd);
    }

    @Test
    void everyRowHasTheBitsItHasAlone() {
        // Decoding several sequences in one step must compute what each would alone, whatever the row count and
        // whether B is read in place or from its packed copy; over a million multiply-adds, so the team splits it.
        SplittableRandom rnd = new SplittableRandom(3);
        int n = 303, k = 803;
        float[] b = random(n * k, rnd);
        Gemm.Packed packed = Gemm.pack(b, 0, n, k);
        for (int m : new int[] {2, 4, 5, 7, 15, 16, 23, 70}) {
            float[] a = random(m * k, rnd), c = new float[m * n], fromPacked = new float[m * n], one = new float[n];
            Gemm.nt(a, 0, b, 0, c, 0, m, n, k, false);
            Gemm.nt(a, 0, b, 0, packed, fromPacked, 0, m, n, k, false);
            for (int i = 0; i < m; i++) {
                Gemm.nt(a, i * k, b, 0, one, 0, 1, n, k, false);
                for (int j = 0; j < n; j++) {
                    assertEquals(one[j], c[i * n + j], m + " rows: (" + i + "," + j + ")");
                    assertEquals(one[j], fromPacked[i * n + j], m + " rows, packed: (" + i + "," + j + ")");
                }
            }
        }
    }

    @Test
    void inPlaceRowsGiveThePackedKernelsBits() {
        // Below IN_PLACE_ROWS B is read in place, not packed: each element must keep the packed kernel's order, so a
        // row's bits do not change with the count of rows it shares a product with (up to and past IN_PLACE_ROWS).
        SplittableRandom rnd = new SplittableRandom(4);
        for (int[] s : new int[][] {{301, 800}, {37, 50}}) {
            int n = s[0], k = s[1], big = 70;
            float[] a = random(big * k, rnd), b = random(n * k, rnd), packed = random(big * n, rnd);
            float[] c0 = packed.clone();
            Gemm.nt(a, 0, b, 0, packed, 0, big, n, k, true);
            for (int m : new int[] {1, 3, 4, 15, 16, 23, 63}) {
                float[] c = c0.clone();
                Gemm.nt(a, 0, b, 0, c, 0, m, n, k, true);
                for (int e = 0; e < m * n; e++) assertEquals(packed[e], c[e], m + "x" + n + "x" + k + " at " + e);
            }
        }
    }

    @Test
    void packedWeightsGiveTheBitsOfPackingPerCall() {
        // A weight packed once must give every product what packing it for the call (or reading it in place) gives:
        // column and K tails, two K blocks, one row, the in-place range and past it, prompt steps of 512 rows and
        // more, on the team too.
        SplittableRandom rnd = new SplittableRandom(5);
        for (int[] s : new int[][] {{301, 800}, {37, 50}, {64, 1537}}) {
            int n = s[0], k = s[1], bOff = 3;
            float[] b = random(bOff + n * k + 5, rnd);
            Gemm.Packed packed = Gemm.pack(b, bOff, n, k);
            for (int m : new int[] {1, 15, 16, 23, 63, 64, 97, 200, 600}) {
                for (boolean accumulate : new boolean[] {false, true}) {
                    float[] a = random(m * k, rnd), plain = random(m * n + 2, rnd), fromPacked = plain.clone();
                    Gemm.nt(a, 0, b, bOff, plain, 1, m, n, k, accumulate);
                    Gemm.nt(a, 0, b, bOff, packed, fromPacked, 1, m, n, k, accumulate);
                    for (int e = 0; e < plain.length; e++) {
                        assertEquals(plain[e], fromPacked[e], m + "x" + n + "x" + k + " acc=" + accumulate + " at " + e);
                    }
                }
            }
        }
        Gemm.Packed small = Gemm.pack(new float[12], 0, 3, 4);
        assertThrows(IllegalArgumentException.class,
                () -> Gemm.nt(new float[64], 0, new float[12], 0, small, new float[64], 0, 16, 4, 3, false));
    }

    @Test
    void zeroKClearsOrKeeps() {
        float[] c = {1, 2, 3, 4};
        Gemm.nt(new float[0], 0, new float[0], 0, c, 0, 2, 2, 0, true);
        assertEquals(4f, c[3]);
        Gemm.nn(new float[0], 0, new float[0], 0, c, 0, 2, 2, 0, false);
        assertEquals(0f, c[0]);
        assertEquals(0f, c[3]);
    }

    @Test
    void operandTooShortIsRejected() {
        assertThrows(IndexOutOfBoundsException.class,
                () -> Gemm.nt(new float[5], 0, new float[6], 0, new float[6], 0, 2, 3, 3, false));
        assertThrows(IndexOutOfBoundsException.class,
                () -> Gemm.tn(new float[6], 1, new float[6], 0, new float[4], 0, 2, 2, 3, false));
    }

    private static float[] random(int size, SplittableRandom rnd) {
        float[] x = new float[size];
        for (int i = 0; i < size; i++) x[i] = (float) (rnd.nextDouble() * 2 - 1);
        return x;
    }
}
