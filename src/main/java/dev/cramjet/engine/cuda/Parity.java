package dev.cramjet.engine.cuda;

import dev.cramjet.engine.AdamW;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.DType;
import dev.cramjet.engine.Epilogue;
import dev.cramjet.engine.Glu;
import dev.cramjet.engine.Mask;
import dev.cramjet.engine.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * The parity suite behind `cramjet selftest`: every Backend op on a candidate backend against the CPU reference,
 * on fresh random inputs, as relative errors ‖out − ref‖/‖ref‖ with bounds by precision (fp32 outputs 1e-3,
 * bf16 outputs 1e-2), and NaN never. Overwritten outputs are poisoned with NaN first, so an element a kernel
 * forgets to write fails the check; accumulated outputs start from random values, so "+=" is checked too.
 * Inputs are rounded to bf16 before either backend sees them, so differences come from the computation alone.
 * Q8_0 quantization must agree bit for bit (bound 0): both backends promise ggml's rule exactly.
 * Lives in main code so it runs from the bundle on a bare GPU machine, without Maven or JUnit; `cramjet selftest`
 * adds the whole-model check (a small GPT trained on both backends) on top.
 */
public final class Parity {
    /** Bound for outputs stored in bf16 (one rounding at the end is up to 2^-9 ≈ 2e-3 relative). */
    public static final double BF16_BOUND = 1e-2;
    /** Bound for fp32 outputs computed from identical inputs. */
    public static final double F32_BOUND = 1e-3;

    /** One compared output. */
    public record Result(String op, String output, double relError, double bound, boolean hasNaN) {
        public boolean passed() { return !hasNaN && relError <= bound; }
    }

    /** Shapes of the op cases: odd sizes, so tails and unaligned rows are exercised. */
    private static final int B = 2, T = 37, C = 64, V = 101;

    private final Backend reference, candidate;
    private final long seed;
    private final List<Result> results = new ArrayList<>();

    public Parity(Backend reference, Backend candidate, long seed) {
        this.reference = reference;
        this.candidate = candidate;
        this.seed = seed;
    }

