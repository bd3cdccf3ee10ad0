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
            Arrays.sort(order);
            int[] k = new int[keep];
            for (int i = 0; i < keep; i++) k[i] = h - 1 - (int) order[h - 1 - i];
            Arrays.sort(k);
            kept[l] = k;
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
            float[] proj = w.get(p + "mlp.proj.weight"), out = new float[c * keep];
            for (int i = 0; i < c; i++) for (int j = 0; j < keep; j++) out[i * keep + j] = proj[i * h + k[j]];
            m.put(p + "mlp.proj.weight", out);
        }
        return new Weights(smaller, m);
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
