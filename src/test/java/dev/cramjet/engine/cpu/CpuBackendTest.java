package dev.cramjet.engine.cpu;

import dev.cramjet.engine.AdamW;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.DecodeStep;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Glu;
import dev.cramjet.engine.Mask;
import dev.cramjet.engine.Rng;
import dev.cramjet.engine.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every op against a plain double-precision reference written here: forwards compared directly, backwards against
 * central finite differences of the reference's L = Σ r·out for a fixed random r. Shapes are odd on purpose (13
 * channels, head size 5, vocab 11 padded to 16) next to vector-width multiples, so masked tails are exercised.
 */
class CpuBackendTest {
    private static final double FWD = 1e-5, GRAD = 1e-4, H = 1e-6;

    private final CpuBackend cpu = new CpuBackend();
    private final Random rnd = new Random(7);

    @AfterEach
    void close() { cpu.close(); }

    // ---- memory --------------------------------------------------------------------------------------------

    @Test
    void bf16RoundsToNearestEven() {
        float[] in = {
                1f,
                Float.intBitsToFloat(0x3F808000),   // exactly halfway, even below → stays 0x3F80
                Float.intBitsToFloat(0x3F818000),   // halfway, odd below → rounds up to 0x3F82
                Float.intBitsToFloat(0x3F808001),   // just above halfway → up
                Float.intBitsToFloat(0x3F807FFF),   // just below → down
                Float.MAX_VALUE,                    // rounds up into infinity
                -0f, Float.MIN_VALUE, Float.NEGATIVE_INFINITY, Float.NaN};
        int[] expectBits = {0x3F80, 0x3F80, 0x3F82, 0x3F81, 0x3F80, 0x7F80, 0x8000, 0x0000, 0xFF80};
        Tensor t = cpu.alloc(DType.BF16, in.length);
        cpu.upload(t, in);
        float[] out = new float[in.length];
        cpu.download(t, out);
        for (int i = 0; i < expectBits.length; i++) {
            assertEquals(expectBits[i], Float.floatToRawIntBits(out[i]) >>> 16, "element " + i);
        }
        assertTrue(Float.isNaN(out[9]));

        Tensor f = cpu.alloc(DType.F32, in.length);
        cpu.upload(f, in);
        Tensor g = cpu.alloc(DType.BF16, in.length);
        cpu.copy(g, f);
        float[] back = new float[in.length];
        cpu.download(g, back);
        assertArrayEquals(out, back);
        cpu.copy(f, g);
        cpu.download(f, back);
        assertArrayEquals(out, back);
        assertEquals(in.length * (4L + 2 + 2), cpu.allocatedBytes());
    }

    /** A model too big for one Java array is a configuration to change, not a crash (cli.Main prints the line, exit 2). */
    @Test
    void aBufferBeyondAJavaArrayIsRefusedInOneLine() {
        var e = assertThrows(dev.cramjet.CramjetException.class, () -> cpu.alloc(DType.F32, 50_000, 50_000));
        assertEquals("the CPU backend holds at most 2,147,483,631 elements in one buffer, and this needs 2,500,000,000 "
                + "(shape [50000, 50000]): choose a smaller model, batch or context", e.getMessage());
    }

    @Test
    void fillZeroAndViews() {
        Tensor t = cpu.alloc(DType.F32, 4, 5);
        cpu.fill(t.slice(1), 2.5f);
        cpu.zero(t.slice(1).view(1, 2));
        float[] out = new float[20];
        cpu.download(t, out);
        assertArrayEquals(new float[]{0, 0, 0, 0, 0, 2.5f, 0, 0, 2.5f, 2.5f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, out);
        Tensor ids = cpu.alloc(DType.I32, 3);
        cpu.upload(ids, new int[]{4, 5, 6});
        int[] got = new int[3];
        cpu.download(ids, got);
        assertArrayEquals(new int[]{4, 5, 6}, got);
        assertTrue(cpu.describe().contains("threads"), cpu.describe());
    }

    // ---- embedding -----------------------------------------------------------------------------------------

    @Test
    void embeddingForwardAndBackward() {
        int b = 2, t = 5, c = 13, v = 7, tmax = 9, pos = 3;
        int[] tok = {1, 3, 3, 0, 6, 3, 1, 1, 5, 2};
        double[] wte = random(v * c), wpe = random(tmax * c), r = random(b * t * c);
        Tensor tokens = ints(tok, b, t);
        Tensor out = cpu.alloc(DType.F32, b, t, c);
        cpu.embedding(out, tokens, tensor(wte, v, c), tensor(wpe, tmax, c), pos);
        double[] expect = new double[b * t * c];
        for (int i = 0; i < b * t; i++) {
            for (int j = 0; j < c; j++) expect[i * c + j] = wte[tok[i] * c + j] + wpe[(pos + i % t) * c + j];
        }
        assertClose("embedding", expect, read(out), FWD);
        cpu.embedding(out, tokens, tensor(wte, v, c), null, 0);
        for (int i = 0; i < b * t; i++) for (int j = 0; j < c; j++) expect[i * c + j] = wte[tok[i] * c + j];
        assertClose("embedding without positions", expect, read(out), FWD);

        double[] dwte0 = random(v * c), dwpe0 = random(tmax * c);
        Tensor dwte = tensor(dwte0, v, c), dwpe = tensor(dwpe0, tmax, c);
        cpu.embeddingBackward(dwte, dwpe, tensor(r, b, t, c), tokens);
        double[] eWte = dwte0.clone(), eWpe = dwpe0.clone();
        for (int i = 0; i < b * t; i++) {
            for (int j = 0; j < c; j++) {
                eWte[tok[i] * c + j] += r[i * c + j];
                eWpe[(i % t) * c + j] += r[i * c + j];
            }
        }
        assertClose("dwte", eWte, read(dwte), FWD);
        assertClose("dwpe", eWpe, read(dwpe), FWD);

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> cpu.embedding(out, ints(new int[]{0, 1, 2, 3, 7, 0, 0, 0, 0, 0}, b, t), tensor(wte, v, c), null, 0));
        assertTrue(e.getMessage().startsWith("embedding: token 7"), e.getMessage());
    }