    /** Runs every op case; returns all results (also kept for {@link #results()}). */
    public List<Result> runOps() {
        int b = B, t = T, c = C, h = 4, v = V, vp = 128;
        int n = b * t;
        compare("embedding", x -> {
            Tensor tok = x.ints(v, b, t), wte = x.act(v, c), wpe = x.act(t + 5, c);
            Tensor out = x.poisoned(x.act, b, t, c);
            x.be.embedding(out, tok, wte, wpe, 5);
            x.result("out", out);
        });
        compare("embedding Q8_0", x -> {
            Tensor tok = x.ints(v, b, t), wte = x.q8(1f, v, c), wpe = x.act(t, c);
            Tensor out = x.poisoned(x.act, b, t, c);
            x.be.embedding(out, tok, wte, wpe, 0);
            x.result("out", out);
        });
        gradientOps(false);
        gradientOps(true);
        frozenOps();
        for (int width : new int[] {c, 20}) {
            compare("layerNorm C=" + width, x -> {
                Tensor in = x.act(n, width), w = x.act(width), bias = x.act(width);
                Tensor out = x.poisoned(x.act, n, width), mean = x.poisoned(DType.F32, n), rstd = x.poisoned(DType.F32, n);
                x.be.layerNorm(out, mean, rstd, in, w, bias, 1e-5f);
                x.result("out", out);
                x.result("mean", mean);
                x.result("rstd", rstd);
            });
            if (width != c) compare("layerNormBackward C=" + width, x -> {
                Tensor in = x.act(n, width), w = x.act(width), bias = x.act(width), dout = x.act(n, width);
                Tensor out = x.poisoned(x.act, n, width), mean = x.poisoned(DType.F32, n), rstd = x.poisoned(DType.F32, n);
                x.be.layerNorm(out, mean, rstd, in, w, bias, 1e-5f);
                Tensor din = x.act(n, width), dw = x.grad(width), db = x.grad(width);
                x.be.layerNormBackward(din, dw, db, dout, in, w, mean, rstd);
                x.result("din", din);
                x.result("dweight", dw);
                x.result("dbias", db);
            });
        }
        compare("rmsNorm", x -> {
            Tensor in = x.act(n, c), w = x.act(c);
            Tensor out = x.poisoned(x.act, n, c), rstd = x.poisoned(DType.F32, n);
            x.be.rmsNorm(out, rstd, in, w, 1e-5f);
            x.result("out", out);
            x.result("rstd", rstd);
        });
        int oc = 3 * c;
        compare("matmul bias", x -> {
            Tensor in = x.act(n, c), w = x.act(0.2f, oc, c), bias = x.act(oc), out = x.poisoned(x.act, n, oc);
            x.be.matmul(out, in, w, bias, Epilogue.NONE);
            x.result("out", out);
        });
        compare("matmul gelu", x -> {
            Tensor in = x.act(n, c), w = x.act(0.2f, oc, c), bias = x.act(oc);
            Tensor out = x.poisoned(x.act, n, oc), pre = x.poisoned(x.act, n, oc);
            x.be.matmul(out, in, w, bias, new Epilogue.Gelu(pre));
            x.result("out", out);
            x.result("pre", pre);
        });
        q8Matmuls(oc);
        for (float p : new float[] {0f, 0.2f}) {
            compare("matmul residual p=" + p, x -> {
                Tensor in = x.act(n, oc), w = x.act(0.1f, c, oc), bias = x.act(c), res = x.act(n, c);
                x.be.matmul(res, in, w, bias, new Epilogue.Residual(res, p, 1234L));  // in place: out is the residual
                x.result("out", res);
            });
        }
        compare("gelu", x -> {
            Tensor in = x.act(2f, n, c), out = x.poisoned(x.act, n, c);
            x.be.gelu(out, in);
            x.result("out", out);
        });
        compare("geluBackward", x -> {
            Tensor pre = x.act(2f, n, c), dout = x.act(n, c), din = x.poisoned(x.act, n, c);
            x.be.geluBackward(din, pre, dout);
            x.result("din", din);
        });
        for (Glu kind : Glu.values()) {
            compare("glu " + kind, x -> {
                Tensor in = x.act(n, 2 * c), out = x.poisoned(x.act, n, c);
                x.be.glu(out, in, kind);
                x.result("out", out);
            });
            compare("gluBackward " + kind, x -> {
                Tensor in = x.act(n, 2 * c), dout = x.act(n, c), din = x.poisoned(x.act, n, 2 * c);
                x.be.gluBackward(din, dout, in, kind);
                x.result("din", din);
            });
        }
        compare("add", x -> {
            Tensor a = x.act(n, c), bb = x.act(n, c), out = x.poisoned(x.act, n, c);
            x.be.add(out, a, bb);
            x.result("out", out);
        });
        compare("scale", x -> {
            Tensor a = x.act(n, c);
            x.be.scale(a, -0.37f);
            x.result("t", a);
        });
        compare("rope", x -> {
            Tensor qkv = x.act(b, t, 3 * c);
            x.be.rope(qkv, h, 10000f, 3);
            x.result("qkv", qkv);
        });
        compare("ropeBackward", x -> {
            Tensor dqkv = x.act(b, t, 3 * c);
            x.be.ropeBackward(dqkv, h, 10000f);
            x.result("dqkv", dqkv);
        });
        // hs = 16 with a short sequence under every mask, hs = 64 (GPT-2's) across two 64-row query blocks and key
        // tiles, and hs = 128 (whose tiles are 32 and 16 rows), causal and padded bidirectional. The second
        // sequence's valid length ends inside a query block and a key tile. (Small, because the test suite runs this
        // under a CPU emulation of the tensor cores.)
        attentionOps(new int[] {b, t, c, h}, 19, true);
        attentionOps(new int[] {2, 80, 128, 2}, 70, false);
        attentionOps(new int[] {2, 40, 256, 2}, 23, false);
        compare("attentionCached", x -> {
            int t1 = 20, t2 = 9, tmax = 40;
            Tensor qa = x.act(b, t1, 3 * c), qb = x.act(b, t2, 3 * c);
            Tensor kc = x.poisoned(x.act, b, tmax, c), vc = x.poisoned(x.act, b, tmax, c);
            Tensor oa = x.poisoned(x.act, b, t1, c), ob = x.poisoned(x.act, b, t2, c);
            x.be.attentionCached(oa, qa, kc, vc, 0, h);
            x.be.attentionCached(ob, qb, kc, vc, t1, h);
            x.result("out prefix", oa);
            x.result("out next", ob);
        });
        for (String which : new String[] {"dropout", "dropoutBackward"}) {
            compare(which, x -> {
                Tensor in = x.act(n, c), out = x.poisoned(x.act, n, c);
                if (which.equals("dropout")) x.be.dropout(out, in, 0.3f, 99L);
                else x.be.dropoutBackward(out, in, 0.3f, 99L);
                x.result("out", out);
            });
        }
        for (float gradScale : new float[] {0f, 1f / n}) {
            compare("crossEntropy gradScale=" + (gradScale == 0 ? "0" : "1/N"), x -> {
                Tensor logits = x.act(3f, n, vp), losses = x.poisoned(DType.F32, n);
                int[] tg = new int[n];
                for (int i = 0; i < n; i++) tg[i] = i % 5 == 0 ? -1 : x.rnd.nextInt(v);
                Tensor targets = x.be.alloc(DType.I32, n);
                x.be.upload(targets, tg);
                x.be.crossEntropy(losses, logits, targets, v, gradScale);
                x.result("losses", losses);
                x.result("logits", logits);
            });
        }
        compare("copy", x -> {
            Tensor f = x.f32(n, c), bf = x.poisoned(x.act, n, c), back = x.poisoned(DType.F32, n, c);
            x.be.copy(bf, f);
            x.be.copy(back, bf);
            x.result("converted", back);
        });
        // Runs of rows: gathers, a whole sequence, overlapping runs, and rows in no segment (their gradient is 0).
        int[][] runs = {{0, 1}, {10, 5}, {12, 4}, {t, t}, {60, 1}, {n - 1, 1}};
        compare("pool", x -> {
            Tensor in = x.act(n, c), out = x.poisoned(x.act, runs.length, c);
            x.be.pool(out, in, x.segments(runs));
            x.result("out", out);
        });
        compare("poolBackward", x -> {
            Tensor dout = x.act(runs.length, c), din = x.poisoned(x.act, n, c);
            x.be.poolBackward(din, dout, x.segments(runs));
            x.result("din", din);
        });
        quantization();
        return results;
    }

