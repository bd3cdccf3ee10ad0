package dev.cramjet.quant;

import dev.cramjet.CramjetException;
import dev.cramjet.nn.GPTConfig;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Magnitude pruning of a GPT's linear layers (the attention and MLP matrices of every block; embeddings, the output
 * head, norms and biases are kept — they are a small share of the work and the most sensitive).
 *
 * <ul>
 * <li><b>Unstructured</b>: in each matrix, the given fraction of weights with the smallest |w| become zero. The
 *     shapes stay, so the model file and its speed on dense kernels stay too; what it buys is compressibility and
 *     a mask a sparse kernel could use. Each matrix is pruned to the same sparsity (not one global threshold), so
 *     no layer is emptied.</li>
 * <li><b>Structured, MLP neurons</b>: in every block the same number of hidden neurons is removed — those with the
 *     least importance ‖w_in‖·‖w_out‖ (for a gated unit ‖gate‖·‖up‖·‖down‖), the norms of the rows that make the
 *     neuron and of the column that reads it — and the matrices shrink: fc loses rows, proj loses columns, and
 *     the configuration's mlp_hidden becomes the count kept. The same count per block because a GPT has one MLP
 *     width: GPTConfig, Hugging Face's GPT-2 (n_inner) and Llama (intermediate_size) configs and their loaders
 *     all have a single width, so per-block widths would make models no other tool loads. The count kept is a
 *     multiple of 32 when the width allows, so the pruned model still quantizes to whole Q8_0 blocks and tiles the
 *     matmul evenly. Removing a neuron is exactly zeroing it: the pruned model computes what the original does
 *     with those neurons masked.</li>
 * <li><b>Structured, attention heads</b>: in every block the same number of heads is removed — each block its own
 *     least important ones — and the heads keep their size: qkv loses the q, k and v rows of the removed heads,
 *     the output projection their columns, and the configuration says n_head = the count kept with head_dim
 *     unchanged (the attention width n_head·head_dim is then below n_embd). Importance is the norm of what a
 *     head can add to the residual stream, ‖W_v,h‖·‖W_o,h‖ (its value rows, with their bias, and its output
 *     columns): attention weights are a softmax, so a head's output is a convex combination of its value vectors
 *     passed through its output columns, bounded by exactly these norms times the (normed) input; its q and k
 *     only decide where it looks, not how much it can write, so their norms are left out. This is the weight
 *     magnitude score the neurons use, needs no data, and is the same criterion for every layer; a loss-based
 *     score (Michel et al.'s head-mask gradients) needs held-out batches and a backward pass per score, and is
 *     left out for that. The same count per block keeps one shape for the config, as for neurons. Removing a head
 *     is exactly zeroing it: the pruned model computes what the original does with those heads masked.</li>
 * </ul>
 */
public final class Pruning {
    private Pruning() {}

    private static final String[] LINEAR = {"attn.qkv", "attn.proj", "mlp.fc", "mlp.proj"};

    /** Masks of kept weights per pruned matrix (true: kept), for a recovery fine-tune that keeps zeros at zero. */
    public record Masks(Map<String, boolean[]> kept) {}

    /** Zeroes the smallest-magnitude {@code sparsity} of each block's linear weight matrix, in place. */
    public static Masks unstructured(Weights w, double sparsity) {
        checkSparsity(sparsity);
        Map<String, boolean[]> masks = new LinkedHashMap<>();
        for (int l = 0; l < w.config().nLayer(); l++) {
            for (String layer : LINEAR) {
                String name = "h." + l + "." + layer + ".weight";
                float[] x = w.get(name);
                int prune = (int) Math.round(sparsity * x.length);
                // Sort (|w|, index) pairs: the bits of a non-negative float order as it does, and ties go by index.
                long[] order = new long[x.length];
                for (int i = 0; i < x.length; i++) order[i] = (long) Float.floatToIntBits(Math.abs(x[i])) << 32 | i;
                Arrays.sort(order);
                boolean[] kept = new boolean[x.length];
                Arrays.fill(kept, true);
                for (int k = 0; k < prune; k++) {
                    int i = (int) order[k];
                    x[i] = 0f;
                    kept[i] = false;
                }
                masks.put(name, kept);
            }
        }
        return new Masks(masks);
    }

    /** The hidden width kept when pruning {@code sparsity} of {@code hidden} neurons: a multiple of 32 when possible. */
    public static int keptWidth(int hidden, double sparsity) {
        checkSparsity(sparsity);
        int keep = (int) Math.round(hidden * (1 - sparsity));
        if (hidden >= 64) keep = Math.max(32, Math.round(keep / 32f) * 32);
        return Math.max(1, Math.min(hidden, keep));
    }

    /** The neurons each block keeps (ascending), the {@code keep} most important of its MLP. */
    public static int[][] keptNeurons(Weights w, int keep) {
        GPTConfig cfg = w.config();
        int c = cfg.nEmbd(), h = cfg.mlpHidden();
        boolean gated = cfg.mlp() != GPTConfig.Mlp.GELU;
        int[][] kept = new int[cfg.nLayer()][];
        for (int l = 0; l < cfg.nLayer(); l++) {
            String p = "h." + l + ".";
            float[] fc = w.get(p + "mlp.fc.weight"), proj = w.get(p + "mlp.proj.weight");
            float[] fcBias = cfg.bias() ? w.get(p + "mlp.fc.bias") : null;
            long[] order = new long[h];
            for (int j = 0; j < h; j++) {
                double in = rowNorm(fc, j, c, fcBias), out = 0;
                if (gated) in *= rowNorm(fc, h + j, c, fcBias);
                for (int i = 0; i < c; i++) out += (double) proj[i * h + j] * proj[i * h + j];
                float score = (float) (in * Math.sqrt(out));
                // Most important first: sort by descending score, ties by index.
                order[j] = (long) Float.floatToIntBits(score) << 32 | (h - 1 - j);
            }
            kept[l] = topAscending(order, h, keep);
        }
        return kept;
    }

    private static double rowNorm(float[] m, int row, int cols, float[] bias) {
        double s = bias == null ? 0 : (double) bias[row] * bias[row];
        for (int i = 0; i < cols; i++) s += (double) m[row * cols + i] * m[row * cols + i];
        return Math.sqrt(s);
    }

    /** A smaller model keeping, in each block, the neurons {@code kept[l]} (each block the same count). */
    public static Weights neurons(Weights w, int[][] kept) {
        GPTConfig cfg = w.config();
        int c = cfg.nEmbd(), h = cfg.mlpHidden(), keep = kept[0].length;
        boolean gated = cfg.mlp() != GPTConfig.Mlp.GELU;
        GPTConfig smaller = cfg.with(Map.of("mlp_hidden", (long) keep), "pruned config");
        Map<String, float[]> m = new LinkedHashMap<>(w.values());
        for (int l = 0; l < cfg.nLayer(); l++) {
            String p = "h." + l + ".";
            int[] k = kept[l];
            if (k.length != keep) throw new IllegalArgumentException("every block keeps the same number of neurons");
            int[] rows = gated ? new int[2 * keep] : k;
            if (gated) {
                for (int i = 0; i < keep; i++) {
                    rows[i] = k[i];
                    rows[keep + i] = h + k[i];
                }
            }
            m.put(p + "mlp.fc.weight", takeRows(w.get(p + "mlp.fc.weight"), c, rows));
            if (cfg.bias()) m.put(p + "mlp.fc.bias", takeRows(w.get(p + "mlp.fc.bias"), 1, rows));
            m.put(p + "mlp.proj.weight", takeColumns(w.get(p + "mlp.proj.weight"), c, h, k));
        }
        return new Weights(smaller, m);
    }

    /** The heads kept when pruning {@code sparsity} of {@code heads}: the nearest count, at least one. */
    public static int keptHeadCount(int heads, double sparsity) {
        checkSparsity(sparsity);
        return Math.max(1, Math.min(heads, (int) Math.round(heads * (1 - sparsity))));
    }

    /** The heads each block keeps (ascending), its {@code keep} most important by ‖W_v,h‖·‖W_o,h‖. */
    public static int[][] keptHeads(Weights w, int keep) {
        GPTConfig cfg = w.config();
        int c = cfg.nEmbd(), heads = cfg.nHead(), hs = cfg.headSize(), a = cfg.attnWidth();
        int[][] kept = new int[cfg.nLayer()][];
        for (int l = 0; l < cfg.nLayer(); l++) {
            String p = "h." + l + ".";
            float[] qkv = w.get(p + "attn.qkv.weight"), proj = w.get(p + "attn.proj.weight");
            float[] qkvBias = cfg.bias() ? w.get(p + "attn.qkv.bias") : null;
            long[] order = new long[heads];
            for (int h = 0; h < heads; h++) {
                double v = 0, o = 0;
                for (int r = 2 * a + h * hs; r < 2 * a + (h + 1) * hs; r++) v += Math.pow(rowNorm(qkv, r, c, qkvBias), 2);
                for (int i = 0; i < c; i++) for (int j = h * hs; j < (h + 1) * hs; j++) o += (double) proj[i * a + j] * proj[i * a + j];
                float score = (float) Math.sqrt(v * o);
                order[h] = (long) Float.floatToIntBits(score) << 32 | (heads - 1 - h);   // descending score, ties by index
            }
            kept[l] = topAscending(order, heads, keep);
        }
        return kept;
    }

    /** The {@code keep} highest of (score, n − 1 − index) keys, as ascending indices. */
    private static int[] topAscending(long[] order, int n, int keep) {
        Arrays.sort(order);
        int[] k = new int[keep];
        for (int i = 0; i < keep; i++) k[i] = n - 1 - (int) order[n - 1 - i];
        Arrays.sort(k);
        return k;
    }

    /** A smaller model keeping, in each block, the heads {@code kept[l]} (each block the same count), each its size. */
    public static Weights heads(Weights w, int[][] kept) {
        GPTConfig cfg = w.config();
        int c = cfg.nEmbd(), hs = cfg.headSize(), a = cfg.attnWidth(), keep = kept[0].length, ka = keep * hs;
        GPTConfig smaller = cfg.with(Map.of("n_head", (long) keep, "head_dim", (long) hs), "pruned config");
        Map<String, float[]> m = new LinkedHashMap<>(w.values());
        for (int l = 0; l < cfg.nLayer(); l++) {
            String p = "h." + l + ".";
            int[] k = kept[l];
            if (k.length != keep) throw new IllegalArgumentException("every block keeps the same number of heads");
            int[] rows = new int[3 * ka], cols = new int[ka];   // q, k, v rows of the kept heads; their output columns
            for (int third = 0; third < 3; third++) {
                for (int i = 0; i < keep; i++) {
                    for (int d = 0; d < hs; d++) rows[third * ka + i * hs + d] = third * a + k[i] * hs + d;
                }
            }
            System.arraycopy(rows, 0, cols, 0, ka);
            m.put(p + "attn.qkv.weight", takeRows(w.get(p + "attn.qkv.weight"), c, rows));
            if (cfg.bias()) m.put(p + "attn.qkv.bias", takeRows(w.get(p + "attn.qkv.bias"), 1, rows));
            m.put(p + "attn.proj.weight", takeColumns(w.get(p + "attn.proj.weight"), c, a, cols));
        }
        return new Weights(smaller, m);
    }

    private static float[] takeColumns(float[] m, int rows, int width, int[] cols) {
        float[] out = new float[rows * cols.length];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols.length; j++) out[i * cols.length + j] = m[i * width + cols[j]];
        return out;
    }

    private static float[] takeRows(float[] m, int cols, int[] rows) {
        float[] out = new float[rows.length * cols];
        for (int r = 0; r < rows.length; r++) System.arraycopy(m, rows[r] * cols, out, r * cols, cols);
        return out;
    }

    private static void checkSparsity(double s) {
        if (!(s >= 0 && s < 1)) throw new CramjetException("sparsity must be in [0, 1), got " + s);
    }
}