    /**
     * Every parameter gradient gets a call's whole contribution in one addition per element: accumulating into a
     * gradient that already holds g gives exactly fl(g + the gradient computed from zero). Two micro-batches
     * accumulated on one process therefore equal, bit for bit, two data-parallel ranks' gradients added.
     */
    @Test
    void parameterGradientsAreAddedOncePerCall() {
        int b = 4, t = 10, n = b * t, c = 37, oc = 21, v = 6;
        int[] tok = new int[n];
        for (int i = 0; i < n; i++) tok[i] = rnd.nextInt(v);
        Tensor tokens = ints(tok, b, t), x = tensor(random(n * c), n, c), dy = tensor(random(n * oc), n, oc);
        Tensor dx = tensor(random(n * c), n, c), w = tensor(random(oc * c), oc, c), g = tensor(random(n * c), n, c);
        Tensor mean = cpu.alloc(DType.F32, n), rstd = cpu.alloc(DType.F32, n), y = cpu.alloc(DType.F32, n, c);
        Tensor nw = tensor(random(c), c);
        cpu.layerNorm(y, mean, rstd, x, nw, null, 1e-5f);
        double[][] starts = {random(oc * c), random(oc), random(c), random(c), random(v * c), random(t * c)};
        int[][] shapes = {{oc, c}, {oc}, {c}, {c}, {v, c}, {t, c}};
        double[][] expected = new double[starts.length][];
        for (boolean fromZero : new boolean[] {true, false}) {
            Tensor[] grads = new Tensor[starts.length];
            for (int i = 0; i < grads.length; i++) grads[i] = fromZero ? cpu.alloc(DType.F32, shapes[i]) : tensor(starts[i], shapes[i]);
            cpu.matmulBackward(null, grads[0], grads[1], dy, x, w);
            cpu.layerNormBackward(dx, grads[2], grads[3], g, x, nw, mean, rstd);
            cpu.embeddingBackward(grads[4], grads[5], g, tokens);
            if (fromZero) {
                for (int i = 0; i < grads.length; i++) {
                    expected[i] = read(grads[i]);
                    for (int j = 0; j < expected[i].length; j++) expected[i][j] = (float) ((float) starts[i][j] + (float) expected[i][j]);
                }
                continue;
            }
            String[] names = {"dweight", "dbias", "norm dweight", "norm dbias", "dwte", "dwpe"};
            for (int i = 0; i < grads.length; i++) assertArrayEquals(expected[i], read(grads[i]), names[i] + ": start + contribution, bit for bit");
        }
        Tensor rw = cpu.alloc(DType.F32, c), rs = cpu.alloc(DType.F32, n);
        cpu.rmsNorm(y, rs, x, nw, 1e-5f);
        double[] start = random(c);
        cpu.rmsNormBackward(dx, rw, g, x, nw, rs);
        double[] sum = read(rw);
        for (int j = 0; j < c; j++) sum[j] = (float) ((float) start[j] + (float) sum[j]);
        Tensor acc = tensor(start, c);
        cpu.rmsNormBackward(dx, acc, g, x, nw, rs);
        assertArrayEquals(sum, read(acc), "rms norm dweight: start + contribution, bit for bit");
    }

    // ---- normalisation -------------------------------------------------------------------------------------

    @Test
    void layerNormMatchesReferenceAndGradients() {
        for (int c : new int[]{13, 32, 37}) {
            int n = 3;
            double[] x = random(n * c), w = random(c), bias = random(c), r = random(n * c);
            Tensor in = tensor(x, n, c), out = cpu.alloc(DType.F32, n, c);
            Tensor mean = cpu.alloc(DType.F32, n), rstd = cpu.alloc(DType.F32, n);
            cpu.layerNorm(out, mean, rstd, in, tensor(w, c), tensor(bias, c), 1e-5f);
            assertClose("layerNorm C=" + c, refLayerNorm(x, w, bias, c), read(out), FWD);

            double[] din0 = random(n * c), dw0 = random(c), db0 = random(c);
            Tensor din = tensor(din0, n, c), dw = tensor(dw0, c), db = tensor(db0, c);
            cpu.layerNormBackward(din, dw, db, tensor(r, n, c), in, tensor(w, c), mean, rstd);
            assertClose("layerNorm din (accumulated)", add(din0, fd(p -> refLayerNorm(p, w, bias, c), x, r)), read(din), GRAD);
            assertClose("layerNorm dweight", add(dw0, fd(p -> refLayerNorm(x, p, bias, c), w, r)), read(dw), GRAD);
            assertClose("layerNorm dbias", add(db0, fd(p -> refLayerNorm(x, w, p, c), bias, r)), read(db), GRAD);
        }
    }

    @Test
    void rmsNormMatchesReferenceAndGradients() {
        for (int c : new int[]{13, 48}) {
            int n = 4;
            double[] x = random(n * c), w = random(c), r = random(n * c);
            Tensor in = tensor(x, n, c), out = cpu.alloc(DType.F32, n, c), rstd = cpu.alloc(DType.F32, n);
            cpu.rmsNorm(out, rstd, in, tensor(w, c), 1e-5f);
            assertClose("rmsNorm", refRmsNorm(x, w, c), read(out), FWD);

            double[] din0 = random(n * c), dw0 = random(c);
            Tensor din = tensor(din0, n, c), dw = tensor(dw0, c);
            cpu.rmsNormBackward(din, dw, tensor(r, n, c), in, tensor(w, c), rstd);
            assertClose("rmsNorm din", add(din0, fd(p -> refRmsNorm(p, w, c), x, r)), read(din), GRAD);
            assertClose("rmsNorm dweight", add(dw0, fd(p -> refRmsNorm(x, p, c), w, r)), read(dw), GRAD);
        }
    }

    // ---- matmul --------------------------------------------------------------------------------------------

    @Test
    void matmulEpiloguesMatchReference() {
        int n = 5, c = 13, oc = 19;
        double[] x = random(n * c), w = random(oc * c), bias = random(oc), res = random(n * oc);
        Tensor in = tensor(x, n, c), wt = tensor(w, oc, c), bt = tensor(bias, oc), out = cpu.alloc(DType.F32, n, oc);
        double[] y = refLinear(x, w, bias, n, c, oc);

        cpu.matmul(out, in, wt, bt, Epilogue.NONE);
        assertClose("matmul", y, read(out), FWD);
        cpu.matmul(out, in, wt, null, Epilogue.NONE);
        assertClose("matmul without bias", refLinear(x, w, null, n, c, oc), read(out), FWD);

        Tensor pre = cpu.alloc(DType.F32, n, oc);
        cpu.matmul(out, in, wt, bt, new Epilogue.Gelu(pre));
        assertClose("matmul gelu pre", y, read(pre), FWD);
        assertClose("matmul gelu", map(y, CpuBackendTest::gelu), read(out), FWD);
        cpu.matmul(out, in, wt, bt, new Epilogue.Gelu(null));
        assertClose("matmul gelu without pre", map(y, CpuBackendTest::gelu), read(out), FWD);

        Tensor residual = tensor(res, n, oc);
        cpu.matmul(residual, in, wt, bt, new Epilogue.Residual(residual, 0f, 1));
        assertClose("matmul residual in place", add(res, y), read(residual), FWD);
        cpu.matmul(out, in, wt, null, new Epilogue.Residual(tensor(res, n, oc), 0f, 1));
        assertClose("matmul residual", add(res, refLinear(x, w, null, n, c, oc)), read(out), FWD);

        float p = 0.3f;
        long seed = 99;
        cpu.matmul(out, in, wt, bt, new Epilogue.Residual(tensor(res, n, oc), p, seed));
        double[] expect = new double[n * oc];
        for (int i = 0; i < expect.length; i++) expect[i] = res[i] + (Rng.keep(seed, i, p) ? y[i] / (1 - p) : 0);
        assertClose("matmul residual dropout", expect, read(out), FWD);
    }