    /**
     * Attention forward and backward for one shape {B, T, C, H}: causal, and bidirectional padded with sequence 1
     * {@code length} long, plus the other two masks when {@code everyMask}.
     */
    private void attentionOps(int[] shape, int length, boolean everyMask) {
        int ab = shape[0], at = shape[1], ac = shape[2], ah = shape[3];
        List<String> masks = everyMask ? List.of("causal", "bidirectional", "causal padded", "bidirectional padded")
                : List.of("causal", "bidirectional padded");
        for (String kind : masks) {
            String name = " hs=" + ac / ah + " " + kind;
            Function<Case, Mask> mask = x -> {
                Mask m = kind.startsWith("causal") ? Mask.CAUSAL : Mask.BIDIRECTIONAL;
                return kind.endsWith("padded") ? m.padded(x.ints(new int[] {at, length}, ab)) : m;
            };
            compare("attention" + name, x -> {
                Tensor qkv = x.act(ab, at, 3 * ac), out = x.poisoned(x.act, ab, at, ac), lse = x.poisoned(DType.F32, ab, ah, at);
                x.be.attention(out, lse, qkv, ah, mask.apply(x));
                x.result("out", out);
                x.result("lse", lse);
            });
            compare("attentionBackward" + name, x -> {
                Tensor qkv = x.act(ab, at, 3 * ac), out = x.poisoned(x.act, ab, at, ac), lse = x.poisoned(DType.F32, ab, ah, at);
                Mask m = mask.apply(x);
                x.be.attention(out, lse, qkv, ah, m);
                Tensor dout = x.act(ab, at, ac), dqkv = x.poisoned(x.act, ab, at, 3 * ac);
                x.be.attentionBackward(dqkv, dout, qkv, out, lse, ah, m);
                x.result("dqkv", dqkv);
            });
        }
    }

