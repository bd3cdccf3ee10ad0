package dev.cramjet.train;

import dev.cramjet.CramjetException;

import java.util.Locale;

/**
 * Proposes a model size and token count for a compute budget, near compute-optimal (Hoffmann et al. 2022,
 * "Chinchilla": about 20 training tokens per parameter). Compute is C = FLOP/s × seconds, with the FLOP/s the
 * device actually sustained in a short training benchmark; a model of N parameters trains on D = C / (FLOPs per
 * token) tokens, FLOPs per token = 6·N + 12·L·C·T.
 *
 * <p>Shapes come from the GPT-2 family: head size 64, width 64·k, k layers and k heads (k = 2..48: 4×256 "tiny",
 * 6×384 "small", 12×768 is GPT-2 124M). The plan takes the k whose tokens per parameter come closest to 20.
 * When that needs more than {@code maxEpochs} passes over the data, the data is scarce: repeating data up to about
 * 4 epochs is nearly as good as fresh data (Muennighoff et al. 2023), beyond that returns fall fast, so the plan
 * takes a larger model and fewer tokens (fewer tokens per parameter) to stay within maxEpochs, and says so.
 */
public final class Planner {
    private Planner() {}

    public static final double TOKENS_PER_PARAMETER = 20;
    public static final double MAX_EPOCHS = 4;

    /** A proposed run. {@code parameters} counts the embedding, not the position table (as the FLOPs formula). */
    public record Plan(int layers, int heads, int width, int context, long parameters, double flopsPerToken,
                       long tokens, double epochs, double tokensPerParameter, boolean dataLimited, double lr) {
        public String describe() {
            return String.format(Locale.ROOT, "%d layers × width %d (%d heads), %.2fM parameters, %s tokens = %.1f tokens per parameter, %.2f epochs%s",
                    layers, width, heads, parameters / 1e6, human(tokens), tokensPerParameter, epochs,
                    dataLimited ? " (data-limited: capped at " + (int) MAX_EPOCHS + " epochs)"
                            : tokensPerParameter < TOKENS_PER_PARAMETER / 2 ? " (the budget is small even for the smallest shape: expect an undertrained model)" : "");
        }
    }

    /** Parameters of the k-th shape with vocabulary {@code vocab} (tied embeddings, biases and norms included). */
    static long parameters(int k, int vocab) {
        long d = 64L * k;
        long perLayer = 12 * d * d + 13 * d; // qkv, proj, fc, proj2 weights and biases, two LayerNorms
        return k * perLayer + (long) vocab * d + 2 * d;
    }

    static double flopsPerToken(int k, int vocab, int context) {
        return 6.0 * parameters(k, vocab) + 12.0 * k * (64.0 * k) * context;
    }

    /**
     * @param flopsPerSecond sustained training FLOP/s measured on this device
     * @param seconds        the wall-clock budget
     * @param dataTokens     training tokens available
     */
    public static Plan plan(double flopsPerSecond, double seconds, long dataTokens, int vocab, int context) {
        if (!(flopsPerSecond > 0) || !(seconds > 0)) throw new CramjetException("plan: need a positive throughput and budget");
        if (dataTokens <= 0) throw new CramjetException("plan: the data directory holds no training tokens");
        double compute = flopsPerSecond * seconds;
        int best = 2;
        double bestDistance = Double.POSITIVE_INFINITY;
        for (int k = 2; k <= 48; k++) {
            double d = compute / flopsPerToken(k, vocab, context);
            double distance = Math.abs(Math.log(d / parameters(k, vocab) / TOKENS_PER_PARAMETER));
            if (distance < bestDistance) { bestDistance = distance; best = k; }
        }
        boolean limited = false;
        while (compute / flopsPerToken(best, vocab, context) > MAX_EPOCHS * dataTokens && best < 48) {
            best++;
            limited = true;
        }
        long n = parameters(best, vocab);
        double fpt = flopsPerToken(best, vocab, context);
        long tokens = (long) (compute / fpt);
        // Learning rates that work across this family: GPT-2 124M trains at 6e-4; smaller widths tolerate more.
        double lr = Math.min(3e-3, 6e-4 * 768.0 / (64.0 * best));
        return new Plan(best, best, 64 * best, context, n, fpt, tokens, (double) tokens / dataTokens, (double) tokens / n, limited, lr);
    }

    static String human(double n) {
        if (n >= 1e9) return String.format(Locale.ROOT, "%.2fB", n / 1e9);
        if (n >= 1e6) return String.format(Locale.ROOT, "%.1fM", n / 1e6);
        if (n >= 1e3) return String.format(Locale.ROOT, "%.1fK", n / 1e3);
        return Long.toString((long) n);
    }
}