    @Test
    void packedWeightsFollowEveryWriteToTheirStorage() {
        // A weight inside a bigger buffer (as a model's parameters are), read by decode-sized products: packed at
        // the second product, then each kind of write to the buffer must drop the copy before the next product
        // reads the new values; products past PACKED_ROWS rows make none (they read a kept one, with the bits of
        // packing per call), and writes elsewhere keep it.
        int n = 20, c = 40, oc = 33, at = 7;
        Tensor params = cpu.alloc(DType.F32, at + oc * c + 5), w = params.view(at, oc, c);
        Tensor in = tensor(random(n * c), n, c), out = cpu.alloc(DType.F32, n, oc), other = tensor(random(oc * c), oc, c);
        cpu.upload(params, floats(random(at + oc * c + 5)));
        Tensor big = cpu.alloc(DType.F32, 512, c), bigOut = cpu.alloc(DType.F32, 512, oc);
        AdamW hp = new AdamW(1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 1, 1.0f);
        Tensor grads = tensor(random(at + oc * c + 5), at + oc * c + 5);
        Tensor m = cpu.alloc(DType.F32, at + oc * c + 5), v = cpu.alloc(DType.F32, at + oc * c + 5);
        // the copy holds whole panels of Gemm.NR output columns: 33 → 64 with AVX-512, 48 with AVX2
        long base = cpu.allocatedBytes(), packed = 4L * ((oc + Gemm.NR - 1) / Gemm.NR * Gemm.NR) * c;
        for (int k = 0; k < 3; k++) cpu.matmul(bigOut, big, w, null, Epilogue.NONE);
        assertEquals(base, cpu.allocatedBytes(), "products of 512 rows pack nothing");
        checkProduct(in, w, out, n, c, oc, "first product");
        assertEquals(base, cpu.allocatedBytes(), "one product only notes the weight");
        checkProduct(in, w, out, n, c, oc, "second product");
        assertEquals(base + packed, cpu.allocatedBytes(), "the second packs it");
        checkProduct(in, w, out, n, c, oc, "from the packed copy");
        assertEquals(base + packed, cpu.allocatedBytes(), "the copy is reused");
        cpu.upload(big, floats(random(512 * c)));
        checkProduct(big, w, bigOut, 512, c, oc, "512 rows from the kept copy");
        assertEquals(base + packed, cpu.allocatedBytes(), "512 rows read the copy and make none");
        List<Runnable> writes = List.of(
                () -> cpu.upload(w, floats(random(oc * c))),
                () -> cpu.fill(params.view(at + oc * c - 1, 1), 3f),
                () -> cpu.scale(params, 0.5f),
                () -> cpu.copy(w, other),
                () -> cpu.add(w, w, other),
                () -> cpu.adamW(params, grads, m, v, null, null, hp));
        for (int k = 0; k < writes.size(); k++) {
            checkProduct(in, w, out, n, c, oc, "write " + k + ", before");
            checkProduct(in, w, out, n, c, oc, "write " + k + ", packed");
            assertEquals(base + packed, cpu.allocatedBytes());
            writes.get(k).run();
            assertEquals(base, cpu.allocatedBytes(), "write " + k + " dropped the copy");
            checkProduct(in, w, out, n, c, oc, "write " + k + ", after");
        }
        cpu.scale(other, 2f);
        checkProduct(in, w, out, n, c, oc, "writes elsewhere");
        checkProduct(in, w, out, n, c, oc, "writes elsewhere");
        cpu.scale(other, 2f);
        assertEquals(base + packed, cpu.allocatedBytes(), "writes to another buffer keep the copy");
    }

    /** out = in·wᵀ through the backend, bit for bit what Gemm gives the downloaded values. */
    private void checkProduct(Tensor in, Tensor w, Tensor out, int n, int c, int oc, String what) {
        float[] x = new float[n * c], wv = new float[oc * c], expect = new float[n * oc], got = new float[n * oc];
        cpu.download(in, x);
        cpu.download(w, wv);
        Gemm.nt(x, 0, wv, 0, expect, 0, n, oc, c, false);
        cpu.matmul(out, in, w, null, Epilogue.NONE);
        cpu.download(out, got);
        assertArrayEquals(expect, got, what);
    }