    /** Backward ops with frozen parameters (null gradients): the activation gradients and the trainable rest. */
    private void frozenOps() {
        int b = B, t = T, c = C, n = B * T;
        compare("matmulBackward frozen weight", x -> {
            Tensor in = x.act(n, c), w = x.act(0.2f, 3 * c, c), dout = x.act(n, 3 * c);
            Tensor din = x.poisoned(x.act, n, c), db = x.grad(3 * c);
            x.be.matmulBackward(din, null, db, dout, in, w);
            x.result("din", din);
            x.result("dbias", db);
        });
        for (boolean trainBias : new boolean[] {false, true}) {
            compare("layerNormBackward frozen " + (trainBias ? "weight" : "weight and bias"), x -> {
                Tensor in = x.act(n, c), w = x.act(c), bias = x.act(c), dout = x.act(n, c);
                Tensor out = x.poisoned(x.act, n, c), mean = x.poisoned(DType.F32, n), rstd = x.poisoned(DType.F32, n);
                x.be.layerNorm(out, mean, rstd, in, w, bias, 1e-5f);
                Tensor din = x.act(n, c), db = trainBias ? x.grad(c) : null;
                x.be.layerNormBackward(din, null, db, dout, in, w, mean, rstd);
                x.result("din", din);
                if (trainBias) x.result("dbias", db);
            });
        }
        compare("rmsNormBackward frozen weight", x -> {
            Tensor in = x.act(n, c), w = x.act(c), dout = x.act(n, c);
            Tensor out = x.poisoned(x.act, n, c), rstd = x.poisoned(DType.F32, n);
            x.be.rmsNorm(out, rstd, in, w, 1e-5f);
            Tensor din = x.act(n, c);
            x.be.rmsNormBackward(din, null, dout, in, w, rstd);
            x.result("din", din);
        });
        compare("embeddingBackward frozen wte", x -> {
            Tensor tok = x.ints(7, b, t), dout = x.act(b, t, c), dwpe = x.grad(t, c);
            x.be.embeddingBackward(null, dwpe, dout, tok);
            x.result("dwpe", dwpe);
        });
    }

    /** y = x·Wᵀ with a Q8_0 weight: few rows (decoding, the int8 GEMV) and many (a prompt), with epilogues. */
    private void q8Matmuls(int oc) {
        int c = C;
        for (int rows : new int[] {3, B * T}) {
            compare("matmul Q8_0 rows=" + rows + " bias", x -> {
                Tensor in = x.act(rows, c), w = x.q8(0.2f, oc, c), bias = x.act(oc), out = x.poisoned(x.act, rows, oc);
                x.be.matmul(out, in, w, bias, Epilogue.NONE);
                x.result("out", out);
            });
            compare("matmul Q8_0 rows=" + rows + " gelu", x -> {
                Tensor in = x.act(rows, c), w = x.q8(0.2f, oc, c);
                Tensor out = x.poisoned(x.act, rows, oc), pre = x.poisoned(x.act, rows, oc);
                x.be.matmul(out, in, w, null, new Epilogue.Gelu(pre));
                x.result("out", out);
                x.result("pre", pre);
            });
            float p = rows == 3 ? 0.2f : 0f;
            compare("matmul Q8_0 rows=" + rows + " residual p=" + p, x -> {
                Tensor in = x.act(rows, oc), w = x.q8(0.1f, c, oc), res = x.act(rows, c);
                x.be.matmul(res, in, w, null, new Epilogue.Residual(res, p, 77L));
                x.result("out", res);
            });
        }
    }

