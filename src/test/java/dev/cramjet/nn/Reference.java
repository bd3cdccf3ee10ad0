package dev.cramjet.nn;

import java.util.Map;

/**
 * A straightforward double-precision GPT forward pass over Hugging Face-layout tensors, written independently of
 * {@link GPT} and the backend: GPT-2 names with Conv1D (in, out) weights when {@code gpt2} is set, Llama names
 * with (out, in) weights and separate q/k/v and gate/up otherwise. Returns logits [T][V] for one sequence.
 */
public final class Reference {
    private final GPTConfig cfg;
    private final Map<String, float[]> w;
    private final boolean gpt2;

    public Reference(GPTConfig cfg, Map<String, float[]> weights, boolean gpt2) {
        this.cfg = cfg;
        this.w = weights;
        this.gpt2 = gpt2;
    }

    private float[] t(String name) {
        float[] x = w.get(name);
        if (x == null) throw new IllegalArgumentException("reference: no tensor " + name);
        return x;
    }

    private float[] opt(String name) { return w.get(name); }

    public double[][] logits(int[] tokens) {
        int n = tokens.length, c = cfg.nEmbd(), v = cfg.vocabSize();
        String emb = gpt2 ? "wte.weight" : "model.embed_tokens.weight";
        String pos = gpt2 ? "wpe.weight" : "model.embed_positions.weight";
        double[][] x = new double[n][c];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < c; j++) {
                x[i][j] = t(emb)[tokens[i] * c + j];
                if (cfg.positions() == GPTConfig.Positions.LEARNED) x[i][j] += t(pos)[i * c + j];
            }
        }
        for (int l = 0; l < cfg.nLayer(); l++) {
            String p = gpt2 ? "h." + l + "." : "model.layers." + l + ".";
            double[][] a = norm(x, p + (gpt2 ? "ln_1" : "input_layernorm"));
            double[][] q, k, vv;
            if (gpt2) {
                double[][] qkv = conv1d(a, p + "attn.c_attn", 3 * c);
                q = cols(qkv, 0, c);
                k = cols(qkv, c, c);
                vv = cols(qkv, 2 * c, c);
            } else {
                q = linear(a, p + "self_attn.q_proj", c);
                k = linear(a, p + "self_attn.k_proj", c);
                vv = linear(a, p + "self_attn.v_proj", c);
            }
            if (cfg.positions() == GPTConfig.Positions.ROPE) {
                rope(q);
                rope(k);
            }
            double[][] y = attention(q, k, vv);
            double[][] o = gpt2 ? conv1d(y, p + "attn.c_proj", c) : linear(y, p + "self_attn.o_proj", c);
            add(x, o);
            double[][] b = norm(x, p + (gpt2 ? "ln_2" : "post_attention_layernorm"));
            int h = cfg.mlpHidden();
            double[][] hid;
            if (gpt2) {
                hid = conv1d(b, p + "mlp.c_fc", h);
                for (double[] r : hid) for (int j = 0; j < h; j++) r[j] = gelu(r[j]);
            } else if (cfg.mlp() == GPTConfig.Mlp.SWIGLU) {
                double[][] g = linear(b, p + "mlp.gate_proj", h), u = linear(b, p + "mlp.up_proj", h);
                hid = new double[n][h];
                for (int i = 0; i < n; i++) for (int j = 0; j < h; j++) hid[i][j] = g[i][j] / (1 + Math.exp(-g[i][j])) * u[i][j];
            } else {
                hid = linear(b, p + "mlp.up_proj", h);
                for (double[] r : hid) for (int j = 0; j < h; j++) r[j] = gelu(r[j]);
            }
            add(x, gpt2 ? conv1d(hid, p + "mlp.c_proj", c) : linear(hid, p + "mlp.down_proj", c));
        }
        double[][] f = norm(x, gpt2 ? "ln_f" : "model.norm");
        float[] head = cfg.tiedEmbeddings() ? t(emb) : t("lm_head.weight");
        double[][] out = new double[n][v];
        for (int i = 0; i < n; i++) {
            for (int o = 0; o < v; o++) {
                double s = 0;
                for (int j = 0; j < c; j++) s += f[i][j] * head[o * c + j];
                out[i][o] = s;
            }
        }
        return out;
    }

    private double[][] norm(double[][] x, String name) {
        int c = cfg.nEmbd();
        float[] g = t(name + ".weight"), b = opt(name + ".bias");
        double[][] out = new double[x.length][c];
        for (int i = 0; i < x.length; i++) {
            double mean = 0, sq = 0;
            if (cfg.norm() == GPTConfig.Norm.LAYER) {
                for (double e : x[i]) mean += e / c;
            }
            for (double e : x[i]) sq += (e - mean) * (e - mean) / c;
            double r = 1 / Math.sqrt(sq + cfg.normEps());
            for (int j = 0; j < c; j++) out[i][j] = (x[i][j] - mean) * r * g[j] + (b == null ? 0 : b[j]);
        }
        return out;
    }

    /** HF Conv1D: y = x·W + b with W stored (in, out). */
    private double[][] conv1d(double[][] x, String name, int out) { return affine(x, name, out, false); }

    /** nn.Linear: y = x·Wᵀ + b with W stored (out, in). */
    private double[][] linear(double[][] x, String name, int out) { return affine(x, name, out, true); }

    /** y = x·W + b, W read as (out, in) when {@code outMajor}, else as (in, out). */
    private double[][] affine(double[][] x, String name, int out, boolean outMajor) {
        float[] wt = t(name + ".weight"), b = opt(name + ".bias");
        int in = x[0].length;
        double[][] y = new double[x.length][out];
        for (int i = 0; i < x.length; i++) {
            for (int o = 0; o < out; o++) {
                double s = b == null ? 0 : b[o];
                for (int j = 0; j < in; j++) s += x[i][j] * wt[outMajor ? o * in + j : j * out + o];
                y[i][o] = s;
            }
        }
        return y;
    }

    private static double[][] cols(double[][] x, int from, int n) {
        double[][] y = new double[x.length][];
        for (int i = 0; i < x.length; i++) y[i] = java.util.Arrays.copyOfRange(x[i], from, from + n);
        return y;
    }

    private static void add(double[][] x, double[][] y) {
        for (int i = 0; i < x.length; i++) for (int j = 0; j < x[i].length; j++) x[i][j] += y[i][j];
    }

    private static double gelu(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    /** Rotate-half RoPE per head, position = row index. */
    private void rope(double[][] x) {
        int hs = cfg.headSize(), half = hs / 2;
        for (int t = 0; t < x.length; t++) {
            for (int h = 0; h < cfg.nHead(); h++) {
                for (int i = 0; i < half; i++) {
                    double ang = t * Math.pow(cfg.ropeTheta(), -2.0 * i / hs);
                    double a = x[t][h * hs + i], b = x[t][h * hs + i + half];
                    x[t][h * hs + i] = a * Math.cos(ang) - b * Math.sin(ang);
                    x[t][h * hs + i + half] = a * Math.sin(ang) + b * Math.cos(ang);
                }
            }
        }
    }

    private double[][] attention(double[][] q, double[][] k, double[][] v) {
        int n = q.length, hs = cfg.headSize();
        double[][] y = new double[n][cfg.nEmbd()];
        for (int h = 0; h < cfg.nHead(); h++) {
            for (int i = 0; i < n; i++) {
                double[] s = new double[i + 1];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j <= i; j++) {
                    double d = 0;
                    for (int e = 0; e < hs; e++) d += q[i][h * hs + e] * k[j][h * hs + e];
                    s[j] = d / Math.sqrt(hs);
                    max = Math.max(max, s[j]);
                }
                double z = 0;
                for (int j = 0; j <= i; j++) z += s[j] = Math.exp(s[j] - max);
                for (int j = 0; j <= i; j++) for (int e = 0; e < hs; e++) y[i][h * hs + e] += s[j] / z * v[j][h * hs + e];
            }
        }
        return y;
    }
}