    private static float[] floats(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) f[i] = (float) v[i];
        return f;
    }

    @Test
    void matmulBackwardMatchesFiniteDifferences() {
        int n = 6, c = 13, oc = 17;
        double[] x = random(n * c), w = random(oc * c), bias = random(oc), r = random(n * oc);
        double[] dw0 = random(oc * c), db0 = random(oc);
        Tensor din = tensor(random(n * c), n, c), dw = tensor(dw0, oc, c), db = tensor(db0, oc);
        cpu.matmulBackward(din, dw, db, tensor(r, n, oc), tensor(x, n, c), tensor(w, oc, c));
        assertClose("din", fd(p -> refLinear(p, w, bias, n, c, oc), x, r), read(din), GRAD);
        assertClose("dweight", add(dw0, fd(p -> refLinear(x, p, bias, n, c, oc), w, r)), read(dw), GRAD);
        assertClose("dbias", add(db0, fd(p -> refLinear(x, w, p, n, c, oc), bias, r)), read(db), GRAD);
        cpu.matmulBackward(null, dw, null, tensor(r, n, oc), tensor(x, n, c), tensor(w, oc, c));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> cpu.matmul(cpu.alloc(DType.F32, n, oc), tensor(x, n, c), tensor(w, c, oc), null, Epilogue.NONE));
        assertTrue(e.getMessage().startsWith("matmul: weight is F32[13, 17]"), e.getMessage());
    }

    // ---- activations ---------------------------------------------------------------------------------------

    @Test
    void geluAndBackward() {
        for (int n : new int[]{7, 16, 45}) {
            double[] x = random(n, 3), r = random(n);
            Tensor in = tensor(x, n), out = cpu.alloc(DType.F32, n);
            cpu.gelu(out, in);
            assertClose("gelu", map(x, CpuBackendTest::gelu), read(out), FWD);
            Tensor d = tensor(r, n);
            cpu.geluBackward(d, in, d);   // din may alias dout
            assertClose("gelu backward", fd(p -> map(p, CpuBackendTest::gelu), x, r), read(d), GRAD);
        }
    }

    @Test
    void gluAndBackward() {
        for (Glu kind : Glu.values()) {
            int n = 3, h = 21;
            double[] x = random(n * 2 * h, 2), r = random(n * h);
            Tensor in = tensor(x, n, 2 * h), out = cpu.alloc(DType.F32, n, h);
            cpu.glu(out, in, kind);
            assertClose(kind + "", refGlu(x, n, h, kind), read(out), FWD);
            Tensor din = cpu.alloc(DType.F32, n, 2 * h);
            cpu.gluBackward(din, tensor(r, n, h), in, kind);
            assertClose(kind + " backward", fd(p -> refGlu(p, n, h, kind), x, r), read(din), GRAD);
        }
    }

    @Test
    void addAndScale() {
        int n = 37;
        double[] a = random(n), b = random(n);
        Tensor ta = tensor(a, n), tb = tensor(b, n);
        cpu.add(ta, ta, tb);
        assertClose("add", add(a, b), read(ta), FWD);
        cpu.scale(tb, -2.5f);
        assertClose("scale", map(b, v -> -2.5 * v), read(tb), FWD);
    }

    // ---- rope ----------------------------------------------------------------------------------------------

    @Test
    void ropeRotatesQueriesAndKeysOnly() {
        int b = 2, t = 5, heads = 3, hs = 6, c = heads * hs, pos = 4;
        float theta = 10000f;
        double[] x = random(b * t * 3 * c), r = random(b * t * 3 * c);
        Tensor qkv = tensor(x, b, t, 3 * c);
        cpu.rope(qkv, heads, theta, pos);
        assertClose("rope", refRope(x, b, t, c, heads, theta, pos), read(qkv), FWD);
        // The backward is the transpose of the forward at positions from 0: the gradient of Σ r·rope(x).
        Tensor d = tensor(r, b, t, 3 * c);
        cpu.ropeBackward(d, heads, theta);
        assertClose("rope backward", fd(p -> refRope(p, b, t, c, heads, theta, 0), x, r), read(d), GRAD);
    }

    @Test
    void frozenParametersSkipTheirGradientsOnly() {
        // A null parameter gradient is skipped; the activation gradient is the same as with it.
        int n = 5, c = 19, oc = 7;
        double[] x = random(n * c), w = random(oc * c), r = random(n * oc), nr = random(n * c);
        Tensor in = tensor(x, n, c), weight = tensor(w, oc, c), dout = tensor(r, n, oc);
        Tensor dinFull = cpu.alloc(DType.F32, n, c), dinFrozen = cpu.alloc(DType.F32, n, c);
        cpu.matmulBackward(dinFull, cpu.alloc(DType.F32, oc, c), cpu.alloc(DType.F32, oc), dout, in, weight);
        cpu.matmulBackward(dinFrozen, null, null, dout, in, weight);
        assertArrayEquals(read(dinFull), read(dinFrozen));

        double[] g = random(c);
        Tensor out = cpu.alloc(DType.F32, n, c), mean = cpu.alloc(DType.F32, n), rstd = cpu.alloc(DType.F32, n);
        Tensor a = cpu.alloc(DType.F32, n, c), b = cpu.alloc(DType.F32, n, c);
        cpu.layerNorm(out, mean, rstd, in, tensor(g, c), null, 1e-5f);
        cpu.layerNormBackward(a, cpu.alloc(DType.F32, c), cpu.alloc(DType.F32, c), tensor(nr, n, c), in, tensor(g, c), mean, rstd);
        cpu.layerNormBackward(b, null, null, tensor(nr, n, c), in, tensor(g, c), mean, rstd);
        assertArrayEquals(read(a), read(b));
        cpu.rmsNorm(out, rstd, in, tensor(g, c), 1e-5f);
        cpu.zero(a);
        cpu.zero(b);
        cpu.rmsNormBackward(a, cpu.alloc(DType.F32, c), tensor(nr, n, c), in, tensor(g, c), rstd);
        cpu.rmsNormBackward(b, null, tensor(nr, n, c), in, tensor(g, c), rstd);
        assertArrayEquals(read(a), read(b));

        // Embedding: a frozen table still lets a learned position table take its gradient.
        int[] tok = {1, 0, 2, 1};
        Tensor dwpe = cpu.alloc(DType.F32, 2, c);
        cpu.embeddingBackward(null, dwpe, tensor(random(4 * c), 2, 2, c), ints(tok, 2, 2));
        assertNotEquals(0.0, dot(read(dwpe), read(dwpe)));
    }

    // ---- rows ----------------------------------------------------------------------------------------------

    @Test
    void poolAveragesRunsOfRowsAndSpreadsTheGradientBack() {
        int n = 9, c = 21;
        int[] seg = {0, 3, 4, 1, 2, 5, 8, 1};     // rows [0,3), row 4, rows [2,7) overlapping the first, the last row
        int s = seg.length / 2;
        double[] x = random(n * c), r = random(s * c);
        Tensor segments = ints(seg, s, 2), out = tensor(random(s * c), s, c);
        cpu.pool(out, tensor(x, n, c), segments);
        assertClose("pool", refPool(x, seg, c), read(out), FWD);
        Tensor din = tensor(random(n * c), n, c);              // garbage: overwritten, row 3 gets 0
        cpu.poolBackward(din, tensor(r, s, c), segments);
        assertClose("pool backward", fd(p -> refPool(p, seg, c), x, r), read(din), GRAD);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> cpu.pool(cpu.alloc(DType.F32, 1, c), tensor(x, n, c), ints(new int[] {7, 3}, 1, 2)));
        assertTrue(e.getMessage().contains("segment 0"), e.getMessage());
    }

    static double[] refPool(double[] x, int[] seg, int c) {
        double[] y = new double[seg.length / 2 * c];
        for (int i = 0; i < seg.length / 2; i++) {
            for (int r = 0; r < seg[2 * i + 1]; r++) {
                for (int j = 0; j < c; j++) y[i * c + j] += x[(seg[2 * i] + r) * c + j] / seg[2 * i + 1];
            }
        }
        return y;
    }

    // ---- attention -----------------------------------------------------------------------------------------

    @Test
    void attentionMatchesNaiveSoftmaxOverSeveralTiles() {
        for (int[] shape : new int[][]{{2, 70, 2, 5}, {1, 150, 2, 32}, {1, 65, 1, 64}, {2, 3, 3, 7}}) {
            int b = shape[0], t = shape[1], heads = shape[2], hs = shape[3], c = heads * hs;
            double[] x = random(b * t * 3 * c, 2);
            Tensor qkv = tensor(x, b, t, 3 * c), out = cpu.alloc(DType.F32, b, t, c), lse = cpu.alloc(DType.F32, b, heads, t);
            cpu.attention(out, lse, qkv, heads, Mask.CAUSAL);
            double[] expectLse = new double[b * heads * t];
            assertClose("attention T=" + t + " hs=" + hs, refAttention(x, b, t, c, heads, expectLse), read(out), FWD);
            assertClose("lse T=" + t, expectLse, read(lse), FWD);
        }
    }

    @Test
    void attentionBackwardMatchesFiniteDifferences() {
        // Full finite differences on a small odd shape (head size 5, two key tiles).
        int b = 1, t = 67, heads = 2, hs = 5, c = heads * hs;
        double[] x = random(b * t * 3 * c, 1.5), r = random(b * t * c);
        Tensor dqkv = attentionGrad(x, r, b, t, c, heads);
        assertClose("attention backward", fd(p -> refAttention(p, b, t, c, heads, null), x, r), read(dqkv), GRAD);
    }

    @Test
    void attentionBackwardMatchesDirectionalDerivativesAtWideHeads() {
        // Wider heads and three tiles: check the gradient along random directions (two reference evaluations each).
        for (int[] shape : new int[][]{{2, 150, 2, 32}, {1, 130, 1, 64}}) {
            int b = shape[0], t = shape[1], heads = shape[2], hs = shape[3], c = heads * hs;
            double[] x = random(b * t * 3 * c, 1.5), r = random(b * t * c);
            double[] grad = read(attentionGrad(x, r, b, t, c, heads));
            for (int k = 0; k < 3; k++) {
                double[] u = random(x.length);
                double lp = dot(r, refAttention(axpy(x, H, u), b, t, c, heads, null));
                double lm = dot(r, refAttention(axpy(x, -H, u), b, t, c, heads, null));
                double numeric = (lp - lm) / (2 * H), analytic = dot(grad, u);
                assertEquals(numeric, analytic, 1e-4 * Math.abs(numeric) + 1e-6, "direction " + k + " hs=" + hs);
            }
        }
    }

    private Tensor attentionGrad(double[] x, double[] r, int b, int t, int c, int heads) {
        return attentionGrad(x, r, b, t, c, heads, Mask.CAUSAL);
    }

    private Tensor attentionGrad(double[] x, double[] r, int b, int t, int c, int heads, Mask mask) {
        Tensor qkv = tensor(x, b, t, 3 * c), out = cpu.alloc(DType.F32, b, t, c), lse = cpu.alloc(DType.F32, b, heads, t);
        cpu.attention(out, lse, qkv, heads, mask);
        Tensor dqkv = tensor(random(x.length), b, t, 3 * c);   // garbage: must be overwritten
        cpu.attentionBackward(dqkv, tensor(r, b, t, c), qkv, out, lse, heads, mask);
        return dqkv;
    }

    /** The mask kinds beyond plain causal: bidirectional, and both with sequences padded to T. */
    private Mask[] masks(int b, int t, int[] lengths) {
        Tensor len = ints(lengths, b);
        return new Mask[] {Mask.BIDIRECTIONAL, Mask.BIDIRECTIONAL.padded(len), Mask.CAUSAL.padded(len)};
    }

    @Test
    void bidirectionalAndPaddedAttentionMatchNaiveSoftmax() {
        // Lengths that end mid-tile, on a tile boundary, and at T; T spans three 64-row tiles.
        for (int[] shape : new int[][]{{3, 150, 2, 16}, {3, 9, 3, 5}}) {
            int b = shape[0], t = shape[1], heads = shape[2], hs = shape[3], c = heads * hs;
            int[] lengths = {Math.max(1, t - 20), Math.min(t, 64), t};
            double[] x = random(b * t * 3 * c, 2);
            for (Mask mask : masks(b, t, lengths)) {
                int[] len = mask.lengths() == null ? null : lengths;
                Tensor qkv = tensor(x, b, t, 3 * c), out = tensor(random(b * t * c), b, t, c);
                Tensor lse = tensor(random(b * heads * t), b, heads, t);
                cpu.attention(out, lse, qkv, heads, mask);
                double[] expectLse = new double[b * heads * t];
                String what = (mask.causal() ? "causal" : "bidirectional") + (len == null ? "" : " padded") + " T=" + t;
                assertClose(what, refAttention(x, b, t, c, heads, mask.causal(), len, expectLse), read(out), FWD);
                assertClose(what + " lse", expectLse, read(lse), FWD);
            }
        }
    }

    @Test
    void bidirectionalAndPaddedAttentionBackwardMatchFiniteDifferences() {
        int b = 2, t = 67, heads = 2, hs = 5, c = heads * hs;
        int[] lengths = {40, 67};
        double[] x = random(b * t * 3 * c, 1.5), r = random(b * t * c);
        for (Mask mask : masks(b, t, lengths)) {
            int[] len = mask.lengths() == null ? null : lengths;
            Tensor dqkv = attentionGrad(x, r, b, t, c, heads, mask);
            assertClose((mask.causal() ? "causal" : "bidirectional") + (len == null ? "" : " padded") + " backward",
                    fd(p -> refAttention(p, b, t, c, heads, mask.causal(), len, null), x, r), read(dqkv), GRAD);
        }
    }

    @Test
    void cachedAttentionTokenByTokenEqualsFullAttentionBitForBit() {
        // Same key tiles, same summation order: generation with a cache reproduces the training forward exactly —
        // with a padded head and with heads whole vectors wide (one query then takes a path of its own).
        for (int hs : new int[] {8, 16, 64}) cachedAttentionEqualsFullAttention(hs);
    }

    private void cachedAttentionEqualsFullAttention(int hs) {
        int b = 2, t = 70, heads = 2, c = heads * hs, tmax = 80;
        double[] x = random(b * t * 3 * c, 2), y = random(b * t * 3 * c, 2);
        Tensor kc = cpu.alloc(DType.F32, b, tmax, c), vc = cpu.alloc(DType.F32, b, tmax, c);
        // Three passes over the same caches: the second one's keys overwrite the first's (single tokens read the
        // cache's transposed copy, which must follow), and before the third other values are uploaded into it.
        double[][] inputs = {x, y, x};
        for (int pass = 0; pass < 3; pass++) {
            if (pass == 2) cpu.upload(kc, new float[b * tmax * c]);
            double[] in = inputs[pass];
            Tensor qkv = tensor(in, b, t, 3 * c), out = cpu.alloc(DType.F32, b, t, c), lse = cpu.alloc(DType.F32, b, heads, t);
            cpu.attention(out, lse, qkv, heads, Mask.CAUSAL);
            assertClose("cached attention, head size " + hs + ", pass " + pass, read(out), cachedPass(in, kc, vc, b, t, c, heads), 0);
        }
    }

    /** The attention of x's sequences token by token through the caches. */
    private double[] cachedPass(double[] x, Tensor kc, Tensor vc, int b, int t, int c, int heads) {
        double[] got = new double[b * t * c];
        // A 5-token prompt, single tokens, then a 37-token chunk across the tile boundary at 64, then single tokens.
        for (int pos = 0; pos < t; ) {
            int tn = pos == 0 ? 5 : pos == 30 ? 37 : 1;
            double[] chunk = new double[b * tn * 3 * c];
            for (int bi = 0; bi < b; bi++) {
                System.arraycopy(x, (bi * t + pos) * 3 * c, chunk, bi * tn * 3 * c, tn * 3 * c);
            }
            Tensor o = cpu.alloc(DType.F32, b, tn, c);
            cpu.attentionCached(o, tensor(chunk, b, tn, 3 * c), kc, vc, pos, heads);
            double[] oc = read(o);
            for (int bi = 0; bi < b; bi++) System.arraycopy(oc, bi * tn * c, got, (bi * t + pos) * c, tn * c);
            pos += tn;
        }
        return got;
    }

    /**
     * A step's entries in one call — a prompt chunk across the tile boundary, single tokens at other positions, a
     * short chunk, in no sequence order — give the bits of the Backend's default, one attentionCached per entry on
     * its sequence's caches, in the outputs and in the caches.
     */
    @Test
    void aStepInOneCallEqualsOneCallPerEntry() {
        int s = 4, heads = 2, hs = 16, c = heads * hs, tmax = 100;
        DecodeStep step = new DecodeStep(4);
        step.add(2, 5, 70);
        step.add(0, 40, 1);
        step.add(3, 99, 1);
        step.add(1, 0, 3);
        double[] keys = random(s * tmax * c), values = random(s * tmax * c), x = random(step.rows() * 3 * c, 2);
        Backend byEntry = (Backend) java.lang.reflect.Proxy.newProxyInstance(Backend.class.getClassLoader(),
                new Class<?>[] {Backend.class}, (proxy, m, args) -> m.getName().equals("attentionCached")
                        && m.getParameterTypes()[4] == DecodeStep.class
                        ? java.lang.reflect.InvocationHandler.invokeDefault(proxy, m, args) : m.invoke(cpu, args));
        double[][] got = new double[2][];
        Tensor[] kcs = new Tensor[2];
        for (int way = 0; way < 2; way++) {
            Tensor kc = tensor(keys, s, tmax, c), vc = tensor(values, s, tmax, c);
            Tensor out = cpu.alloc(DType.F32, step.rows(), c);
            (way == 0 ? cpu : byEntry).attentionCached(out, tensor(x, step.rows(), 3 * c), kc, vc, step, heads);
            got[way] = read(out);
            kcs[way] = kc;
        }
        assertClose("one call against one per entry", got[1], got[0], 0);
        assertClose("the key caches", read(kcs[1]), read(kcs[0]), 0);
        DecodeStep past = new DecodeStep(1);
        past.add(0, 99, 2);
        assertThrows(IllegalArgumentException.class, () -> cpu.attentionCached(cpu.alloc(DType.F32, 2, c),
                cpu.alloc(DType.F32, 2, 3 * c), kcs[0], kcs[1], past, heads));
    }

    // ---- dropout -------------------------------------------------------------------------------------------

    @Test
    void dropoutMasksFollowRng() {
        int n = 20_011;
        float p = 0.25f;
        long seed = 1234;
        double[] x = random(n);
        Tensor in = tensor(x, n), out = cpu.alloc(DType.F32, n);
        cpu.dropout(out, in, p, seed);
        double[] y = read(out);
        int dropped = 0;
        for (int i = 0; i < n; i++) {
            boolean keep = Rng.keep(seed, i, p);
            if (!keep) dropped++;
            assertEquals(keep ? (float) (x[i] / (1 - p)) : 0f, (float) y[i], 1e-6, "element " + i);
        }
        assertEquals(p, dropped / (double) n, 0.01);
        cpu.dropoutBackward(in, in, p, seed);   // in place; the same mask
        assertClose("dropout backward", y, read(in), 0);
        cpu.dropout(out, tensor(x, n), 0f, seed);
        assertClose("dropout p=0", x, read(out), 0);
    }

    // ---- loss ----------------------------------------------------------------------------------------------

    @Test
    void crossEntropyLossGradientIgnoreAndPadding() {
        int n = 5, v = 11, vp = 16;
        int[] targets = {3, -1, 10, 0, 7};
        float gradScale = 0.2f;
        double[] z = random(n * vp, 4);
        Tensor logits = tensor(z, n, vp), losses = cpu.alloc(DType.F32, n), tg = ints(targets, n);
        cpu.crossEntropy(losses, logits, tg, v, 0f);
        assertClose("losses", refCrossEntropy(z, targets, n, v, vp), read(losses), FWD);
        assertClose("logits untouched when gradScale=0", z, read(logits), 0);

        cpu.crossEntropy(losses, logits, tg, v, gradScale);
        assertClose("losses", refCrossEntropy(z, targets, n, v, vp), read(losses), FWD);
        double[] r = new double[n];
        java.util.Arrays.fill(r, gradScale);
        double[] expect = fd(p -> refCrossEntropy(p, targets, n, v, vp), z, r);
        double[] got = read(logits);
        assertClose("dlogits", expect, got, GRAD);
        for (int j = 0; j < vp; j++) assertEquals(0.0, got[vp + j], "ignored row column " + j);
        for (int i = 0; i < n; i++) for (int j = v; j < vp; j++) assertEquals(0.0, got[i * vp + j], "padding " + i + "," + j);
        assertEquals(0.0, read(losses)[1]);
    }

    /** τ²·KL(softmax(t/τ) ‖ softmax(s/τ)) per row, in double. */
    private static double[] refKl(double[] s, double[] t, int n, int v, int vp, double tau) {
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            double ms = Double.NEGATIVE_INFINITY, mt = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < v; j++) {
                ms = Math.max(ms, s[i * vp + j] / tau);
                mt = Math.max(mt, t[i * vp + j] / tau);
            }
            double zs = 0, zt = 0;
            for (int j = 0; j < v; j++) {
                zs += Math.exp(s[i * vp + j] / tau - ms);
                zt += Math.exp(t[i * vp + j] / tau - mt);
            }
            double kl = 0;
            for (int j = 0; j < v; j++) {
                double lp = t[i * vp + j] / tau - mt - Math.log(zt), lq = s[i * vp + j] / tau - ms - Math.log(zs);
                kl += Math.exp(lp) * (lp - lq);
            }
            out[i] = tau * tau * kl;
        }
        return out;
    }

    @Test
    void klDivergenceAtATemperatureWithItsGradientAndPadding() {
        int n = 5, v = 37, vp = 48;
        float tau = 2f, gradScale = 0.3f;
        double[] s = random(n * vp, 3), t = map(random(n * vp, 4), x -> 3 * x);
        Tensor student = tensor(s, n, vp), teacher = tensor(t, n, vp), losses = cpu.alloc(DType.F32, n);
        double[] teacherBefore = read(teacher);
        cpu.klDivergence(losses, student, teacher, v, tau, 0f);
        assertClose("losses", refKl(s, t, n, v, vp, tau), read(losses), FWD);
        assertClose("student untouched when gradScale=0", s, read(student), 0);
        cpu.klDivergence(losses, student, teacher, v, tau, gradScale);
        double[] r = new double[n];
        java.util.Arrays.fill(r, gradScale);
        double[] got = read(student);
        assertClose("dstudent", fd(p -> refKl(p, t, n, v, vp, tau), s, r), got, GRAD);
        for (int i = 0; i < n; i++) for (int j = v; j < vp; j++) assertEquals(0.0, got[i * vp + j], "padding " + i + "," + j);
        assertClose("teacher untouched", teacherBefore, read(teacher), 0);

        // A student equal to its teacher: no divergence and no gradient, at any temperature.
        Tensor same = tensor(t, n, vp);
        cpu.klDivergence(losses, same, teacher, v, 0.7f, 1f);
        for (double l : read(losses)) assertEquals(0.0, l, 1e-6);
        for (double g : read(same)) assertEquals(0.0, g, 1e-7);
    }

    private static double[] refCosine(double[] a, double[] b, int n, int c) {
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            double ab = 0, aa = 0, bb = 0;
            for (int j = 0; j < c; j++) {
                ab += a[i * c + j] * b[i * c + j];
                aa += a[i * c + j] * a[i * c + j];
                bb += b[i * c + j] * b[i * c + j];
            }
            out[i] = 1 - ab / (Math.max(Math.sqrt(aa), 1e-8) * Math.max(Math.sqrt(bb), 1e-8));
        }
        return out;
    }

    @Test
    void cosineLossAndItsGradient() {
        int n = 6, c = 35;
        float gradScale = 0.5f;
        double[] a = random(n * c, 5), b = random(n * c, 6);
        for (int j = 0; j < c; j++) b[c + j] = -2 * a[c + j];                 // row 1: opposite, loss 2
        for (int j = 0; j < c; j++) b[2 * c + j] = 3 * a[2 * c + j];           // row 2: aligned, loss 0
        Tensor ta = tensor(a, n, c), tb = tensor(b, n, c), losses = cpu.alloc(DType.F32, n), da = cpu.alloc(DType.F32, n, c);
        cpu.cosineLoss(losses, null, ta, tb, gradScale);
        double[] want = refCosine(a, b, n, c);
        assertClose("losses", want, read(losses), FWD);
        assertEquals(2.0, read(losses)[1], 1e-6);
        assertEquals(0.0, read(losses)[2], 1e-6);
        cpu.cosineLoss(losses, da, ta, tb, gradScale);
        double[] r = new double[n];
        java.util.Arrays.fill(r, gradScale);
        assertClose("da", fd(p -> refCosine(p, b, n, c), a, r), read(da), GRAD);
        assertClose("inputs untouched", a, read(ta), 0);
    }

    // ---- optimiser -----------------------------------------------------------------------------------------

    @Test
    void globalNormOverManyChunks() {
        int n = 100_003;
        double[] x = random(n);
        Tensor out = cpu.alloc(DType.F32, 1);
        cpu.globalNorm(out, tensor(x, n));
        assertEquals(Math.sqrt(dot(x, x)), read(out)[0], 1e-5 * Math.sqrt(dot(x, x)));
    }

    @Test
    void adamWMatchesHandComputedStepWithClipping() {
        int n = 37;
        double[] w = random(n), g = random(n), m = random(n, 0.1), v = map(random(n), a -> a * a * 0.01);
        AdamW hp = new AdamW(1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 3, 1.0f);
        double norm = 2.5;   // pretend the global norm is 2.5 → clip by 1/2.5
        Tensor tw = tensor(w, n), tm = tensor(m, n), tv = tensor(v, n), normT = tensor(new double[]{norm}, 1);
        cpu.adamW(tw, tensor(g, n), tm, tv, null, normT, hp);
        double clip = Math.min(1, 1.0 / (norm + 1e-6));
        double[] ew = new double[n], em = new double[n], ev = new double[n];
        for (int i = 0; i < n; i++) {
            double gi = g[i] * clip;
            em[i] = 0.9 * m[i] + 0.1 * gi;
            ev[i] = 0.95 * v[i] + 0.05 * gi * gi;
            double mh = em[i] / (1 - Math.pow(0.9, 3)), vh = ev[i] / (1 - Math.pow(0.95, 3));
            ew[i] = w[i] - 1e-2 * (mh / (Math.sqrt(vh) + 1e-8) + 0.1 * w[i]);
        }
        assertClose("m", em, read(tm), FWD);
        assertClose("v", ev, read(tv), FWD);
        assertClose("w", ew, read(tw), FWD);

        // BF16 params with an F32 master copy, no clipping: the master takes the update, params its rounding.
        Tensor master = tensor(w, n), half = cpu.alloc(DType.BF16, n);
        cpu.copy(half, master);
        cpu.adamW(half, tensor(g, n), tensor(m, n), tensor(v, n), master, null, hp);
        double[] mw = read(master);
        float[] hw = new float[n];
        cpu.download(half, hw);
        for (int i = 0; i < n; i++) {
            double mi = 0.9 * m[i] + 0.1 * g[i], vi = 0.95 * v[i] + 0.05 * g[i] * g[i];
            double upd = (mi / (1 - Math.pow(0.9, 3))) / (Math.sqrt(vi / (1 - Math.pow(0.95, 3))) + 1e-8) + 0.1 * w[i];
            assertEquals(w[i] - 1e-2 * upd, mw[i], 1e-6, "master " + i);
            assertEquals(CpuStorage.fromBf16(CpuStorage.toBf16((float) mw[i])), hw[i], "bf16 param " + i);
        }
    }

    @Test
    void statisticsMayBeShapedLikeTheRows() {
        int b = 2, t = 3, c = 13;
        double[] x = random(b * t * c), w = random(c), bias = random(c);
        Tensor out = cpu.alloc(DType.F32, b * t, c);
        cpu.layerNorm(out, cpu.alloc(DType.F32, b, t), cpu.alloc(DType.F32, b, t), tensor(x, b, t, c), tensor(w, c),
                tensor(bias, c), 1e-5f);
        assertClose("layerNorm on [B,T,C] into [N,C]", refLayerNorm(x, w, bias, c), read(out), FWD);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> cpu.layerNorm(out,
                cpu.alloc(DType.F32, b), cpu.alloc(DType.F32, b * t), tensor(x, b, t, c), tensor(w, c), null, 1e-5f));
        assertTrue(e.getMessage().startsWith("layerNorm: mean is F32[2], expected 6 elements"), e.getMessage());
    }

    // ---- references (double precision) --------------------------------------------------------------------

    static double[] refLayerNorm(double[] x, double[] w, double[] b, int c) {
        double[] y = new double[x.length];
        for (int r = 0; r < x.length / c; r++) {
            double mean = 0, var = 0;
            for (int i = 0; i < c; i++) mean += x[r * c + i] / c;
            for (int i = 0; i < c; i++) var += (x[r * c + i] - mean) * (x[r * c + i] - mean) / c;
            double s = 1 / Math.sqrt(var + 1e-5);
            for (int i = 0; i < c; i++) y[r * c + i] = (x[r * c + i] - mean) * s * w[i] + b[i];
        }
        return y;
    }

    static double[] refRmsNorm(double[] x, double[] w, int c) {
        double[] y = new double[x.length];
        for (int r = 0; r < x.length / c; r++) {
            double ms = 0;
            for (int i = 0; i < c; i++) ms += x[r * c + i] * x[r * c + i] / c;
            double s = 1 / Math.sqrt(ms + 1e-5);
            for (int i = 0; i < c; i++) y[r * c + i] = x[r * c + i] * s * w[i];
        }
        return y;
    }

    static double[] refLinear(double[] x, double[] w, double[] b, int n, int c, int oc) {
        double[] y = new double[n * oc];
        for (int i = 0; i < n; i++) {
            for (int o = 0; o < oc; o++) {
                double s = b == null ? 0 : b[o];
                for (int k = 0; k < c; k++) s += x[i * c + k] * w[o * c + k];
                y[i * oc + o] = s;
            }
        }
        return y;
    }

    static double gelu(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    static double[] refGlu(double[] x, int n, int h, Glu kind) {
        double[] y = new double[n * h];
        for (int r = 0; r < n; r++) {
            for (int i = 0; i < h; i++) {
                double g = x[r * 2 * h + i], u = x[r * 2 * h + h + i];
                y[r * h + i] = (kind == Glu.SWIGLU ? g / (1 + Math.exp(-g)) : gelu(g)) * u;
            }
        }
        return y;
    }

    static double[] refRope(double[] x, int b, int t, int c, int heads, double theta, int pos) {
        double[] y = x.clone();
        int hs = c / heads, half = hs / 2;
        for (int bi = 0; bi < b; bi++) {
            for (int ti = 0; ti < t; ti++) {
                for (int head = 0; head < 2 * heads; head++) {     // q heads, then k heads
                    int base = (bi * t + ti) * 3 * c + head * hs;
                    for (int i = 0; i < half; i++) {
                        double angle = (pos + ti) * Math.pow(theta, -2.0 * i / hs);
                        double x1 = x[base + i], x2 = x[base + half + i];
                        y[base + i] = x1 * Math.cos(angle) - x2 * Math.sin(angle);
                        y[base + half + i] = x1 * Math.sin(angle) + x2 * Math.cos(angle);
                    }
                }
            }
        }
        return y;
    }

    /** Naive causal softmax(q·kᵀ/√hs)·v; fills lse [B,H,T] when given. */
    static double[] refAttention(double[] x, int b, int t, int c, int heads, double[] lse) {
        return refAttention(x, b, t, c, heads, true, null, lse);
    }

    /**
     * Naive softmax(q·kᵀ/√hs)·v over keys j &lt; length (and j ≤ i when causal); queries at padded positions give 0
     * and lse 0. lengths null: all T.
     */
    static double[] refAttention(double[] x, int b, int t, int c, int heads, boolean causal, int[] lengths, double[] lse) {
        int hs = c / heads;
        double[] out = new double[b * t * c], p = new double[t];
        for (int bi = 0; bi < b; bi++) {
            int len = lengths == null ? t : lengths[bi];
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < len; i++) {
                    int q = (bi * t + i) * 3 * c + h * hs, last = causal ? i : len - 1;
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= last; j++) {
                        int k = (bi * t + j) * 3 * c + c + h * hs;
                        double s = 0;
                        for (int d = 0; d < hs; d++) s += x[q + d] * x[k + d];
                        p[j] = s / Math.sqrt(hs);
                        max = Math.max(max, p[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= last; j++) sum += p[j] = Math.exp(p[j] - max);
                    if (lse != null) lse[(bi * heads + h) * t + i] = max + Math.log(sum);
                    for (int j = 0; j <= last; j++) {
                        int v = (bi * t + j) * 3 * c + 2 * c + h * hs;
                        for (int d = 0; d < hs; d++) out[(bi * t + i) * c + h * hs + d] += p[j] / sum * x[v + d];
                    }
                }
            }
        }
        return out;
    }

    static double[] refCrossEntropy(double[] z, int[] targets, int n, int v, int vp) {
        double[] loss = new double[n];
        for (int i = 0; i < n; i++) {
            if (targets[i] < 0) continue;
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int j = 0; j < v; j++) max = Math.max(max, z[i * vp + j]);
            for (int j = 0; j < v; j++) sum += Math.exp(z[i * vp + j] - max);
            loss[i] = max + Math.log(sum) - z[i * vp + targets[i]];
        }
        return loss;
    }

    // ---- helpers -------------------------------------------------------------------------------------------

    /** ∂(Σ r·f(x))/∂x by central differences in double precision. */
    static double[] fd(UnaryOperator<double[]> f, double[] x, double[] r) {
        double[] g = new double[x.length], p = x.clone();
        for (int i = 0; i < x.length; i++) {
            p[i] = x[i] + H;
            double lp = dot(r, f.apply(p));
            p[i] = x[i] - H;
            double lm = dot(r, f.apply(p));
            p[i] = x[i];
            g[i] = (lp - lm) / (2 * H);
        }
        return g;
    }

    /** max |expected − actual| relative to max |expected| (absolute when expected is all zero). */
    static void assertClose(String what, double[] expected, double[] actual, double tol) {
        assertEquals(expected.length, actual.length, what + ": length");
        double err = 0, scale = 0;
        int worst = 0;
        for (int i = 0; i < expected.length; i++) {
            double e = Math.abs(expected[i] - actual[i]);
            if (e > err || Double.isNaN(actual[i])) { err = Double.isNaN(actual[i]) ? Double.POSITIVE_INFINITY : e; worst = i; }
            scale = Math.max(scale, Math.abs(expected[i]));
        }
        double rel = scale == 0 ? err : err / scale;
        assertTrue(rel <= tol, what + ": relative error " + rel + " at " + worst + " (expected " + expected[worst]
                + ", got " + actual[worst] + ")");
    }

    private double[] random(int n) { return random(n, 1); }

    /** Uniform in [−scale, scale), rounded to float so reference and backend see the same inputs. */
    private double[] random(int n, double scale) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) x[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
        return x;
    }

    private Tensor tensor(double[] v, int... shape) {
        Tensor t = cpu.alloc(DType.F32, shape);
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) f[i] = (float) v[i];
        cpu.upload(t, f);
        return t;
    }

    private Tensor ints(int[] v, int... shape) {
        Tensor t = cpu.alloc(DType.I32, shape);
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

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    static double[] add(double[] a, double[] b) {
        double[] c = new double[a.length];
        for (int i = 0; i < a.length; i++) c[i] = a[i] + b[i];
        return c;
    }

    static double[] axpy(double[] x, double a, double[] u) {
        double[] c = new double[x.length];
        for (int i = 0; i < x.length; i++) c[i] = x[i] + a * u[i];
        return c;
    }

    static double[] map(double[] x, java.util.function.DoubleUnaryOperator f) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = f.applyAsDouble(x[i]);
        return y;
    }
}