    /**
     * Q8_0 storage, bit for bit: quantizing fp32 values by upload, by copy from F32 and from BF16, and by fill, with
     * blocks that test the rule's corners (all zero, an fp16-subnormal scale, a scale that overflows fp16, exact
     * halves that round away from zero); raw blocks in and out, and their expansion to F32 and BF16.
     */
    private void quantization() {
        int rows = 4, cols = 96;
        compare("Q8_0 quantize", x -> {
            float[] values = new float[rows * cols];
            for (int i = 0; i < values.length; i++) values[i] = (float) x.rnd.nextGaussian();
            for (int j = 0; j < 32; j++) {
                values[j] = 0;                                               // d = 0
                values[32 + j] = (float) x.rnd.nextGaussian() * 1e-4f;       // d below fp16's smallest normal
                values[64 + j] = (float) x.rnd.nextGaussian() * 1e7f;        // d above fp16's largest: Inf
                values[96 + j] = (j % 2 == 0 ? 1 : -1) * (j % 8 + 0.5f);    // d = 1: ±0.5, ±1.5, … round away from 0
            }
            values[96] = 127;
            Tensor f = x.be.alloc(DType.F32, rows, cols), h = x.be.alloc(DType.BF16, rows, cols);
            x.be.upload(f, values);
            x.be.upload(h, values);
            Tensor up = x.be.alloc(DType.Q8_0, rows, cols), fromF = x.be.alloc(DType.Q8_0, rows, cols);
            Tensor fromH = x.be.alloc(DType.Q8_0, rows, cols), filled = x.be.alloc(DType.Q8_0, rows, cols);
            x.be.upload(up, values);
            x.be.copy(fromF, f);
            x.be.copy(fromH, h);
            x.be.fill(filled, -0.37f);
            x.exact("upload", up);
            x.exact("copy F32", fromF);
            x.exact("copy BF16", fromH);
            x.exact("fill", filled);
        });
        compare("Q8_0 blocks", x -> {
            int blocks = rows * cols / 32;
            byte[] raw = new byte[blocks * DType.Q8_0.blockBytes];
            x.rnd.nextBytes(raw);
            for (int k = 0; k < blocks; k++) {  // finite scales, so the expansions are finite
                short d = Float.floatToFloat16((float) (0.001 + 0.1 * x.rnd.nextDouble()));
                raw[34 * k] = (byte) d;
                raw[34 * k + 1] = (byte) (d >> 8);
            }
            Tensor q = x.be.alloc(DType.Q8_0, rows, cols);
            x.be.upload(q, raw);
            Tensor f = x.poisoned(DType.F32, rows, cols), h = x.poisoned(DType.BF16, rows, cols);
            x.be.copy(f, q);
            x.be.copy(h, q);
            x.exact("raw", q);
            x.exact("download", q, false);
            x.exact("copy F32", f);
            x.exact("copy BF16", h);
        });
    }

    public List<Result> results() { return results; }

    /** The ops that accumulate parameter gradients, with gradients of the compute type or (f32) F32. */
    private void gradientOps(boolean f32) {
        int b = B, t = T, c = C, v = V, n = B * T;
        String grads = f32 ? " (F32 grads)" : "";
        compare("embeddingBackward" + grads, f32, x -> {
            Tensor tok = x.ints(7, b, t), dout = x.act(b, t, c);  // few distinct ids: many collisions
            Tensor dwte = x.grad(v, c), dwpe = x.grad(t + 3, c);
            x.be.embeddingBackward(dwte, dwpe, dout, tok);
            x.result("dwte", dwte);
            x.result("dwpe", dwpe);
        });
        compare("layerNormBackward" + grads, f32, x -> {
            Tensor in = x.act(n, c), w = x.act(c), bias = x.act(c), dout = x.act(n, c);
            Tensor out = x.poisoned(x.act, n, c), mean = x.poisoned(DType.F32, n), rstd = x.poisoned(DType.F32, n);
            x.be.layerNorm(out, mean, rstd, in, w, bias, 1e-5f);
            Tensor din = x.act(n, c), dw = x.grad(c), db = x.grad(c);
            x.be.layerNormBackward(din, dw, db, dout, in, w, mean, rstd);
            x.result("din", din);
            x.result("dweight", dw);
            x.result("dbias", db);
        });
        compare("rmsNormBackward" + grads, f32, x -> {
            Tensor in = x.act(n, c), w = x.act(c), dout = x.act(n, c);
            Tensor out = x.poisoned(x.act, n, c), rstd = x.poisoned(DType.F32, n);
            x.be.rmsNorm(out, rstd, in, w, 1e-5f);
            Tensor din = x.act(n, c), dw = x.grad(c);
            x.be.rmsNormBackward(din, dw, dout, in, w, rstd);
            x.result("din", din);
            x.result("dweight", dw);
        });
        compare("matmulBackward" + grads, f32, x -> {
            Tensor in = x.act(n, c), w = x.act(0.2f, 3 * c, c), dout = x.act(n, 3 * c);
            Tensor din = x.poisoned(x.act, n, c), dw = x.grad(3 * c, c), db = x.grad(3 * c);
            x.be.matmulBackward(din, dw, db, dout, in, w);
            x.result("din", din);
            x.result("dweight", dw);
            x.result("dbias", db);
        });
        compare("globalNorm" + grads, f32, x -> {
            Tensor g = x.grad(5000), out = x.poisoned(DType.F32, 1);
            x.be.globalNorm(out, g);
            x.result("norm", out);
        });
        compare("adamW" + grads, f32, x -> {
            int len = 3000;
            Tensor master = x.f32(len), params = x.be.alloc(x.act, len);
            x.be.copy(params, master);
            Tensor g = x.grad(len), m = x.f32(len), vv = x.be.alloc(DType.F32, len), norm = x.be.alloc(DType.F32, 1);
            x.be.fill(vv, 0.01f);
            x.be.globalNorm(norm, g);
            boolean bf16 = x.act == DType.BF16;
            x.be.adamW(params, g, m, vv, bf16 ? master : null, norm, new AdamW(1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 3, 1.0f));
            x.result("params", params);
            x.result("fp32 weights", bf16 ? master : params);
            x.result("m", m);
            x.result("v", vv);
        });
    }

    private void compare(String op, Consumer<Case> body) { compare(op, false, body); }

    /**
     * Runs one case on both backends and records each output's relative error. Parameter gradients are of the
     * compute type, or F32 when {@code f32Grads} (the CUDA backend accepts both).
     */
    private void compare(String op, boolean f32Grads, Consumer<Case> body) {
        Case ref = new Case(reference, seed + op.hashCode(), f32Grads);
        body.accept(ref);
        Case cand = new Case(candidate, seed + op.hashCode(), f32Grads);
        body.accept(cand);
        for (var e : cand.outputs.entrySet()) {
            float[] r = ref.outputs.get(e.getKey()), o = e.getValue();
            double diff = 0, norm = 0;
            boolean nan = false;
            for (int i = 0; i < o.length; i++) {
                if (Float.isNaN(o[i]) || Float.isInfinite(o[i])) nan = true;
                double d = (double) o[i] - r[i];
                diff += d * d;
                norm += (double) r[i] * r[i];
            }
            double rel = norm == 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
            results.add(new Result(op, e.getKey(), nan ? Double.NaN : rel, cand.bounds.get(e.getKey()), nan));
        }
    }

    /** One backend's run of a case: tensors from a seeded generator, so both backends see the same values. */
    private static final class Case {
        final Backend be;
        final DType act;
        final Random rnd;
        final Map<String, float[]> outputs = new LinkedHashMap<>();
        final Map<String, Double> bounds = new LinkedHashMap<>();

        final DType gradType;

        Case(Backend be, long seed, boolean f32Grads) {
            this.be = be;
            this.act = be.computeType();
            this.gradType = f32Grads ? DType.F32 : act;
            this.rnd = new Random(seed);
        }

        private float[] random(float scale, long n) {
            float[] a = new float[(int) n];
            for (int i = 0; i < a.length; i++) a[i] = Bf16.toFloat(Bf16.round((float) rnd.nextGaussian() * scale));
            return a;
        }

        private Tensor upload(DType type, float scale, int... shape) {
            Tensor t = be.alloc(type, shape);
            be.upload(t, random(scale, t.size()));
            return t;
        }

        /** An activation or weight tensor of the compute type, N(0, 1) values representable in bf16. */
        Tensor act(int... shape) { return upload(act, 1f, shape); }

        Tensor act(float scale, int... shape) { return upload(act, scale, shape); }

        Tensor f32(int... shape) { return upload(DType.F32, 1f, shape); }

        /** A parameter gradient, starting from random values (backward ops accumulate into it). */
        Tensor grad(int... shape) { return upload(gradType, 1f, shape); }

        Tensor ints(int bound, int... shape) {
            Tensor t = be.alloc(DType.I32, shape);
            int[] a = new int[(int) t.size()];
            for (int i = 0; i < a.length; i++) a[i] = rnd.nextInt(bound);
            be.upload(t, a);
            return t;
        }

        Tensor ints(int[] values, int... shape) {
            Tensor t = be.alloc(DType.I32, shape);
            be.upload(t, values);
            return t;
        }

        /** Segments [S,2] of (first, count) pairs. */
        Tensor segments(int[][] runs) {
            int[] flat = new int[2 * runs.length];
            for (int i = 0; i < runs.length; i++) {
                flat[2 * i] = runs[i][0];
                flat[2 * i + 1] = runs[i][1];
            }
            return ints(flat, runs.length, 2);
        }

        /** An int8 weight quantized from N(0, scale²) values (bit for bit the same blocks on both backends). */
        Tensor q8(float scale, int... shape) { return upload(DType.Q8_0, scale, shape); }

        /** An output the op must overwrite entirely: NaN until then. */
        Tensor poisoned(DType type, int... shape) {
            Tensor t = be.alloc(type, shape);
            be.fill(t, Float.NaN);
            return t;
        }

        void result(String name, Tensor t) {
            float[] a = new float[(int) t.size()];
            be.download(t, a);
            outputs.put(name, a);
            bounds.put(name, t.dtype() == DType.F32 ? F32_BOUND : BF16_BOUND);
        }

        /** An output that must match exactly: a Q8_0 tensor's blocks byte for byte, or values bit for bit. */
        void exact(String name, Tensor t) { exact(name, t, t.dtype() == DType.Q8_0); }

        /** As {@link #exact(String, Tensor)}; {@code blocks} false compares a Q8_0 tensor's values (d·q) instead. */
        void exact(String name, Tensor t, boolean blocks) {
            float[] a;
            if (blocks) {
                byte[] raw = new byte[(int) t.bytes()];
                be.download(t, raw);
                a = new float[raw.length];
                for (int i = 0; i < raw.length; i++) a[i] = raw[i] & 0xff;
            } else {
                a = new float[(int) t.size()];
                be.download(t, a);
            }
            outputs.put(name, a);
            bounds.put(name, 0.0);
        }
    }
}
